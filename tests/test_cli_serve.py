"""``reach serve`` as operators meet it: the first-run demo, restarts, PostgreSQL readiness."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import TEST_SECRET_KEY, free_port
from tests.test_cli import Cli, _clean_env, cli

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


def _demo_requests(text: str) -> tuple[str, str, bytes, str]:
    token = re.search(r"export TOKEN=(\S+)", text)
    post = re.search(r"curl -s -X POST (\S+)", text)
    body = re.search(r"-d '(.+)'", text)
    get = re.search(r"curl -s (http\S+) -H", text)
    assert token, text
    assert post, text
    assert body, text
    assert get, text
    return token.group(1), post.group(1), body.group(1).encode(), get.group(1)


def test_serve_on_an_empty_file_prints_a_demo_that_works(serve: Any) -> None:
    first: Served = serve()
    first.wait_ready()
    token, post_url, body, get_url = _demo_requests(first.text())
    assert post_url.startswith(first.base_url)
    assert get_url.startswith(first.base_url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    created = httpx.post(post_url, content=body, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    fetched = httpx.get(get_url, headers=headers, timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["result"]["data"] == orjson.loads(body)["data"] | {
        "emailOptOut": False,
        "smsOptOut": True,
    }

    assert first.stop(signal.SIGINT) == 0, first.text()
    second: Served = serve()
    second.wait_ready()
    path = get_url.removeprefix(first.base_url)
    again = httpx.get(f"{second.base_url}{path}", headers=headers, timeout=30)
    assert again.status_code == 200, again.text
    assert second.stop(signal.SIGTERM) == 0, second.text()
    assert "export TOKEN" not in second.text()
    assert "First run" not in second.text()


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
