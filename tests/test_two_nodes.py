"""Two real ``reach serve`` nodes on one PostgreSQL database: once one node has acknowledged a
tenant delete, a schema change or a secret revocation, the other contradicts it in nothing.

Node B has everything cached (tenant, schema, secrets) when node A makes the change; B is then
written to at once — no sleep — and, in the background, all the way through the change.
"""

from __future__ import annotations

import asyncio
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

import asyncpg
import httpx
import orjson
import pytest

from reach import auth
from reach.domain import partners
from reach.secretbox import box_for
from reach.storage.database import open_database
from tests.conftest import PG_URL
from tests.harness import TEST_SECRET_KEY, free_port

pytestmark = pytest.mark.skipif(not PG_URL, reason="two nodes share a PostgreSQL database")

SIZE_V1 = {"type": "string"}
SIZE_V2 = {"type": "integer"}


def _schema(name: str, size: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"itemId": {"type": "string"}, "size": size},
        "required": ["itemId", *required],
    }


class Node:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
                [sys.executable, "-m", "reach", "serve", "--port", str(self.port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                start_new_session=True,
            )
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.client.get("/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"node never became ready:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the node's own process group
                self.process.wait(timeout=10)


@dataclass
class Cluster:
    url: str
    a: Node
    b: Node
    partner_id: str
    secret: str
    env: dict[str, str]

    def partner_headers(self, secret: str | None = None, **extra: Any) -> dict[str, str]:
        token = auth.mint_token(self.partner_id, secret or self.secret, extra=extra)
        return {"Authorization": f"Bearer {token}"}

    def tenant_headers(self, tenant: str) -> dict[str, str]:
        token = auth.mint_token(self.partner_id, self.secret, tenant_external_id=tenant)
        return {"Authorization": f"Bearer {token}"}

    def query(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def run() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.url)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return asyncio.run(run())

    def rows(self, tenant: str) -> dict[str, tuple[int, str]]:
        found = self.query(
            "SELECT r.external_id, r.version, r.data::text AS data FROM resources r "
            "JOIN tenants t ON t.id = r.tenant_id "
            "WHERE t.partner_id = $1 AND t.external_id = $2",
            self.partner_id,
            tenant,
        )
        return {r["external_id"]: (r["version"], r["data"]) for r in found}

    def new_tenant(self) -> str:
        external_id = f"t-{uuid.uuid4().hex[:8]}"
        made = self.a.client.post(
            "/partner/tenants",
            json={"external_id": external_id, "name": external_id, "locations": []},
            headers=self.partner_headers(),
        )
        assert made.status_code == 200, made.text
        return external_id


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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert PG_URL is not None
    name = f"reach_scratch_{uuid.uuid4().hex[:12]}"
    base, _, _ = PG_URL.rpartition("/")
    url = f"{base}/{name}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    logs = tmp_path_factory.mktemp("nodes")
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env |= {
        "REACH_DATABASE_URL": url,
        "REACH_SECRET_KEY": TEST_SECRET_KEY,
        "REACH_DEMO_ON_FIRST_RUN": "0",
        "REACH_LOG_LEVEL": "warning",
        "REACH_ACCESS_LOG": "0",
    }
    nodes: list[Node] = []
    try:
        _cli(env, "migrate")
        partner = orjson.loads(_cli(env, "partners", "create", "Two nodes"))
        nodes = [Node(env, logs / "a.log"), Node(env, logs / "b.log")]
        for node in nodes:
            node.wait_ready()
        yield Cluster(url, nodes[0], nodes[1], partner["id"], partner["secret"], env)
    finally:
        for node in nodes:
            node.stop()
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Sent:
    at: float  # monotonic, when the request was sent
    status: int
    body: Any


@dataclass
class Writers:
    """Threads writing through one node until stopped, each request timed."""

    node: Node
    headers: dict[str, str]
    schema: str
    bodies: list[tuple[str, str, dict[str, Any]]]  # (method, path suffix, body), cycled
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, count: int = 3) -> None:
        for index in range(count):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, index: int) -> None:
        with httpx.Client(base_url=self.node.base_url, headers=self.headers, timeout=30) as client:
            step = 0
            while not self._stop.is_set():
                method, suffix, body = self.bodies[(index + step) % len(self.bodies)]
                step += 1
                body = orjson.loads(orjson.dumps(body).replace(b"{n}", f"{index}-{step}".encode()))
                path = f"/api/resources/{self.schema}{suffix}".replace("{n}", f"{index}-{step}")
                at = time.monotonic()
                response = client.request(method, path, json=body)
                self.sent.append(Sent(at, response.status_code, body))

    def until_written(self, within: float = 30.0) -> None:
        """Return once some write has landed (a busy machine starts the threads slowly)."""
        deadline = time.monotonic() + within
        while not any(sent.status == 200 for sent in self.sent):
            assert time.monotonic() < deadline, "no write landed"
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def _make_schema(cluster: Cluster, name: str) -> None:
    made = cluster.a.client.post(
        "/partner/schema-definitions",
        json={
            "name": name,
            "pluralName": f"{name}s",
            "category": "custom_schema",
            "externalIdField": "itemId",
            "schema": _schema(name, SIZE_V1, []),
        },
        headers=cluster.partner_headers(),
    )
    assert made.status_code == 200, made.text


