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

On PostgreSQL a keyed PATCH stores its answer in the statement that makes its write
(:class:`InlineKey`): the handler renders the answer from the merged record before the write,
and the write lands only together with it, so the keyed PATCH is one round trip like an
unkeyed one instead of a transaction of five. On SQLite, whose writers are serialised, a keyed
PATCH is not looked up first either: its answer is stored right after its write, and a key
that already holds one rolls the write back (:func:`_serve_write_first`). Everything else is
looked up first and stored after the handler, in the request's transaction.
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
from reach.errors import BadRequest, Conflict, ReachError, UnprocessableContent
from reach.storage import idempotency as store
from reach.storage.database import Connection

if TYPE_CHECKING:
    from reach.domain.resources import Record
    from reach.services import Services
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
    # Printable ASCII is exactly " " to "~" (a C-level check; a loop over the characters
    # cost a keyed request ~5 µs).
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or not (raw.isascii() and raw.isprintable()):
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


def _replay(found: store.Stored, digest: str) -> Response:
    if found.request_hash != digest:
        raise UnprocessableContent(
            "Idempotency-Key reused for a different request",
            errors=[
                f"{HEADER}: already used for another method, path or body; "
                "use a new key for a new request"
            ],
        )
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


class InlineKey:
    """A keyed write whose own write statement stores its answer (PostgreSQL PATCH,
    ``route(..., key_in_write=True)``). The handler gives the domain :meth:`bind`'s callable,
    which renders the answer for the merged record before the write, and answers with
    :meth:`response_for`."""

    __slots__ = (
        "digest",
        "expires_at",
        "key",
        "now",
        "record",
        "response",
        "stored",
        "tenant_id",
    )

    def __init__(self, tenant_id: str, key: str, digest: str, now: str, expires_at: str) -> None:
        self.tenant_id = tenant_id
        self.key = key
        self.digest = digest
        self.now = now
        self.expires_at = expires_at
        self.record: Record | None = None  # the last record an answer was rendered for
        self.response: Response | None = None
        self.stored = False  # the handler answered with the answer its write stored

    def bind(self, render: Callable[[Record], Response]) -> Callable[[Record], store.KeyRow]:
        """What the domain calls with the merged record, right before its write: the answer
        ``render`` gives for it, as the key's row."""

        def row(record: Record) -> store.KeyRow:
            response = render(record)
            self.record, self.response = record, response
            stored = _stored(response, self.digest)
            return store.key_row(self.tenant_id, self.key, stored, self.now, self.expires_at)

        return row

    def response_for(self, record: Record, render: Callable[[Record], Response]) -> Response:
        """The answer for ``record``: the one its write stored, or (no write stored one: the
        record did not change) rendered now, stored after the handler."""
        if record is self.record and self.response is not None:
            self.stored = True
            return self.response
        return render(record)


async def serve(
    call: Call,
    raw_key: str,
    handle: Callable[[Connection], Awaitable[Response]],
    *,
    inline: bool = False,
) -> Response:
    """Run a keyed write: replay its stored answer, or run it and store the answer with it.
    ``inline``: the handler's write may store the answer itself (:class:`InlineKey`)."""
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
        if inline:
            if services.db.dialect == "postgresql":
                return await _serve_inline(call, key, digest, handle)
            return await _serve_write_first(call, key, digest, handle)
        async with services.db.transaction(write=True) as conn:
            now = clock.now()
            found = await store.find(conn, tenant_id, key, now)
            if found.stored is not None:
                return _replay(found.stored, digest)
            if not found.free:
                raise KeyInUse
            response = await handle(conn)
            await _save(conn, services, tenant_id, key, digest, response, now)
            return response
    finally:
        running.discard(slot)


async def _save(
    conn: Connection,
    services: Services,
    tenant_id: str,
    key: str,
    digest: str,
    response: Response,
    now: str,
) -> None:
    """Store a 2xx answer after the handler, in its transaction (after :func:`store.find`)."""
    stored = 200 <= response.status_code < 300
    if stored and not await _store(conn, services, tenant_id, key, digest, response, now):
        raise KeyInUse  # a duplicate committed first: roll this one back


