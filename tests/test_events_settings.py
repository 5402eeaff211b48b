"""REACH_EVENTS=false appends nothing; REACH_HISTORY_RETENTION_DAYS prunes old stamped events
in bounded chunks and keeps the rest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reach import clock, feed
from reach.storage.database import Connection
from tests.batch_helpers import customer
from tests.conftest import ENGINES
from tests.contract.resources import url
from tests.harness import Harness, served


@pytest.fixture(params=ENGINES)
def events_off(request: pytest.FixtureRequest) -> Iterator[Harness]:
    engine: str = request.param
    if engine == "postgresql":
        database: str = request.getfixturevalue("scratch_postgres")
    else:
        database = request.getfixturevalue("sqlite_at_head")
    with served(engine, database, events=False, batch_poll_seconds=0.05) as harness:
        yield harness


def _count(api: Harness) -> int:
    async def work(conn: Connection) -> int:
        return int(await conn.fetchval("SELECT count(*) FROM events"))

    return api.transaction(work)


def test_with_events_off_writes_append_nothing(events_off: Harness) -> None:
    api = events_off
    partner = api.new_partner()
    tenant = api.new_tenant(partner)
    headers = api.tenant_headers(partner, tenant)
    created = api.client.post(
        "/api/resources/customers", json={"data": customer("off-1")}, headers=headers
    )
    assert created.status_code == 200, created.text
    patched = api.client.patch(
        url("customers", "off-1"), json={"data": {"phone": "+1"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert api.client.delete(url("customers", "off-1"), headers=headers).status_code == 200
    assert _count(api) == 0
    history = api.client.get(f"{url('customers', 'off-1')}/history", headers=headers)
    assert history.json()["data"]["results"] == []
    assert api.client.get("/api/events", headers=headers).json()["data"]["results"] == []


def test_retention_prunes_old_events_in_chunks_and_keeps_recent_ones(fresh: Harness) -> None:
    api = fresh
    partner = api.new_partner()
    headers = api.tenant_headers(partner, api.new_tenant(partner))
    for n in range(5):
        made = api.client.post(
            "/api/resources/customers", json={"data": customer(f"old-{n}")}, headers=headers
        )
        assert made.status_code == 200, made.text
    old = clock.format_timestamp(datetime.now(UTC) - timedelta(days=100))

    async def age(conn: Connection) -> None:
        await conn.execute("UPDATE events SET occurred_at = $1", old)

    api.transaction(age)
    api.client.post("/api/resources/customers", json={"data": customer("new")}, headers=headers)
    api.loop.run(feed.stamp_pending(api.db))
    before = _count(api)
    pruned = api.loop.run(feed.prune(api.db, 90, chunk=2))
    assert pruned == before - 1
    assert _count(api) == 1
    history = api.client.get(f"{url('customers', 'new')}/history", headers=headers)
    assert [e["type"] for e in history.json()["data"]["results"]] == ["resource.created"]
    assert (
        api.client.get(f"{url('customers', 'old-1')}/history", headers=headers).json()["data"][
            "results"
        ]
        == []
    )
    assert api.loop.run(feed.prune(api.db, 0)) == 0


def test_after_retention_prunes_every_event_new_ones_still_follow_the_feed_cursor(
    fresh: Harness,
) -> None:
    """The newest event pruned with the rest: the next one must still come after the cursor a
    reader holds (on SQLite its number is the rowid, which would otherwise start again)."""
    api = fresh
    partner = api.new_partner()
    headers = api.tenant_headers(partner, api.new_tenant(partner))
    for n in range(3):
        made = api.client.post(
            "/api/resources/customers", json={"data": customer(f"gone-{n}")}, headers=headers
        )
        assert made.status_code == 200, made.text
    api.loop.run(feed.stamp_pending(api.db))
    page = api.client.get("/api/events", headers=headers).json()["data"]
    assert len(page["results"]) == 4  # tenant.created and the three
    cursor = page["pagination"]["cursor"]
    old = clock.format_timestamp(datetime.now(UTC) - timedelta(days=100))

    async def age(conn: Connection) -> None:
        await conn.execute("UPDATE events SET occurred_at = $1", old)

    api.transaction(age)
    everything = _count(api)
    assert api.loop.run(feed.prune(api.db, 90)) == everything
    assert _count(api) == 0
    made = api.client.post(
        "/api/resources/customers", json={"data": customer("after")}, headers=headers
    )
    assert made.status_code == 200, made.text
    api.loop.run(feed.stamp_pending(api.db))
    after = api.client.get("/api/events", params={"cursor": cursor}, headers=headers).json()
    assert [e["resourceExternalId"] for e in after["data"]["results"]] == ["after"]
    assert after["data"]["results"][0]["sequence"] > page["results"][-1]["sequence"]