def _seed(cluster: Cluster, tenant: str, schema: str) -> dict[str, str]:
    """Records written through B, and a read through A: both nodes have the tenant and the
    schema cached."""
    headers = cluster.tenant_headers(tenant)
    for i in range(5):
        made = cluster.b.client.post(
            f"/api/resources/{schema}", json={"data": {"itemId": f"seed-{i}"}}, headers=headers
        )
        assert made.status_code == 200, made.text
    assert cluster.a.client.get(f"/api/resources/{schema}", headers=headers).status_code == 200
    return headers


def test_no_node_accepts_a_write_into_a_tenant_another_node_deleted(cluster: Cluster) -> None:
    _make_schema(cluster, "Widget")
    tenant = cluster.new_tenant()
    headers = _seed(cluster, tenant, "widgets")
    writers = Writers(
        cluster.b,
        headers,
        "widgets",
        [
            ("POST", "", {"data": {"itemId": "w-{n}"}}),
            ("PATCH", "/seed-1", {"data": {"size": "s{n}"}}),
            ("POST", "", {"data": {"itemId": "seed-2", "size": "u{n}"}}),
        ],
    )
    writers.start()
    writers.until_written()  # writes landing before the delete

    deleted = cluster.a.client.delete(
        f"/partner/tenants/{tenant}", headers=cluster.partner_headers()
    )
    acked = time.monotonic()
    assert deleted.status_code == 200, deleted.text
    after_ack = cluster.rows(tenant)
    right_after = [
        cluster.b.client.post(
            "/api/resources/widgets", json={"data": {"itemId": "late"}}, headers=headers
        ),
        cluster.b.client.patch(
            "/api/resources/widgets/seed-0", json={"data": {"size": "late"}}, headers=headers
        ),
        cluster.b.client.post(
            "/api/resources/widgets/late-2", json={"data": {"itemId": "late-2"}}, headers=headers
        ),
        cluster.b.client.delete("/api/resources/widgets/seed-3", headers=headers),
        cluster.b.client.post(
            "/api/resources/widgets/batch",
            json={"resources": [{"itemId": "late-3"}]},
            headers=headers,
        ),
    ]
    time.sleep(0.5)
    writers.stop()

    assert [r.status_code for r in right_after] == [404] * 5, [r.text for r in right_after]
    before = [s for s in writers.sent if s.at < acked]
    late = [s for s in writers.sent if s.at > acked]
    assert any(s.status == 200 for s in before), "nothing was written before the delete"
    assert late, "nothing was written after the delete"
    assert {s.status for s in late} == {404}, [s for s in late if s.status != 404][:5]
    assert cluster.rows(tenant) == after_ack


def test_no_node_accepts_a_write_a_schema_change_on_another_node_forbids(
    cluster: Cluster,
) -> None:
    _make_schema(cluster, "Gizmo")
    tenant = cluster.new_tenant()
    headers = _seed(cluster, tenant, "gizmos")
    writers = Writers(
        cluster.b,
        headers,
        "gizmos",
        [
            ("POST", "", {"data": {"itemId": "g-{n}"}}),  # no size: v2 requires it
            ("POST", "", {"data": {"itemId": "h-{n}", "size": "big"}}),  # v2: an integer
            ("PATCH", "/seed-1", {"data": {"size": "s{n}"}}),
        ],
    )
    writers.start()
    writers.until_written()

    changed = cluster.a.client.post(
        "/partner/schema-definitions/Gizmo",
        json={"schema": _schema("Gizmo", SIZE_V2, ["size"])},
        headers=cluster.partner_headers(),
    )
    acked = time.monotonic()
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["versionNumber"] == 2
    after_ack = cluster.rows(tenant)
    right_after = [
        cluster.b.client.post(
            "/api/resources/gizmos", json={"data": {"itemId": "late"}}, headers=headers
        ),
        cluster.b.client.post(
            "/api/resources/gizmos", json={"data": {"itemId": "late", "size": "x"}}, headers=headers
        ),
        cluster.b.client.patch(
            "/api/resources/gizmos/seed-0", json={"data": {"itemId": "seed-0"}}, headers=headers
        ),
    ]
    valid = cluster.b.client.post(
        "/api/resources/gizmos", json={"data": {"itemId": "ok", "size": 3}}, headers=headers
    )
    time.sleep(0.5)
    writers.stop()

    assert [r.status_code for r in right_after] == [400] * 3, [r.text for r in right_after]
    assert valid.status_code == 200, valid.text
    late = [s for s in writers.sent if s.at > acked]
    assert any(s.status == 200 for s in writers.sent if s.at < acked)
    assert late, "nothing was written after the change"
    assert {s.status for s in late} == {400}, [s for s in late if s.status != 400][:5]
    # Every record written since the acknowledgement satisfies version 2.
    final = cluster.rows(tenant)
    changed_since = {k: v for k, v in final.items() if after_ack.get(k) != v}
    assert set(changed_since) == {"ok"}, changed_since
    assert orjson.loads(changed_since["ok"][1])["size"] == 3


