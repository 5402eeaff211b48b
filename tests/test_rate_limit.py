"""Rate limiting per partner and per tenant (memory and Redis counters), and request timeouts."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid

import httpx
import pytest

from reach.storage.database import Connection
from tests.harness import Harness, PartnerKey, free_port
from tests.servers import exchange, extra_server

REDIS = ("127.0.0.1", 6379)
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def _redis_up() -> bool:
    try:
        with socket.create_connection(REDIS, timeout=1):
            return True
    except OSError:
        return False


def _assert_429(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["success"] is False
    assert "Rate limit" in body["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert int(response.headers["ratelimit-reset"]) >= 1


def test_limiting_is_off_by_default(api: Harness, partner: PartnerKey) -> None:
    response = api.client.get("/partner/tenants", headers=api.partner_headers(partner))
    assert response.status_code == 200
    assert not any(name in response.headers for name in RATE_HEADERS)


def test_partner_budget_counts_down_then_429_and_other_partners_are_unaffected(
    api: Harness, partner: PartnerKey
) -> None:
    other = api.new_partner()
    with extra_server(api, rate_limit="5/minute") as base, httpx.Client(base_url=base) as client:
        headers = api.partner_headers(partner)
        remaining = []
        for _ in range(5):
            response = client.get("/partner/tenants", headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["ratelimit-limit"] == "5"
            assert int(response.headers["ratelimit-reset"]) >= 1
            remaining.append(int(response.headers["ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        _assert_429(client.get("/partner/tenants", headers=headers), 5)
        # An error response carries the headers too, and a refused write changes nothing.
        refused = client.post("/partner/tenants", json={"external_id": "t"}, headers=headers)
        _assert_429(refused, 5)
        listed = api.client.get("/partner/tenants", headers=headers).json()["data"]
        assert listed["pagination"]["total"] == 0
        assert client.get("/partner/tenants", headers=api.partner_headers(other)).status_code == 200
        assert client.get("/healthz").status_code == 200  # unauthenticated probes are not limited


def test_tenant_budget_protects_the_partners_other_tenants(
    api: Harness, partner: PartnerKey
) -> None:
    noisy, quiet = api.new_tenant(partner), api.new_tenant(partner)
    limits = {"tenant_rate_limit": "3/minute", "rate_limit": "100/minute"}
    with extra_server(api, **limits) as base, httpx.Client(base_url=base) as client:
        for _ in range(3):
            response = client.get(
                "/api/resources/customers/missing", headers=api.tenant_headers(partner, noisy)
            )
            assert response.status_code == 404  # errors count and carry the headers
            assert response.headers["ratelimit-limit"] == "3"
        # By the partner token naming the tenant: the same tenant, the same budget.
        _assert_429(
            client.get("/api/resources/customers", headers=api.partner_headers(partner, noisy)),
            3,
        )
        fine = client.get("/api/resources/customers", headers=api.tenant_headers(partner, quiet))
        assert fine.status_code == 200
        # The tighter of the two budgets is the one the headers describe.
        assert fine.headers["ratelimit-limit"] == "3"
        assert fine.headers["ratelimit-remaining"] == "2"


def test_two_servers_sharing_redis_see_one_budget(api: Harness, partner: PartnerKey) -> None:
    if not _redis_up():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (CI starts it: .ci/run)")
    settings = {"rate_limit": "6/minute", "rate_limit_storage": "redis://127.0.0.1:6379"}
    with (
        extra_server(api, **settings) as first,
        extra_server(api, **settings) as second,
        httpx.Client() as client,
    ):
        headers = api.partner_headers(partner)
        statuses = [
            client.get(f"{(first, second)[i % 2]}/partner/tenants", headers=headers).status_code
            for i in range(6)
        ]
        assert statuses == [200] * 6
        _assert_429(client.get(f"{first}/partner/tenants", headers=headers), 6)
        _assert_429(client.get(f"{second}/partner/tenants", headers=headers), 6)


def test_unreachable_counter_storage_lets_requests_through(
    api: Harness, partner: PartnerKey
) -> None:
    # Fail open, by decision (docs/security.md): Redis down must not take the API down.
    dead = f"redis://127.0.0.1:{free_port()}"
    limits = {"rate_limit": "1/minute", "rate_limit_storage": dead}
    with extra_server(api, **limits) as base, httpx.Client(base_url=base) as client:
        for _ in range(3):
            response = client.get("/partner/tenants", headers=api.partner_headers(partner))
            assert response.status_code == 200, response.text


def test_a_stalled_request_body_times_out_with_503(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    with extra_server(api, request_timeout_seconds=1.0) as base:
        head = (
            "PATCH /api/resources/customers/c-1 HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n"
            f"Authorization: {api.tenant_headers(partner, tenant)['Authorization']}"
        )
        response = exchange(base, head, b'{"data": {')  # 10 of the 100 bytes, then silence
        assert response.status == 503
        assert b"timed out" in response.body


def test_a_request_stuck_behind_a_lock_times_out_and_changes_nothing(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = {
        "customerId": f"c-{uuid.uuid4().hex[:8]}",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": "2026-01-01T00:00:00Z",
    }
    assert api.client.post("/api/resources/customers", json={"data": record}, headers=headers)
    path = f"/api/resources/customers/{record['customerId']}"
    before = api.client.get(path, headers=headers).content
    locked, release = threading.Event(), threading.Event()

    async def hold(conn: Connection) -> None:
        # A write transaction of our own: SQLite's write lock, or the record's row lock.
        await conn.execute(
            "UPDATE resources SET version = version WHERE external_id = $1", record["customerId"]
        )
        locked.set()
        await asyncio.to_thread(release.wait, 30)

    holder = threading.Thread(target=api.transaction, args=(hold,))
    holder.start()
    try:
        assert locked.wait(10)
        with extra_server(api, request_timeout_seconds=1.0) as base:
            response = httpx.patch(
                f"{base}{path}", json={"data": {"firstName": "Late"}}, headers=headers, timeout=30
            )
    finally:
        release.set()
        holder.join(timeout=30)
    assert response.status_code == 503, response.text
    assert response.json()["success"] is False
    assert api.client.get(path, headers=headers).content == before
