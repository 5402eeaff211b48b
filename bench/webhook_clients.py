"""CPU per webhook POST of candidate HTTP clients, no database: why the sender uses h11.

Each client POSTs ``--requests`` signed-size bodies, ``--concurrency`` at a time over kept-alive
connections, to the fan-out bench's receiver (a keep-alive 204 server in another process), and
the process's own CPU time is divided by the requests. Clients are run in alternating rounds;
the medians are printed. A client whose library is not installed is left out (aiohttp is not a
dependency: install it into a scratch environment to compare).

Usage::

    python -m bench.webhook_clients [--requests 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

BODY = b'{"type":"resource.updated","timestamp":"2026-12-03T08:00:00.000Z","data":{' + (
    b'"n":"' + b"x" * 300 + b'"}}'
)
Post = Callable[[str], Awaitable[int]]


async def _run(post: Post, url: str, requests: int, concurrency: int) -> float:
    """CPU seconds per request."""
    await post(url)  # the connection and the imports are not what is measured
    queue = iter(range(requests))

    async def lane() -> None:
        for _ in queue:
            status = await post(url)
            if status != 204:
                raise RuntimeError(f"the receiver answered {status}")

    start = time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return (time.process_time() - start) / requests


async def _httpx(url: str, requests: int, concurrency: int) -> float:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(trust_env=False, limits=limits) as client:

        async def post(url: str) -> int:
            response = await client.post(url, content=BODY, headers=_headers_str())
            return response.status_code

        return await _run(post, url, requests, concurrency)


async def _aiohttp(url: str, requests: int, concurrency: int) -> float:
    import aiohttp  # type: ignore[import-not-found,unused-ignore]  # not a dependency

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def post(url: str) -> int:
            async with session.post(
                url, data=BODY, headers=_headers_str(), allow_redirects=False
            ) as response:
                await response.content.read(1024)
                return int(response.status)

        return await _run(post, url, requests, concurrency)


async def _h11(url: str, requests: int, concurrency: int) -> float:
    from reach.webhooks import sender, signing

    keys = [signing.key_of(signing.new_secret())]
    async with sender.new_client(concurrency) as client:

        async def post(url: str) -> int:
            result = await sender.attempt(
                client, url, keys, "msg_1", BODY, within=10, allow_private=True
            )
            return result.status_code or 0

        return await _run(post, url, requests, concurrency)


async def _h11_bare(url: str, requests: int, concurrency: int) -> float:
    """The same client without the sender's signing, timeout and address check: the HTTP
    alone, as the other two are measured."""
    from reach.webhooks.http11 import Client, Destination

    async def address_for(where: Destination) -> str:
        return where.host

    async with Client(per_destination=concurrency) as client:

        async def post(url: str) -> int:
            headers = [(k.encode(), v.encode()) for k, v in _headers_str().items()]
            answer = await client.post(url, headers, BODY, limit=1024, address_for=address_for)
            return answer.status_code

        return await _run(post, url, requests, concurrency)


def _headers_str() -> dict[str, str]:
    return {
        "content-type": "application/json",
        "user-agent": "reach-webhooks/1",
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(time.time())),
        "webhook-signature": "v1," + "A" * 44,
    }


CLIENTS = {
    "httpx": _httpx,
    "aiohttp": _aiohttp,
    "h11 (http11.Client alone)": _h11_bare,
    "h11 (sender.attempt: signed)": _h11,
}
NEEDS = {
    "httpx": "httpx",
    "aiohttp": "aiohttp",
    "h11 (http11.Client alone)": "h11",
    "h11 (sender.attempt: signed)": "h11",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.harness import free_port

    from bench.webhook_fanout import _wait_for_port

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_fanout", "--receiver", str(port)]
    )
    url = f"http://127.0.0.1:{port}/hook"
    found: dict[str, list[float]] = {
        n: [] for n in CLIENTS if importlib.util.find_spec(NEEDS[n]) is not None
    }
    try:
        _wait_for_port(port)
        for _ in range(args.rounds):
            for name in found:
                found[name].append(asyncio.run(CLIENTS[name](url, args.requests, args.concurrency)))
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f}; {args.requests} POSTs, {args.concurrency} at a time")
    for name, runs in found.items():
        shown = " · ".join(f"{r * 1e6:,.0f}" for r in runs)
        print(f"  {name:30} {statistics.median(runs) * 1e6:8,.0f} µs CPU / POST  ({shown})")


if __name__ == "__main__":
    main()
