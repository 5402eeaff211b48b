"""Read replicas, for real: a PostgreSQL primary and a hot standby of its own (initdb, then
``pg_basebackup -R``), on free ports in a temporary directory, never the shared cluster.

Which node served a read is counted by ``reach_db_replica_reads_total{outcome}``; the test
server is this module's alone, so differences of that counter are this test's reads.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from reach.client import Client
from reach.client.retry import RetryPolicy
from reach.config import load_settings
from reach.errors import ConfigError
from reach.storage.consistency import PositionClock, parse_token, token
from reach.storage.postgres import PostgresDatabase
from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey, free_port, served


def _server_binaries() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_basebackup"), reverse=True)
    for candidate in found:
        if (candidate.parent / "initdb").exists() and (candidate.parent / "pg_ctl").exists():
            return candidate.parent
    on_path = shutil.which("pg_basebackup")
    if on_path and shutil.which("initdb") and shutil.which("pg_ctl"):
        return Path(on_path).parent
    return None


BIN = _server_binaries()


@dataclass
class Cluster:
    root: Path
    primary_port: int
    standby_port: int

    def _run(self, *args: str) -> None:
        # PostgreSQL refuses to run as root: its own OS user runs it.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(  # noqa: S603 - the PostgreSQL binaries, fixed arguments
            [*prefix, *args], check=True, capture_output=True, timeout=120
        )

    def url(self, port: int) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def start_standby(self) -> None:
        assert BIN is not None
        self._run(str(BIN / "pg_ctl"), "-D", str(self.root / "standby"), "-w", "start",
                  "-l", str(self.root / "standby.log"))  # fmt: skip

    def stop_standby(self) -> None:
        assert BIN is not None
        self._run(str(BIN / "pg_ctl"), "-D", str(self.root / "standby"), "-w", "-m", "fast", "stop")

    def standby(self, statement: str) -> Any:
        return self.query(self.standby_port, statement)

    def caught_up(self) -> bool:
        """Whether the standby has replayed everything the primary has written so far."""
        written = self.query(self.primary_port, "SELECT pg_current_wal_lsn()::text")
        return bool(self.standby(f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"))

    def query(self, port: int, statement: str) -> Any:
        async def run() -> Any:
            conn = await asyncpg.connect(self.url(port))
            try:
                return await conn.fetchval(statement)
            finally:
                await conn.close()

        return asyncio.run(run())


def _make_cluster(root: Path) -> Cluster:
    assert BIN is not None
    cluster = Cluster(root, free_port(), free_port())
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    root.chmod(0o700)
    run = cluster._run
    run(str(BIN / "initdb"), "-D", str(root / "primary"), "-A", "trust", "-U", "postgres",
        "--no-sync")  # fmt: skip
    settings = (
        f"port = {cluster.primary_port}\n"
        "listen_addresses = '127.0.0.1'\n"
        f"unix_socket_directories = '{root}'\n"
        "wal_level = replica\n"
        "max_wal_senders = 4\n"
        "fsync = off\n"  # a throwaway cluster: durability costs time, proves nothing here
        "full_page_writes = off\n"
    )
    with (root / "primary" / "postgresql.conf").open("a") as conf:
        conf.write(settings)
    run(str(BIN / "pg_ctl"), "-D", str(root / "primary"), "-w", "start",
        "-l", str(root / "primary.log"))  # fmt: skip
    run(str(BIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(cluster.primary_port),
        "-U", "postgres", "-D", str(root / "standby"),
        "-R", "-X", "stream", "-c", "fast")  # fmt: skip
    with (root / "standby" / "postgresql.conf").open("a") as conf:
        conf.write(f"port = {cluster.standby_port}\n")
    cluster.start_standby()
    return cluster


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if BIN is None:
        pytest.skip("the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup) are absent")
    root = Path(tempfile.mkdtemp(prefix="reach-replicas-"))
    made: Cluster | None = None
    try:
        made = _make_cluster(root)
        yield made
    finally:
        for node in ("standby", "primary"):
            if (root / node / "postmaster.pid").exists():
                Cluster(root, 0, 0)._run(
                    str(BIN / "pg_ctl"), "-D", str(root / node), "-m", "immediate", "stop"
                )
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Iterator[Harness]:
    with served(
        "postgresql",
        cluster.url(cluster.primary_port),
        batch_worker=False,
        database_read_urls=cluster.url(cluster.standby_port),
        replica_check_seconds=0.5,
        replica_wait_seconds=0.3,
        replica_max_lag_seconds=2.0,
    ) as harness:
        _until(lambda: _readiness(harness)[0]["up"], "the standby enters rotation")
        yield harness


@pytest.fixture(scope="module")
def account(api: Harness) -> tuple[PartnerKey, str]:
    partner = api.new_partner()
    return partner, api.new_tenant(partner)


def _client(api: Harness, account: tuple[PartnerKey, str]) -> Client:
    partner, tenant = account
    # No retries: a 503 must not be hidden behind a successful second attempt.
    return Client.for_partner(
        api.base_url, partner.id, partner.secret, tenant=tenant, retry=RetryPolicy(attempts=1)
    )


@pytest.fixture(scope="module")
def client(api: Harness, account: tuple[PartnerKey, str]) -> Iterator[Client]:
    with _client(api, account) as made:
        yield made


def _until(check: Callable[[], Any], what: str, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def _readiness(api: Harness) -> list[dict[str, Any]]:
    response = api.client.get("/readyz")
    assert response.status_code == 200, response.text
    replicas: list[dict[str, Any]] = response.json()["data"]["replicas"]
    return replicas


_READS = re.compile(r'^reach_db_replica_reads_total\{outcome="([a-z_]+)"\} ([0-9.e+]+)$', re.M)


def _reads(api: Harness) -> dict[str, int]:
    text = api.client.get("/metrics").text
    return {outcome: int(float(value)) for outcome, value in _READS.findall(text)}


def _since(api: Harness, before: dict[str, int]) -> dict[str, int]:
    now = _reads(api)
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def test_read_your_writes_across_1000_write_read_pairs(
    api: Harness, account: tuple[PartnerKey, str]
) -> None:
    def pairs(worker: int) -> None:
        # Each client its own record and its own token: it must read what it wrote.
        with _client(api, account) as own:
            key = f"ryw-{worker}"
            own.create("customers", customer(key, lastName="v0"))
            for n in range(1, 251):
                own.patch("customers", key, {"lastName": f"v{n}"})
                assert own.get("customers", key).result.data["lastName"] == f"v{n}"

    before = _reads(api)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(pairs, range(4)))
    served = _since(api, before)
    assert sum(served.values()) == 1000, served
    assert served.get("replica", 0) >= 900, f"most reads should hit the replica: {served}"


def test_write_answers_carry_an_ordered_token_and_reads_without_one_may_be_stale(
    api: Harness, client: Client, cluster: Cluster, account: tuple[PartnerKey, str]
) -> None:
    client.create("customers", customer("paused", lastName="v1"))
    first = client.consistency
    assert first is not None
    assert parse_token(first) is not None
    # The standby must hold v1 before replay stops, or the stale read below finds nothing.
    _until(cluster.caught_up, "the standby replays the create")
    cluster.standby("SELECT pg_wal_replay_pause()")
    try:
        client.patch("customers", "paused", {"lastName": "v2"})
        later = client.consistency
        assert later is not None
        assert later > first
        before = _reads(api)
        # With the token: the paused standby cannot show the write, so the primary does.
        assert client.get("customers", "paused").result.data["lastName"] == "v2"
        assert _since(api, before) == {"primary_behind": 1}
        # Without it, within the staleness bound, the standby serves its older copy: proof
        # that reads really go to the replica, and that the token is what made them current.
        before = _reads(api)
        bare = _client(api, account)  # has seen no write: sends no token
        stale = bare.get("customers", "paused").result.data["lastName"]
        assert _since(api, before) == {"replica": 1}
        assert stale == "v1"
        # Past the bound the lagging standby is skipped.
        time.sleep(2.5)
        before = _reads(api)
        assert bare.get("customers", "paused").result.data["lastName"] == "v2"
        assert _since(api, before) == {"primary_no_replica": 1}
        bare.close()
    finally:
        cluster.standby("SELECT pg_wal_replay_resume()")
    _until(lambda: _readiness(api)[0]["lagBytes"] == 0, "the standby catches up")


def test_a_stopped_standby_fails_over_to_the_primary_and_returns_when_back(
    api: Harness, client: Client, cluster: Cluster, account: tuple[PartnerKey, str]
) -> None:
    client.create("customers", customer("failover", lastName="v0"))
    get = "/api/resources/customers/failover"
    headers = api.partner_headers(*account)
    cluster.stop_standby()
    try:
        before = _reads(api)
        statuses: list[int] = []
        for n in range(1, 51):
            write = api.client.patch(get, json={"data": {"lastName": f"v{n}"}}, headers=headers)
            statuses.append(write.status_code)
            read = api.client.get(
                get, headers={**headers, "Reach-Consistency": write.headers["reach-consistency"]}
            )
            statuses.append(read.status_code)
            assert read.json()["data"]["result"]["data"]["lastName"] == f"v{n}"
        assert set(statuses) == {200}, statuses
        served = _since(api, before)
        assert served.get("replica", 0) == 0, served
        assert sum(served.values()) == 50, served
        down = _readiness(api)[0]
        assert down["up"] is False
        assert down["reason"]
    finally:
        cluster.start_standby()
    _until(lambda: _readiness(api)[0]["up"], "the standby is back in rotation")
    before = _reads(api)
    for _ in range(20):
        assert api.client.get(get, headers=headers).status_code == 200
    assert _since(api, before).get("replica", 0) >= 15
    metrics = api.client.get("/metrics").text
    assert 'reach_db_replica_up{replica="127.0.0.1:' in metrics
    assert "reach_db_replica_lag_seconds{" in metrics


def test_the_token_is_a_fixed_width_position_and_page_boundaries_match_replay() -> None:
    assert token(0x3000060) == "1-0000000003000060"
    assert parse_token(token(0x3000060)) == 0x3000060
    # The insert position just past a page header is the same byte as the page boundary.
    assert parse_token(token(0x3002018)) == 0x3002000
    assert token(0x2FFFFF0) < token(0x3000000)
    for bad in (None, "", "1-xyz", "2-0000000003000060", "1-00000000030000600"):
        assert parse_token(bad) is None


def test_read_urls_need_a_postgresql_primary() -> None:
    with pytest.raises(ConfigError, match="REACH_DATABASE_READ_URLS"):
        load_settings(env={"REACH_DATABASE_READ_URLS": "postgresql://standby/db"})
    with pytest.raises(ConfigError, match="REACH_DATABASE_READ_URLS"):
        load_settings(
            env={
                "REACH_DATABASE_URL": "postgresql://primary/db",
                "REACH_DATABASE_READ_URLS": "mysql://standby/db",
            }
        )


def test_without_read_urls_writes_carry_no_token(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    with served("sqlite", url, batch_worker=False) as plain:
        partner = plain.new_partner()
        tenant = plain.new_tenant(partner)
        response = plain.client.post(
            "/api/resources/customers",
            json={"data": customer("plain")},
            headers=plain.partner_headers(partner, tenant),
        )
        assert response.status_code == 200, response.text
        assert "reach-consistency" not in response.headers
        assert httpx.get(f"{plain.base_url}/readyz").json()["data"].get("replicas") is None


def test_concurrent_writes_share_one_read_of_the_position(cluster: Cluster) -> None:
    async def run() -> tuple[int, int, list[int | None]]:
        primary = await PostgresDatabase.open(cluster.url(cluster.primary_port), pool_size=4)
        try:
            clock = PositionClock(primary)
            conn = await primary.acquire()
            try:
                before = await conn.fetchval("SELECT pg_current_wal_insert_lsn()")
            finally:
                await primary.release(conn)
            found = await asyncio.gather(*(clock.after_now() for _ in range(50)))
            return before, clock.reads, found
        finally:
            await primary.close()

    before, reads, found = asyncio.run(run())
    assert all(position is not None and position >= before for position in found)
    # Fifty callers at once: the first read goes out for the first, the rest share the next.
    assert 1 <= reads <= 2
