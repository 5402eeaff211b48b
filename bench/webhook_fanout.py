"""Webhook fan-out: deliveries per second from one worker's sender to a local receiver.

The deliveries are queued first by the dispatcher's own fan-out (``--events`` events to
``--endpoints`` endpoints of one partner), then one :class:`~reach.webhooks.runner.WebhookWorker`
— claim, sign, POST, record — is timed until every delivery has succeeded. The receiver is a
minimal keep-alive HTTP server answering 204, in a process of its own, so its cost is not in
the worker's.

Usage::

    python -m bench.webhook_fanout                        # SQLite only
    python -m bench.webhook_fanout --pg-url postgresql://postgres@127.0.0.1/reach_bench

The PostgreSQL database given is wiped (its ``public`` schema dropped): use a scratch one.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reach import clock
from reach.config import load_settings
from reach.domain import partners, webhooks
from reach.secretbox import new_key
from reach.services import open_services
from reach.storage import migrate
from reach.webhooks import dispatcher
from reach.webhooks.runner import WebhookWorker

_ANSWER = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


class _Receiver(asyncio.Protocol):
    """Answers every request with a 204 (keep-alive); counts the requests it saw."""

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            length = 0
            for line in head.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            self.buffer = self.buffer[end:]
            self.transport.write(_ANSWER)


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Receiver, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


@dataclass(frozen=True)
class _Event:
    partner_id: str
    position: int
    tenant_id: str | None = None
    type: str = "resource.updated"
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=clock.now)
    body: dict[str, Any] = field(default_factory=dict)


async def run_engine(url: str, port: int, events: int, endpoints: int, concurrency: int) -> float:
    settings = load_settings(
        env={},
        database_url=url,
        batch_worker=False,
        secret_key=new_key(),
        webhook_allow_private=True,
        webhook_concurrency=concurrency,
        webhook_endpoint_concurrency=concurrency,
        batch_poll_seconds=0.01,
    )
    services = await open_services(settings)
    try:
        async with services.db.transaction(write=True) as conn:
            partner = await partners.create(conn, services.box, "bench")
            for n in range(endpoints):
                body = {"url": f"http://127.0.0.1:{port}/hook/{n}"}
                await webhooks.create(conn, services.box, partner.id, body, allow_private=True)
        document = {"resourceExternalId": "c-1", "data": {"firstName": "Ada", "n": "x" * 200}}
        queued = 0
        start = time.perf_counter()
        for first in range(0, events, 1000):
            chunk = [
                _Event(partner.id, first + i + 1, body=document)
                for i in range(min(1000, events - first))
            ]
            async with services.db.transaction(write=True) as conn:
                queued += await dispatcher.fan_out(conn, chunk)
        fanned = time.perf_counter() - start
        print(f"  queued {queued} deliveries in {fanned:.2f}s ({queued / fanned:,.0f}/s)")
        worker = WebhookWorker(services, name="bench", poll_seconds=0.01)
        start = time.perf_counter()
        cpu = time.process_time()
        worker.start()
        while True:
            await asyncio.sleep(0.2)
            async with services.db.transaction(write=False) as conn:
                left = await conn.fetchval(
                    "SELECT count(*) FROM webhook_deliveries WHERE status <> 'succeeded'"
                )
            if not left:
                break
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        await worker.stop()
        rate = queued / elapsed
        print(
            f"  sent {queued} deliveries in {elapsed:.2f}s = {rate:,.0f} deliveries/s "
            f"(worker process CPU {cpu:.2f}s = {queued / cpu:,.0f} per CPU-second)",
            flush=True,
        )
        return rate
    finally:
        await services.close()


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the receiver did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--endpoints", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--pg-url", default=None, help="a scratch PostgreSQL database (wiped)")
    parser.add_argument("--receiver", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver is not None:
        asyncio.run(_serve(args.receiver))
        return
    from tests.harness import free_port

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_fanout", "--receiver", str(port)]
    )
    try:
        _wait_for_port(port)
        total = args.events * args.endpoints
        with tempfile.TemporaryDirectory() as scratch:
            print(f"SQLite ({args.events} events x {args.endpoints} endpoints = {total}):")
            sqlite_url = f"sqlite:///{Path(scratch) / 'bench.db'}"
            migrate.upgrade(sqlite_url)
            asyncio.run(run_engine(sqlite_url, port, args.events, args.endpoints, args.concurrency))
        if args.pg_url:
            print(f"PostgreSQL ({args.events} events x {args.endpoints} endpoints = {total}):")
            asyncio.run(_reset_postgres(args.pg_url))
            migrate.upgrade(args.pg_url)
            asyncio.run(
                run_engine(args.pg_url, port, args.events, args.endpoints, args.concurrency)
            )
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)


if __name__ == "__main__":
    main()
