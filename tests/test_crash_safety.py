"""SIGKILL the real server mid-load, restart it on the same database: every acknowledged write
is there, and no write is half-applied.

Each write sets a record's ``counter`` (per record, strictly increasing) and a ``token`` unique
to that write, together. A record's writes come from one thread, one at a time, so after the
restart its stored document must be exactly the document of one write that was sent — the
last acknowledged one, or the one in flight when the server died (committed but not yet
answered is legitimate) — never an older one, never a mix of two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from reach import auth
from reach.secretbox import new_key
from tests.conftest import ENGINES
from tests.harness import free_port

THREADS = 4
RECORDS_PER_THREAD = 6
MAX_WRITES_PER_THREAD = 400  # bounded load, whatever happens
KILL_AFTER_ACKNOWLEDGED = 200
SCHEMA = "crashrecs"


@dataclass
class Record:
    key: str
    sent: dict[int, str] = field(default_factory=dict)  # counter → token, every write sent
    acknowledged: int = 0  # highest counter answered 200


@pytest.fixture(params=ENGINES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'crash.db'}"
        return
    yield request.getfixturevalue("scratch_postgres")


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "serve", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "server exited during start-up"
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("server never became ready")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, sig)  # the server's own process group: it and its workers
            self.process.wait(timeout=30)


def _cli(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _writer(
    base_url: str, headers: dict[str, str], records: list[Record], acked: list[int]
) -> None:
    with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
        for step in range(MAX_WRITES_PER_THREAD):
            record = records[step % len(records)]
            counter = max(record.sent, default=0) + 1
            token = uuid.uuid4().hex
            record.sent[counter] = token
            body = {"data": {"recId": record.key, "counter": counter, "token": token}}
            try:
                if counter == 1:
                    response = client.post(f"/api/resources/{SCHEMA}", json=body)
                else:
                    response = client.patch(f"/api/resources/{SCHEMA}/{record.key}", json=body)
            except httpx.TransportError:
                return  # the server died; this write is in flight, unacknowledged
            if response.status_code != 200:
                return
            assert response.json()["data"] is not None
            record.acknowledged = counter
            acked[0] += 1


def test_acknowledged_writes_survive_a_sigkill_and_nothing_is_half_applied(
    database: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env |= {
        "REACH_DATABASE_URL": database,
        "REACH_DEMO_ON_FIRST_RUN": "0",
        "REACH_SECRET_KEY": new_key(),
        "REACH_LOG_LEVEL": "warning",
        "REACH_ACCESS_LOG": "0",
    }
    if database.startswith("postgresql"):
        _cli(env, "migrate")
    partner = orjson.loads(_cli(env, "partners", "create", "Crash partner"))
    _cli(env, "tenants", "create", partner["id"], "crash-tenant")
    token = auth.mint_token(partner["id"], partner["secret"], ttl=3600)
    tenant_token = auth.mint_token(
        partner["id"], partner["secret"], tenant_external_id="crash-tenant", ttl=3600
    )
    server = Server(env)
    server.start()
    try:
        schema = {
            "name": SCHEMA,
            "pluralName": f"{SCHEMA}es",
            "category": "custom_schema",
            "externalIdField": "recId",
            "schema": {
                "type": "object",
                "properties": {
                    "recId": {"type": "string"},
                    "counter": {"type": "integer"},
                    "token": {"type": "string"},
                },
                "required": ["recId", "counter", "token"],
            },
        }
        made = httpx.post(
            f"{server.base_url}/partner/schema-definitions",
            json=schema,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert made.status_code == 200, made.text
        headers = {"Authorization": f"Bearer {tenant_token}"}
        shards = [[Record(f"r-{t}-{i}") for i in range(RECORDS_PER_THREAD)] for t in range(THREADS)]
        acked = [0]
        threads = [
            threading.Thread(target=_writer, args=(server.base_url, headers, shard, acked))
            for shard in shards
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while acked[0] < KILL_AFTER_ACKNOWLEDGED and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill()  # mid-load: the writers are still sending
        for thread in threads:
            thread.join(timeout=60)
        assert acked[0] >= KILL_AFTER_ACKNOWLEDGED
        assert any(max(r.sent) > r.acknowledged for shard in shards for r in shard), (
            "the kill came after the load finished; nothing was in flight"
        )

        server = Server(env)
        server.start()
        _check_survivors(server.base_url, headers, [r for shard in shards for r in shard])
    finally:
        server.kill()


def _check_survivors(base_url: str, headers: dict[str, str], records: list[Record]) -> None:
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        for record in records:
            response = client.get(f"/api/resources/{SCHEMA}/{record.key}")
            if response.status_code == 404:
                assert record.acknowledged == 0, f"{record.key}: acknowledged create lost"
                continue
            assert response.status_code == 200, response.text
            stored: dict[str, Any] = response.json()["data"]["result"]["data"]
            counter = stored["counter"]
            assert counter >= record.acknowledged, (record.key, stored, record.acknowledged)
            assert counter in record.sent, (record.key, stored)
            # Exactly one write's document: its counter with its own token, nothing mixed.
            assert stored == {
                "recId": record.key,
                "counter": counter,
                "token": record.sent[counter],
            }
