"""Slow, silent and broken clients against a real ``reach serve`` (granian), on both engines:
a body cut off or malformed is a quiet 400, silent connections are closed so they cannot
lock new clients out, the response names no server software, and SIGTERM respects
``REACH_SHUTDOWN_TIMEOUT_SECONDS`` with a request or a batch chunk still in flight."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from reach.config import load_settings
from reach.errors import ConfigError
from tests.batch_helpers import customer
from tests.conftest import ENGINES
from tests.harness import TEST_SECRET_KEY, Harness, free_port, served
from tests.test_cli import _clean_env
from tests.test_cli_serve import Served

BOUND = 2  # REACH_SHUTDOWN_TIMEOUT_SECONDS in the shutdown tests
SLACK = 5.0  # process start-up of the kill, exit, loaded CI: generous, far below the 10-30 s


@dataclass
class Node:
    api: Harness  # a server of the test harness on the same database, for setting up data
    headers: dict[str, str]
    started: list[Served]

    def serve(self, **env: str) -> Served:
        """A real ``reach serve`` on the node's database (no in-process batch worker)."""
        port = free_port()
        process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "serve", "--port", str(port)],
            env=_clean_env(
                REACH_DATABASE_URL=self.api.database_url,
                REACH_SECRET_KEY=TEST_SECRET_KEY,
                REACH_DEMO_ON_FIRST_RUN="0",
                REACH_BATCH_WORKER="0",
                **env,
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        node = Served(process, f"http://127.0.0.1:{port}")
        self.started.append(node)
        node.start_reading()
        node.wait_ready()
        return node


@pytest.fixture(params=ENGINES)
def node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Node]:
    engine: str = request.param
    if engine == "postgresql":
        url: str = request.getfixturevalue("scratch_postgres")
    else:
        url = f"sqlite:///{tmp_path / 'edge.db'}"
    with served(engine, url, batch_worker=False) as api:
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        made = Node(api, api.tenant_headers(partner, tenant), [])
        try:
            yield made
        finally:
            for served_node in made.started:
                served_node.stop(signal.SIGTERM)
                _kill_group(served_node.process)


