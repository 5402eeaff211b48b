"""Change events at the storage level: single writes append exactly their events, in the
write's transaction; the stamper gives them positions; ``read_all_after`` (the webhook
dispatcher's read) returns them in position order with the served body."""

from __future__ import annotations

from typing import Any

from reach.storage import events as store
from reach.storage.database import Connection
from tests.contract.resources import create_customer, url
from tests.harness import Harness, PartnerKey


def _stamped_for(api: Harness, tenant_id: str) -> list[store.StoredEvent]:
    async def work(conn: Connection) -> list[store.StoredEvent]:
        await store.stamp(conn)
        return []

    api.transaction(work)

    async def read(conn: Connection) -> list[store.StoredEvent]:
        found: list[store.StoredEvent] = []
        position = 0
        while True:
            page = await store.read_all_after(conn, position, 500)
            if not page:
                return found
            found += [e for e in page if e.tenant_id == tenant_id]
            position = page[-1].position

    return api.transaction(read)


def test_single_writes_append_their_events_and_nothing_else(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "ev-1", email="a@example.com")
    tenant_id = record["businessId"]
    patched = api.client.patch(
        url("customers", "ev-1"), json={"data": {"email": "b@example.com"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    # Unchanged: no write, so no event. Invalid: rolled back, so no event.
    same = api.client.patch(
        url("customers", "ev-1"), json={"data": {"email": "b@example.com"}}, headers=headers
    )
    assert same.status_code == 200, same.text
    bad = api.client.patch(url("customers", "ev-1"), json={"data": {"email": 12}}, headers=headers)
    assert bad.status_code == 400, bad.text
    deleted = api.client.delete(url("customers", "ev-1"), headers=headers)
    assert deleted.status_code == 200, deleted.text

    found = _stamped_for(api, tenant_id)
    mine = [e for e in found if e.body.get("resourceExternalId") == "ev-1"]
    assert [(e.type, e.body["version"]) for e in mine] == [
        ("resource.created", 1),
        ("resource.updated", 2),
        ("resource.deleted", 2),
    ]
    positions = [e.position for e in mine]
    assert positions == sorted(positions)
    assert len(set(positions)) == 3
    created, updated, gone = (e.body for e in mine)
    assert created["changes"]["email"] == {"from": None, "to": "a@example.com"}
    assert updated["changes"] == {"email": {"from": "a@example.com", "to": "b@example.com"}}
    assert updated["data"]["email"] == "b@example.com"
    assert gone["data"]["email"] == "b@example.com"
    assert gone["changes"]["email"] == {"from": "b@example.com", "to": None}
    actor: dict[str, Any] = updated["actor"]
    assert actor["partnerId"] == partner.id
    assert actor["tenantToken"] is True
    assert actor["via"] == "api"
    assert actor["batchId"] is None
    assert actor["requestId"] == patched.headers["x-request-id"]
    for event in mine:
        assert event.body["sequence"] == event.position
        assert event.body["id"] == event.id
        assert event.partner_id == partner.id
        assert event.body["schemaName"] == "customers"
