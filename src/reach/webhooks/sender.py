"""One webhook attempt over HTTP, and when the next one is due.

The host is resolved and checked here, at send time (:mod:`reach.webhooks.addresses`), and a
new connection goes to the checked address; ``Host`` and TLS (SNI and the certificate check)
still use the URL's host name. A kept-alive connection carries later attempts to the address it
was opened to for up to a minute (:mod:`reach.webhooks.http11`). Redirects are not followed (a
3xx is a failed attempt), the whole attempt is bounded by one timeout, and at most
:data:`BODY_LIMIT` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

from reach.webhooks import addresses, signing
from reach.webhooks.http11 import Client, ConnectionFailed, Destination

BODY_LIMIT = 1024
_FIXED_HEADERS = ((b"content-type", b"application/json"), (b"user-agent", b"reach-webhooks/1"))


class Result(NamedTuple):
    ok: bool
    status_code: int | None
    error: str | None
    response_body: str | None


def new_client(per_destination: int) -> Client:
    """Connections for one process's sender, at most ``per_destination`` idle ones kept to any
    one destination."""
    return Client(per_destination=per_destination)


async def attempt(
    client: Client,
    url: str,
    keys: Sequence[bytes],
    message_id: str,
    body: bytes,
    *,
    within: float,
    allow_private: bool,
) -> Result:
    """POST ``body`` signed with ``keys`` (:func:`reach.webhooks.signing.key_of`, newest
    first); never raises for what the network or the receiver does."""

    async def address_for(where: Destination) -> str:
        return await addresses.resolve(where.host, where.port, allow_private=allow_private)

    headers = (
        *_FIXED_HEADERS,
        *signing.headers(keys, message_id, int(time.time()), body),
    )
    try:
        async with asyncio.timeout(within):
            answer = await client.post(
                url, headers, body, limit=BODY_LIMIT, address_for=address_for
            )
    except TimeoutError:
        return Result(False, None, f"timed out after {within:g} s", None)
    except addresses.Refused as exc:
        return Result(False, None, f"refused: {exc}", None)
    except ConnectionFailed as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:500], None)
    text = answer.body.decode("utf-8", "replace")
    code = answer.status_code
    if 200 <= code < 300:
        return Result(True, code, None, text)
    error = f"HTTP {code}"
    if 300 <= code < 400:
        error += " (redirects are not followed)"
    return Result(False, code, error, text)


def next_attempt(
    attempts: int,
    now: datetime,
    created_at: datetime,
    *,
    first: float,
    cap: float,
    give_up_after: timedelta,
) -> datetime | None:
    """When attempt ``attempts + 1`` is due — exponential from ``first``, at most ``cap``
    apart, jittered between half and all of it so endpoints that fail together do not retry in
    step — or None once that would be past ``give_up_after`` from creation."""
    ceiling = min(cap, first * 2 ** min(attempts - 1, 40))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret
    due = now + timedelta(seconds=delay)
    if due > created_at + give_up_after:
        return None
    return due