def test_a_revoked_secret_signs_no_new_token_on_any_node_within_a_second(
    cluster: Cluster,
) -> None:
    made = orjson.loads(_cli(cluster.env, "partners", "create", "Rotating"))
    rotating = Cluster(cluster.url, cluster.a, cluster.b, made["id"], made["secret"], cluster.env)
    old_secret = made["secret"]
    verified = rotating.partner_headers(old_secret)
    for node in (cluster.a, cluster.b):  # both hold the secret and this token cached
        assert node.client.get("/partner/tenants", headers=verified).status_code == 200

    async def rotate_twice() -> str:
        """What ``reach partners rotate-secret`` does, twice: the first secret is revoked."""
        db = await open_database(cluster.url, pool_size=1)
        box = box_for(cluster.url, TEST_SECRET_KEY)
        try:
            for _ in range(2):
                async with db.transaction() as conn:
                    newest = await partners.rotate_secret(conn, box, made["id"])
            return newest.secret
        finally:
            await db.close()

    new_secret = asyncio.run(rotate_twice())
    revoked = time.monotonic()
    refused_after: dict[str, float] = {}
    while len(refused_after) < 2 and time.monotonic() - revoked < 10:
        for label, node in (("a", cluster.a), ("b", cluster.b)):
            if label in refused_after:
                continue
            fresh = rotating.partner_headers(old_secret, jti=uuid.uuid4().hex)
            if node.client.get("/partner/tenants", headers=fresh).status_code == 401:
                refused_after[label] = time.monotonic() - revoked
        time.sleep(0.01)

    assert set(refused_after) == {"a", "b"}, refused_after
    assert max(refused_after.values()) < 1.0, refused_after
    for node in (cluster.a, cluster.b):
        # The notification also drops the tokens each node had already verified.
        assert node.client.get("/partner/tenants", headers=verified).status_code == 401
        current = node.client.get("/partner/tenants", headers=rotating.partner_headers(new_secret))
        assert current.status_code == 200, current.text


def test_a_node_that_lost_its_listener_connection_reconnects_and_hears_again(
    cluster: Cluster,
) -> None:
    tenant = cluster.new_tenant()
    headers = cluster.tenant_headers(tenant)
    listeners = (
        "SELECT pid FROM pg_stat_activity "
        "WHERE application_name = 'reach-listener' AND datname = current_database()"
    )
    old = {r["pid"] for r in cluster.query(listeners)}
    assert len(old) == 2, old
    cluster.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'reach-listener' AND datname = current_database()"
    )
    deadline = time.monotonic() + 10
    while True:
        now = {r["pid"] for r in cluster.query(listeners)}
        if len(now) == 2 and not now & old:
            break
        assert time.monotonic() < deadline, now
        time.sleep(0.05)
    assert cluster.b.client.get("/api/resources/customers", headers=headers).status_code == 200

    deleted = cluster.a.client.delete(
        f"/partner/tenants/{tenant}", headers=cluster.partner_headers()
    )
    assert deleted.status_code == 200, deleted.text
    # Reads are not guarded: only the notification makes B forget its cached tenant before
    # the cache's 5 s are up.
    deadline = time.monotonic() + 1.0
    while cluster.b.client.get("/api/resources/customers", headers=headers).status_code != 404:
        assert time.monotonic() < deadline, "node B still serves the deleted tenant"
        time.sleep(0.01)


def test_a_node_forgets_its_caches_when_its_listener_connection_is_lost(cluster: Cluster) -> None:
    """Messages sent while no connection listened are lost: the node must not trust what it
    cached before the loss."""
    tenant = cluster.new_tenant()
    headers = cluster.tenant_headers(tenant)
    assert cluster.b.client.get("/api/resources/customers", headers=headers).status_code == 200
    # Deleted without a notification, as if it had been sent while nobody listened.
    cluster.query(
        "UPDATE tenants SET deleted_at = now() WHERE partner_id = $1 AND external_id = $2",
        cluster.partner_id,
        tenant,
    )
    assert cluster.b.client.get("/api/resources/customers", headers=headers).status_code == 200
    cluster.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = 'reach-listener' AND datname = current_database()"
    )
    deadline = time.monotonic() + 1.0  # the cache alone would keep the tenant for 5 s
    while cluster.b.client.get("/api/resources/customers", headers=headers).status_code != 404:
        assert time.monotonic() < deadline, "node B still serves its cached tenant"
        time.sleep(0.01)
