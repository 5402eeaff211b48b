"""REACH_EVENTS=false appends nothing; REACH_HISTORY_RETENTION_DAYS prunes old stamped events
in bounded chunks and keeps the rest."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reach import clock, feed
from reach.storage import events as store
from reach.storage.database import Connection
from tests.batch_helpers import customer
from tests.conftest import ENGINES
from tests.contract.resources import url
from tests.harness import Harness, PartnerKey, served


@pytest.fixture(params=ENGINES)
def events_off(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    engine: str = request.param
    if engine == "postgresql":
        database: str = request.getfixturevalue("scratch_postgres")
    else:
        database = f"sqlite:///{tmp_path / 'off.db'}"
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


def _event(tenant_id: str, partner_id: str, at: str) -> store.EventRow:
    event_id = clock.new_id()
    body = f'{{"id":"{event_id}","type":"resource.updated"}}'
    return (event_id, tenant_id, partner_id, "resource.updated", None, "old", 2, at, body)


def test_retention_prunes_old_events_in_chunks_and_keeps_recent_ones(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    made = api.client.post(
        "/api/resources/customers", json={"data": customer("keep-1")}, headers=headers
    )
    tenant_id = made.json()["data"]["businessId"]
    old = clock.format_timestamp(datetime.now(UTC) - timedelta(days=100))
    stamped = [_event(tenant_id, partner.id, old) for _ in range(5)]

    async def add_stamped(conn: Connection) -> None:
        await store.append(conn, api.db.dialect, stamped)

    api.transaction(add_stamped)
    api.loop.run(feed.stamp_pending(api.db))

    async def ids(conn: Connection) -> set[str]:
        rows = await conn.fetch("SELECT id FROM events WHERE tenant_id = $1", tenant_id)
        return {str(r["id"]) for r in rows}

    assert {e[0] for e in stamped} <= api.transaction(ids)
    pruned = api.loop.run(feed.prune(api.db, 90, chunk=2))
    assert pruned >= 5
    left = api.transaction(ids)
    assert not {e[0] for e in stamped} & left
    # The recent event of the create is kept.
    history = api.client.get(f"{url('customers', 'keep-1')}/history", headers=headers)
    assert [e["type"] for e in history.json()["data"]["results"]] == ["resource.created"]
    assert api.loop.run(feed.prune(api.db, 0)) == 0
