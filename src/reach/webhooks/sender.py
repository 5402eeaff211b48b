"""One webhook attempt over HTTP, and when the next one is due.

The host is resolved and checked here, at send time (:mod:`reach.webhooks.addresses`), and the
request goes to the checked address; ``Host`` and TLS (SNI and the certificate check) still
use the URL's host name. Redirects are not followed (a 3xx is a failed attempt), the whole
attempt is bounded by one timeout, and at most :data:`BODY_LIMIT` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import NamedTuple

import httpx

from reach.webhooks import addresses, signing

BODY_LIMIT = 1024
USER_AGENT = "reach-webhooks/1"


class Result(NamedTuple):
    ok: bool
    status_code: int | None
    error: str | None
    response_body: str | None


def new_client(concurrency: int) -> httpx.AsyncClient:
    # No proxies from the environment (a proxy would connect to the name, not the address
    # checked) and no redirects.
    return httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        # Bounded per attempt by asyncio.timeout (DNS included), not per phase.
        timeout=None,  # noqa: S113
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
    )


async def attempt(
    client: httpx.AsyncClient,
    url: str,
    secrets: list[str],
    message_id: str,
    body: bytes,
    *,
    within: float,
    allow_private: bool,
) -> Result:
    try:
        async with asyncio.timeout(within):
            return await _post(client, url, secrets, message_id, body, allow_private)
    except TimeoutError:
        return Result(False, None, f"timed out after {within:g} s", None)
    except addresses.Refused as exc:
        return Result(False, None, f"refused: {exc}", None)
    except httpx.HTTPError as exc:
        return Result(False, None, f"{type(exc).__name__}: {exc}"[:500], None)


async def _post(
    client: httpx.AsyncClient,
    url: str,
    secrets: list[str],
    message_id: str,
    body: bytes,
    allow_private: bool,
) -> Result:
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    port = target.port or (443 if target.scheme == "https" else 80)
    address = await addresses.resolve(host, port, allow_private=allow_private)
    keys = [signing.key_of(s) for s in secrets]
    headers = {
        "host": target.netloc.decode("ascii"),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signing.headers(keys, message_id, int(time.time()), body),
    }
    extensions = {"sni_hostname": host} if target.scheme == "https" else {}
    request = client.build_request(
        "POST", target.copy_with(host=address), content=body, headers=headers
    )
    request.extensions.update(extensions)
    response = await client.send(request, stream=True)
    try:
        read = bytearray()
        async for piece in response.aiter_raw():
            read += piece
            if len(read) >= BODY_LIMIT:
                break
    finally:
        await response.aclose()
    text = bytes(read[:BODY_LIMIT]).decode("utf-8", "replace")
    if 200 <= response.status_code < 300:
        return Result(True, response.status_code, None, text)
    error = f"HTTP {response.status_code}"
    if 300 <= response.status_code < 400:
        error += " (redirects are not followed)"
    return Result(False, response.status_code, error, text)


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
