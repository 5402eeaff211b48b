"""``reach serve`` as operators meet it: the first-run demo, restarts, PostgreSQL readiness."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import TEST_SECRET_KEY, free_port
from tests.test_cli import Cli, _clean_env

__all__ = ["cli"]  # the fixture, re-exported for pytest


@dataclass
class Served:
    process: subprocess.Popen[str]
    base_url: str
    stderr: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr.append(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server never became ready:\n{self.text()}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
            code = self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def text(self) -> str:
        return "".join(self.stderr)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """A file that does not exist yet: `reach serve` creates and migrates it (first run)."""
    return Cli(f"sqlite:///{tmp_path / 'cli.db'}")


@pytest.fixture
def serve(cli: Cli) -> Iterator[Any]:
    started: list[Served] = []

    def start(database_url: str = cli.database_url, **env: str) -> Served:
        port = free_port()
        process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "serve", "--port", str(port)],
            env=_clean_env(REACH_DATABASE_URL=database_url, **env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        served = Served(process, f"http://127.0.0.1:{port}")
        started.append(served)
        served.start_reading()
        return served

    yield start
    for served in started:
        served.stop(signal.SIGTERM)


def _first_run_exports(path: Path) -> dict[str, str]:
    found = dict(re.findall(r"^export (\w+)=(\S+)$", path.read_text(), re.MULTILINE))
    assert set(found) == {"REACH_PARTNER_ID", "REACH_PARTNER_SECRET", "TOKEN"}, found
    return found


CUSTOMER = {
    "customerId": "c-1",
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "createdAt": "2026-01-01T00:00:00Z",
}


def test_serve_on_an_empty_file_writes_a_demo_that_works(serve: Any, cli: Cli) -> None:
    first: Served = serve()
    first.wait_ready()
    credentials = Path(cli.database_url.removeprefix("sqlite:///") + ".first-run")
    assert credentials.stat().st_mode & 0o777 == 0o600
    exports = _first_run_exports(credentials)
    # Not a terminal (a service manager's journal): the secret and token stay out of it.
    assert exports["REACH_PARTNER_SECRET"] not in first.text()
    assert exports["TOKEN"] not in first.text()
    assert str(credentials) in first.text()
    headers = {"Authorization": f"Bearer {exports['TOKEN']}"}

    url = f"{first.base_url}/api/resources/customers"
    created = httpx.post(url, json={"data": CUSTOMER}, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    fetched = httpx.get(f"{url}/c-1", headers=headers, timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["result"]["data"] == CUSTOMER | {
        "emailOptOut": False,
        "smsOptOut": True,
    }

    assert first.stop(signal.SIGINT) == 0, first.text()
    second: Served = serve()
    second.wait_ready()
    again = httpx.get(f"{second.base_url}/api/resources/customers/c-1", headers=headers, timeout=30)
    assert again.status_code == 200, again.text
    assert second.stop(signal.SIGTERM) == 0, second.text()
    assert "First run" not in second.text()
    assert _first_run_exports(credentials) == exports  # not rewritten by the second start


def test_serve_prints_the_demo_secrets_on_a_terminal(cli: Cli) -> None:
    port = free_port()
    leader, follower = pty.openpty()
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "serve", "--port", str(port)],
        env=_clean_env(REACH_DATABASE_URL=cli.database_url),
        stdout=subprocess.DEVNULL,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"listening on" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 1)
            if ready:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        os.close(leader)
    exports = _first_run_exports(Path(cli.database_url.removeprefix("sqlite:///") + ".first-run"))
    text = seen.decode()
    assert f"export REACH_PARTNER_SECRET={exports['REACH_PARTNER_SECRET']}" in text
    assert f"export TOKEN={exports['TOKEN']}" in text


def test_a_second_serve_on_the_same_port_exits_with_one_line(serve: Any, cli: Cli) -> None:
    first: Served = serve()
    first.wait_ready()
    port = first.base_url.rsplit(":", 1)[1]
    other = Cli(cli.database_url.replace("cli.db", "other.db"))
    result = other.run("serve", "--port", port)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use (another reach serve or another "
        "program); stop it or choose another with --port / REACH_PORT"
    ]
    # Nothing was created for the refused server, and the first one still answers alone.
    assert not Path(other.database_url.removeprefix("sqlite:///")).exists()
    assert httpx.get(f"{first.base_url}/healthz", timeout=10).status_code == 200


def test_serve_on_a_port_another_program_holds_exits_without_a_traceback(cli: Cli) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = cli.run("serve", "--port", str(port))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"Error: port {port} on 127.0.0.1 is already in use (another reach serve or another "
        "program); stop it or choose another with --port / REACH_PORT"
    ]


def test_serve_refuses_an_unmigrated_postgresql_database(scratch_postgres: str) -> None:
    cli = Cli(scratch_postgres)
    result = cli.run("serve", "--port", str(free_port()))
    assert result.returncode != 0
    assert "reach migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_then_serve_accepts_postgresql(scratch_postgres: str, serve: Any) -> None:
    cli = Cli(scratch_postgres)
    assert cli.run("migrate").returncode == 0
    served: Served = serve(scratch_postgres, REACH_SECRET_KEY=TEST_SECRET_KEY)
    served.wait_ready()
    ready = httpx.get(f"{served.base_url}/readyz", timeout=30)
    assert ready.json()["data"]["database"] == "postgresql"
    assert "export TOKEN" not in served.text()  # the demo is for the embedded default only
