"""``Idempotency-Key`` on a tenant's writes, as Stripe does them.

The first successful response to a keyed write is stored, per tenant and key, in the write's
own transaction: either both commit or neither does, so a client that lost the answer (a
dropped connection, a timeout) retries with the same key and gets the same answer without
the write running again (``Idempotent-Replayed: true``). The same key with another request
(method, path and query, or canonical body differ) is a 422; a duplicate arriving while the
first is still running is a 409 (with ``Retry-After``).

Only 2xx answers are stored. A 4xx leaves nothing behind (the transaction rolled back, and a
retry with a corrected body may use the same key); a fault (5xx, 503) must stay retryable.

Requests without the header never reach this module: they pay no statement and no hashing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.responses import Response
from starlette.types import Scope

from reach import clock
from reach.errors import BadRequest, Conflict, UnprocessableContent
from reach.storage import idempotency as store
from reach.storage.database import Connection

if TYPE_CHECKING:
    from reach.web.endpoint import Call

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255

_LENGTH = b"content-length"


class KeyInUse(Conflict):
    """Another request with the same key is still running (or just committed first)."""

    default_message = (
        "A request with this Idempotency-Key is still being processed; retry once it completes"
    )

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


def check_key(raw: str) -> str:
    """1 to 255 printable ASCII characters, else 400."""
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not all(" " <= c <= "~" for c in raw):
        raise BadRequest(
            "Invalid Idempotency-Key header",
            errors=[f"{HEADER}: must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"],
        )
    return raw


def request_hash(scope: Scope, body: Any) -> str:
    """What makes two requests "the same": method, path, query string and the body as
    canonical JSON (keys sorted, so key order and whitespace do not count)."""
    digest = hashlib.sha256()
    digest.update(scope["method"].encode())
    digest.update(b" ")
    digest.update(scope["path"].encode())
    digest.update(b"?")
    digest.update(scope["query_string"])
    digest.update(b"\n")
    if body is not None:
        digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()


_last_expiry: tuple[int, str] = (-1, "")


def _expiry(retention: int) -> str:
    """Now + ``retention`` seconds, RFC 3339 like :func:`reach.clock.now` (whose strftime per
    second is the costly part, so it is cached here the same way)."""
    global _last_expiry
    moment = time.time() + retention
    second = int(moment)
    cached, text = _last_expiry
    if second != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_expiry = (second, text)
    return f"{text}.{int((moment - second) * 1000):03d}Z"


def _stored(response: Response, digest: str) -> store.Stored:
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in response.raw_headers
        if name != _LENGTH
    ]
    return store.Stored(
        digest, response.status_code, orjson.dumps(headers).decode(), bytes(response.body).decode()
    )


def _replay(found: store.Stored) -> Response:
    body = found.body.encode()
    response = Response(body, status_code=found.status)
    response.raw_headers = [
        *(
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in orjson.loads(found.headers)
        ),
        (_LENGTH, str(len(body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    return response


async def serve(
    call: Call,
    raw_key: str,
    handle: Callable[[Connection], Awaitable[Response]],
) -> Response:
    """Run a keyed write: replay its stored answer, or run it and store the answer with it."""
    key = check_key(raw_key)
    services = call.services
    tenant_id = call.tenant.id
    digest = request_hash(call.scope, call.body)
    # The in-flight marker within this process, taken before waiting for a connection: on
    # SQLite a duplicate would otherwise queue behind the first and replay it, and on
    # PostgreSQL it saves a round trip. Across processes the look-up's lock decides.
    slot = (tenant_id, key)
    running = services.idempotency_running
    if slot in running:
        raise KeyInUse
    running.add(slot)
    try:
        async with services.db.transaction(write=True) as conn:
            now = clock.now()
            found = await store.find(conn, tenant_id, key, now)
            if found.stored is not None:
                if found.stored.request_hash != digest:
                    raise UnprocessableContent(
                        "Idempotency-Key reused for a different request",
                        errors=[
                            f"{HEADER}: already used for another method, path or body; "
                            "use a new key for a new request"
                        ],
                    )
                return _replay(found.stored)
            if not found.free:
                raise KeyInUse
            response = await handle(conn)
            if 200 <= response.status_code < 300:
                saved = await store.save(
                    conn,
                    tenant_id,
                    key,
                    _stored(response, digest),
                    now=now,
                    expires_at=_expiry(services.settings.idempotency_retention_seconds),
                )
                if not saved:
                    raise KeyInUse  # a duplicate committed first: roll this one back
            return response
    finally:
        running.discard(slot)