async def _store(
    conn: Connection,
    services: Services,
    tenant_id: str,
    key: str,
    digest: str,
    response: Response,
    now: str,
) -> bool:
    """Insert the answer in the request's transaction; False if a live one holds the key."""
    retention = services.settings.idempotency_retention_seconds
    stored = _stored(response, digest)
    return await store.save(conn, tenant_id, key, stored, now=now, expires_at=_expiry(retention))


async def _serve_inline(
    call: Call, key: str, digest: str, handle: Callable[[Connection], Awaitable[Response]]
) -> Response:
    """No look-up first: the write's statement checks the key, takes its lock and stores the
    answer (reach.storage.idempotency.keyed_update). Whatever ends without that write looks
    the key up before it answers, as a keyed request always does: a 2xx that wrote nothing
    (an unchanged record) stores its answer the classic way; a refusal replays the key's
    answer if it has one (a retry must not be judged again against the record it changed)."""
    services = call.services
    tenant_id = call.tenant.id
    now = clock.now()
    retention = services.settings.idempotency_retention_seconds
    pending = InlineKey(tenant_id, key, digest, now, _expiry(retention))
    call.inline_key = pending
    try:
        async with services.db.transaction(write=True) as conn:
            response = await handle(conn)
            if pending.stored or not 200 <= response.status_code < 300:
                return response
            found = await store.find(conn, tenant_id, key, now)
            if found.stored is not None:
                return _replay(found.stored, digest)
            if not found.free:
                raise KeyInUse
            await _save(conn, services, tenant_id, key, digest, response, now)
            return response
    except store.Replay as replay:
        return _replay(replay.stored, digest)
    except store.KeyBusy:
        raise KeyInUse from None
    except ReachError as exc:
        return await _replay_refused(call, key, digest, now, exc)


async def _serve_write_first(
    call: Call, key: str, digest: str, handle: Callable[[Connection], Awaitable[Response]]
) -> Response:
    """SQLite: no look-up first either. Its writers are serialised (BEGIN IMMEDIATE, one
    transaction per process), so no other transaction can hold the key while this one runs:
    the write runs, and its answer's insert meets a live row only when a retry's first
    answer committed before it; then the transaction rolls back and the stored answer is
    replayed. A replay thus runs the write once more and throws it away, which the common
    case pays nothing for (one statement fewer per keyed PATCH; docs/benchmarks.md)."""
    services = call.services
    tenant_id = call.tenant.id
    now = clock.now()
    try:
        async with services.db.transaction(write=True) as conn:
            await conn.begin()  # the answer commits with the write, however that is made
            response = await handle(conn)
            if not 200 <= response.status_code < 300:
                raise _Answered(response)  # nothing of it is kept; the key may hold an answer
            if not await _store(conn, services, tenant_id, key, digest, response, now):
                raise _Answered(None)  # a live answer holds the key: roll this write back
            return response
    except _Answered as answered:
        async with services.db.transaction(write=False) as conn:
            found = await store.stored(conn, tenant_id, key, now)
        if found is not None:
            return _replay(found, digest)
        if answered.response is None:
            raise KeyInUse from None  # the live answer expired meanwhile: retry
        return answered.response
    except ReachError as exc:
        return await _replay_refused(call, key, digest, now, exc)


class _Answered(Exception):  # a control-flow signal, not an error
    """Roll the write back and look the key up: ``response`` is the handler's answer (None:
    the key already holds one)."""

    def __init__(self, response: Response | None) -> None:
        super().__init__("idempotency key looked up after the write")
        self.response = response


async def _replay_refused(call: Call, key: str, digest: str, now: str, exc: ReachError) -> Response:
    """A keyed write refused without a look-up first: the key's answer if it has one (a retry
    must not be judged again against the record it changed), else the refusal."""
    if exc.status >= 500 or isinstance(exc, KeyInUse):
        raise exc
    async with call.services.db.transaction(write=False) as conn:
        stored = await store.stored(conn, call.tenant.id, key, now)
    if stored is None:
        raise exc
    return _replay(stored, digest)