def _kill_group(process: subprocess.Popen[Any]) -> None:
    """Whatever is left of a process started in its own session (granian's workers outlive
    a main process that was killed): the group is ours alone."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _host_port(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def _raw(base_url: str, head: str, body: bytes, *, answer: bool) -> bytes:
    """Send a request head and (part of) a body; read the answer, or hang up at once."""
    with socket.create_connection(_host_port(base_url), timeout=20) as sock:
        sock.sendall(head.encode() + b"\r\n\r\n" + body)
        if not answer:
            return b""
        received = b""
        while b"\r\n\r\n" not in received or not received.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def _series(metrics: str, status: str) -> int:
    """Requests counted with ``status`` on the create route, from the Prometheus text."""
    total = 0
    for line in metrics.splitlines():
        if line.startswith("reach_http_request_duration_seconds_count") and (
            f'status="{status}"' in line
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def test_a_body_cut_off_or_malformed_is_a_quiet_400_never_a_500(node: Node) -> None:
    served_node = node.serve()
    url = served_node.base_url
    head = (
        "POST /api/resources/customers HTTP/1.1\r\nHost: reach\r\n"
        f"Authorization: {node.headers['Authorization']}\r\nContent-Type: application/json"
    )
    # The client promises 100 bytes, sends 8 and hangs up: nobody is left to answer.
    _raw(url, head + "\r\nContent-Length: 100", b'{"data":', answer=False)
    # One chunk, then the connection ends before the last chunk.
    _raw(url, head + "\r\nTransfer-Encoding: chunked", b'5\r\n{"dat\r\n', answer=False)
    # Chunked framing that is not hexadecimal, and a chunk longer than it says.
    for body in (b"zz\r\nabc\r\n", b'5\r\n{"dat\r\n3\r\nabcdef\r\n0\r\n\r\n'):
        answer = _raw(url, head + "\r\nTransfer-Encoding: chunked", body, answer=True)
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b'"success":false' in answer
        assert b"Request body incomplete" in answer

    deadline = time.monotonic() + 20
    while True:
        metrics = httpx.get(f"{url}/metrics", timeout=10).text
        if _series(metrics, "400") >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert _series(metrics, "400") == 4, metrics
    assert _series(metrics, "500") == 0
    served_node.stop(signal.SIGTERM)
    log = served_node.text()
    assert "Traceback" not in log, log
    assert "unhandled error" not in log, log


def test_responses_name_no_server_software(node: Node) -> None:
    served_node = node.serve()
    for path in ("/healthz", "/api/resources/customers/none", "/no/such/route"):
        response = httpx.get(f"{served_node.base_url}{path}", headers=node.headers, timeout=10)
        assert response.headers.get_list("server") == ["reach"], (path, response.headers)


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except OSError:
        return True  # reset: closed as well


def test_silent_connections_are_closed_and_cannot_lock_new_clients_out(node: Node) -> None:
    cap = 4
    served_node = node.serve(REACH_HTTP_IDLE_TIMEOUT_SECONDS="1", REACH_MAX_CONNECTIONS=str(cap))
    address = _host_port(served_node.base_url)
    # Three times the cap of connections that never send a byte: the first `cap` take every
    # slot, the rest wait in the listen queue behind them.
    silent = [socket.create_connection(address, timeout=10) for _ in range(3 * cap)]
    try:
        started = time.monotonic()
        response = httpx.get(f"{served_node.base_url}/healthz", timeout=60)
        assert response.status_code == 200
        # Slots free up a timeout at a time; without the timeout this never answers.
        assert time.monotonic() - started < 30
        assert all(_closed_by_server(sock, 10) for sock in silent[:cap])

        # A keep-alive connection idle between requests is closed by the same timeout.
        with socket.create_connection(address, timeout=10) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: reach\r\n\r\n")
            first = sock.recv(65536)
            assert first.startswith(b"HTTP/1.1 200 "), first
            assert _closed_by_server(sock, 10)
    finally:
        for sock in silent:
            sock.close()


# -- shutdown bound ---------------------------------------------------------------------------


@contextmanager
def _blocked(database_url: str, table: str) -> Iterator[None]:
    """Hold what a write needs, from outside the server: SQLite's write lock (any write
    waits for it), or an exclusive lock on ``table`` (PostgreSQL: every statement on it
    waits)."""
    if database_url.startswith("sqlite:"):
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    locked = threading.Event()
    release = threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await asyncio.to_thread(release.wait)
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    assert locked.wait(30)
    try:
        yield
    finally:
        release.set()
        thread.join(timeout=30)


def _exit_time(process: subprocess.Popen[Any], sig: int = signal.SIGTERM) -> float:
    started = time.monotonic()
    process.send_signal(sig)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # our own process group only
        process.wait(timeout=10)
    return time.monotonic() - started


def test_serve_stops_within_its_shutdown_bound_with_a_request_in_flight(node: Node) -> None:
    served_node = node.serve(REACH_SHUTDOWN_TIMEOUT_SECONDS=str(BOUND))
    outcome: list[Any] = []

    def create() -> None:
        try:
            outcome.append(
                httpx.post(
                    f"{served_node.base_url}/api/resources/customers",
                    json={"data": customer("in-flight")},
                    headers=node.headers,
                    timeout=60,
                )
            )
        except httpx.HTTPError as exc:
            outcome.append(exc)

    with _blocked(node.api.database_url, "resources"):
        writer = threading.Thread(target=create)
        writer.start()
        time.sleep(1.0)  # the create is waiting for the lock now
        assert not outcome
        elapsed = _exit_time(served_node.process)
        writer.join(timeout=30)
    assert elapsed < BOUND + SLACK, f"{elapsed:.1f} s"
    # Cut off unanswered (never acknowledged), and never half-written.
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.HTTPError), outcome
    assert (
        node.api.client.get("/api/resources/customers/in-flight", headers=node.headers).status_code
        == 404
    )


def test_worker_stops_within_its_shutdown_bound_with_a_chunk_in_flight(
    node: Node, tmp_path: Path
) -> None:
    accepted = node.api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer(f"b-{i}") for i in range(20)]},
        headers=node.headers,
    )
    assert accepted.status_code == 202, accepted.text
    log = tmp_path / "worker.log"
    with _blocked(node.api.database_url, "resources"), log.open("ab") as out:
        worker = subprocess.Popen(
            [sys.executable, "-m", "reach", "worker"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=_clean_env(
                REACH_DATABASE_URL=node.api.database_url,
                REACH_SECRET_KEY=TEST_SECRET_KEY,
                REACH_SHUTDOWN_TIMEOUT_SECONDS=str(BOUND),
                REACH_BATCH_POLL_SECONDS="0.05",
            ),
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not re.search("started", log.read_text()):
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        time.sleep(1.0)  # it has claimed the batch (PostgreSQL) or is waiting to (SQLite)
        elapsed = _exit_time(worker)
        _kill_group(worker)
    assert elapsed < BOUND + SLACK, f"{elapsed:.1f} s\n{log.read_text()}"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("REACH_HTTP_IDLE_TIMEOUT_SECONDS", "0"),
        ("REACH_HTTP_IDLE_TIMEOUT_SECONDS", "61"),
        ("REACH_MAX_CONNECTIONS", "0"),
        ("REACH_SHUTDOWN_TIMEOUT_SECONDS", "0"),
        ("REACH_SHUTDOWN_TIMEOUT_SECONDS", "1801"),
    ],
)
def test_server_settings_outside_what_granian_accepts_are_refused_by_name(
    variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(env={variable: value})
