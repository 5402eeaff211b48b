"""Change events through the API: every write path emits exactly its events (single writes,
batch items, pending-dependency applies, cascades), record history newest first (and after a
delete), the tenant feed oldest first with cursor, filters and long poll, and the tenant,
schema-definition and batch events the webhook dispatcher reads."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from reach.storage import events as store
from reach.storage.database import Connection
from tests.batch_helpers import batch_status, customer, wait_for_batch
from tests.contract.resources import url
from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def transaction(external_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "transactionId": external_id,
        "customerId": customer_id,
        "transactionDate": "2026-02-01T10:00:00Z",
        "transactionTotal": 12.5,
    }


def _create(api: Harness, headers: Headers, schema: str, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(f"/api/resources/{schema}", json={"data": body}, headers=headers)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def feed(api: Harness, headers: Headers, **params: Any) -> dict[str, Any]:
    response = api.client.get("/api/events", headers=headers, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def all_events(api: Harness, headers: Headers, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = feed(api, headers, limit=1000, **({"cursor": cursor} if cursor else {}), **params)
        found += page["results"]
        cursor = page["pagination"]["cursor"]
        if not page["pagination"]["hasNextPage"]:
            return found


def history(api: Harness, headers: Headers, schema: str, key: str, **params: Any) -> Any:
    response = api.client.get(f"{url(schema, key)}/history", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def of_record(events: list[dict[str, Any]], key: str) -> list[tuple[str, int, str]]:
    return [
        (e["type"], e["version"], e["actor"]["via"])
        for e in events
        if e.get("resourceExternalId") == key
    ]


def test_history_is_newest_first_paged_and_readable_after_delete(
    api: Harness, headers: Headers
) -> None:
    _create(api, headers, "customers", customer("h-1", email="a@example.com"))
    for n in range(3):
        response = api.client.patch(
            url("customers", "h-1"), json={"data": {"phone": f"+{n}"}}, headers=headers
        )
        assert response.status_code == 200, response.text
    assert api.client.delete(url("customers", "h-1"), headers=headers).status_code == 200

    first = history(api, headers, "customers", "h-1", limit=3)
    assert [e["version"] for e in first["results"]] == [4, 4, 3]
    assert first["results"][0]["type"] == "resource.deleted"
    assert first["pagination"]["hasNextPage"] is True
    rest = history(api, headers, "customers", "h-1", cursor=first["pagination"]["cursor"])
    assert [(e["type"], e["version"]) for e in rest["results"]] == [
        ("resource.updated", 2),
        ("resource.created", 1),
    ]
    assert rest["pagination"] == {"hasNextPage": False, "cursor": None}
    shape = first["results"][1]
    assert set(shape) == {
        "id",
        "sequence",
        "type",
        "occurredAt",
        "schemaDefinitionId",
        "schemaName",
        "resourceExternalId",
        "version",
        "changes",
        "data",
        "actor",
    }
    assert shape["changes"] == {"phone": {"from": "+1", "to": "+2"}}
    assert isinstance(shape["sequence"], int)


def test_a_record_whose_id_ends_in_history_is_still_reached(api: Harness, headers: Headers) -> None:
    _create(api, headers, "customers", customer("x/history"))
    _create(api, headers, "customers", customer("x"))
    # ``…/x/history`` is the history of ``x``; the record ``x/history`` has its own at
    # ``…/x/history/history`` and is read through the list filter (docs/events.md).
    assert of_record(history(api, headers, "customers", "x")["results"], "x") == [
        ("resource.created", 1, "api")
    ]
    own = history(api, headers, "customers", "x/history")["results"]
    assert of_record(own, "x/history") == [("resource.created", 1, "api")]
    listed = api.client.get(
        "/api/resources/customers", params={"filter[customerId]": "x/history"}, headers=headers
    )
    assert [r["resourceExternalId"] for r in listed.json()["data"]["results"]] == ["x/history"]
    patched = api.client.patch(
        url("customers", "x/history"), json={"data": {"phone": "+1"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text


def test_history_of_an_unknown_schema_is_404_and_of_a_never_written_record_empty(
    api: Harness, headers: Headers
) -> None:
    assert_contract(api.client.get(f"{url('nope', 'a')}/history", headers=headers), 404)
    assert history(api, headers, "customers", "never")["results"] == []


def test_feed_is_oldest_first_resumes_at_its_cursor_and_filters(
    api: Harness, headers: Headers
) -> None:
    start = feed(api, headers)["pagination"]["cursor"]
    _create(api, headers, "customers", customer("f-1"))
    _create(api, headers, "transactions", transaction("t-1", "f-1"))
    api.client.patch(url("customers", "f-1"), json={"data": {"phone": "+9"}}, headers=headers)

    page = feed(api, headers, cursor=start, limit=2)
    assert [e["type"] for e in page["results"]] == ["resource.created", "resource.created"]
    assert page["pagination"]["hasNextPage"] is True
    rest = feed(api, headers, cursor=page["pagination"]["cursor"])
    assert [(e["type"], e["resourceExternalId"]) for e in rest["results"]] == [
        ("resource.updated", "f-1")
    ]
    sequences = [e["sequence"] for e in page["results"] + rest["results"]]
    assert sequences == sorted(sequences)
    # Nothing new: the same cursor comes back, so a tail resumes where it was.
    again = feed(api, headers, cursor=rest["pagination"]["cursor"])
    assert again["results"] == []
    assert again["pagination"]["cursor"] == rest["pagination"]["cursor"]

    updates = feed(api, headers, cursor=start, types="resource.updated")["results"]
    assert [e["resourceExternalId"] for e in updates] == ["f-1"]
    of_transactions = feed(api, headers, cursor=start, schema="transactions")["results"]
    assert [e["resourceExternalId"] for e in of_transactions] == ["t-1"]


def test_feed_refuses_bad_parameters(api: Harness, headers: Headers) -> None:
    for params in (
        {"types": "resource.exploded"},
        {"wait": "31"},
        {"limit": "0"},
        {"cursor": "not-a-cursor"},
    ):
        assert_contract(api.client.get("/api/events", headers=headers, params=params), 400)


def test_a_long_poll_returns_as_soon_as_a_write_commits(api: Harness, headers: Headers) -> None:
    cursor = feed(api, headers)["pagination"]["cursor"]

    def write_soon() -> None:
        time.sleep(0.5)
        _create(api, headers, "customers", customer("lp-1"))

    writer = threading.Thread(target=write_soon)
    writer.start()
    page = feed(api, headers, cursor=cursor, wait=20)
    writer.join()
    assert [e["resourceExternalId"] for e in page["results"]] == ["lp-1"]
    # Empty at the end of the wait: the cursor is unchanged.
    empty = feed(api, headers, cursor=page["pagination"]["cursor"], wait=1)
    assert empty["results"] == []


def test_batch_items_pending_applies_and_cascades_emit_their_events(
    api: Harness, headers: Headers
) -> None:
    start = feed(api, headers)["pagination"]["cursor"]
    uploaded = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer("b-1"), customer("b-1", phone="+1"), customer("b-2")]},
        headers=headers,
    )
    assert uploaded.status_code == 202, uploaded.text
    batch_id = uploaded.json()["data"]["batchId"]
    wait_for_batch(api, headers, batch_id)
    waiting = api.client.post(
        "/api/resources/transactions/batch?dependencyWaitTimeout=30",
        json={"resources": [transaction("bt-1", "b-3")]},
        headers=headers,
    )
    assert waiting.status_code == 202, waiting.text
    waiting_id = waiting.json()["data"]["batchId"]
    deadline = time.monotonic() + 30
    while batch_status(api, headers, waiting_id)["progress"]["pendingRecords"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    _create(api, headers, "customers", customer("b-3"))
    wait_for_batch(api, headers, waiting_id)
    deleted = api.client.request(
        "DELETE",
        "/api/resources/customers/batch",
        json={"externalIds": ["b-3"], "cascade": True},
        headers=headers,
    )
    assert deleted.status_code == 202, deleted.text
    delete_id = deleted.json()["data"]["batchId"]
    wait_for_batch(api, headers, delete_id)
    single = _create(api, headers, "transactions", transaction("st-1", "b-2"))
    assert single["resourceExternalId"] == "st-1"
    gone = api.client.delete(url("customers", "b-2") + "?cascade=true", headers=headers)
    assert gone.status_code == 200, gone.text

    events = all_events(api, headers, cursor=start)
    assert of_record(events, "b-1") == [
        ("resource.created", 1, "batch"),
        ("resource.updated", 2, "batch"),
    ]
    assert of_record(events, "bt-1") == [
        ("resource.created", 1, "pending"),
        ("resource.deleted", 1, "cascade"),
    ]
    assert of_record(events, "b-3") == [
        ("resource.created", 1, "api"),
        ("resource.deleted", 1, "batch"),
    ]
    assert of_record(events, "st-1") == [
        ("resource.created", 1, "api"),
        ("resource.deleted", 1, "cascade"),
    ]
    assert of_record(events, "b-2")[-1] == ("resource.deleted", 1, "api")
    by_key = {(e.get("resourceExternalId"), e["type"]): e for e in events}
    assert by_key[("b-1", "resource.created")]["actor"]["batchId"] == batch_id
    assert by_key[("bt-1", "resource.deleted")]["actor"]["batchId"] == delete_id
    assert by_key[("bt-1", "resource.deleted")]["schemaName"] == "transactions"
    completed = [e for e in events if e["type"] == "batch.completed"]
    assert [e["data"]["id"] for e in completed] == [batch_id, waiting_id, delete_id]
    assert completed[0]["data"]["status"] == "success"
    assert completed[0]["data"]["counts"]["successful"] == 3
    assert completed[2]["data"]["counts"]["cascaded"] == 1


def _global(api: Harness, partner_id: str) -> list[store.StoredEvent]:
    async def work(conn: Connection) -> list[store.StoredEvent]:
        await store.stamp(conn)
        return []

    api.transaction(work)

    async def read(conn: Connection) -> list[store.StoredEvent]:
        found: list[store.StoredEvent] = []
        position = 0
        while page := await store.read_all_after(conn, position, 1000):
            found += [e for e in page if e.partner_id == partner_id]
            position = page[-1].position
        return found

    return api.transaction(read)


def test_tenant_and_schema_definition_changes_are_events_that_outlive_the_tenant(
    api: Harness,
) -> None:
    partner = api.new_partner()
    partner_headers = api.partner_headers(partner)
    tenant = api.new_tenant(partner, "ev-tenant")
    renamed = api.client.patch(
        f"/partner/tenants/{tenant}", json={"name": "Renamed"}, headers=partner_headers
    )
    assert renamed.status_code == 200, renamed.text
    tenant_id = renamed.json()["data"]["id"]
    schema = api.client.post(
        "/partner/schema-definitions",
        json={
            "name": "Gadget",
            "pluralName": "Gadgets",
            "category": "custom_schema",
            "externalIdField": "gadgetId",
            "schema": {
                "type": "object",
                "properties": {"gadgetId": {"type": "string"}},
                "required": ["gadgetId"],
            },
        },
        headers=partner_headers,
    )
    assert schema.status_code in (200, 201), schema.text
    removed = api.client.delete(f"/partner/tenants/{tenant}", headers=partner_headers)
    assert removed.status_code == 200, removed.text

    events = _global(api, partner.id)
    kinds = [(e.type, e.tenant_id) for e in events]
    assert ("tenant.created", tenant_id) in kinds
    assert ("tenant.updated", tenant_id) in kinds
    assert ("tenant.deleted", tenant_id) in kinds
    assert ("schema_definition.created", partner.id) in kinds
    deleted = next(e for e in events if e.type == "tenant.deleted")
    assert deleted.body["data"]["id"] == tenant_id
    assert deleted.body["actor"]["partnerId"] == partner.id
    positions = [e.position for e in events]
    assert positions == sorted(positions)
    # The deleted tenant's feed is gone with it (404), though its events are kept.
    token_headers = api.partner_headers(partner, tenant)
    assert_contract(api.client.get("/api/events", headers=token_headers), 404)


def _history_ids(api: Harness, headers: Headers, schema: str, key: str) -> list[str]:
    """The record's whole history, newest first, read two at a time (every cursor used)."""
    ids: list[str] = []
    cursor = None
    while True:
        page = history(api, headers, schema, key, limit=2, **({"cursor": cursor} if cursor else {}))
        ids += [e["id"] for e in page["results"]]
        cursor = page["pagination"]["cursor"]
        if not page["pagination"]["hasNextPage"]:
            return ids


def test_history_is_the_feed_of_the_record_on_every_write_path_and_across_lives(
    api: Harness, headers: Headers
) -> None:
    """SQLite walks a chain per record (migration 0020), PostgreSQL an index: both must give
    exactly the record's events, newest first, whichever path wrote them — two items of one
    record in one batch chunk, a cascade, a delete and a create again (both lives)."""
    start = feed(api, headers)["pagination"]["cursor"]

    def batch(method: str, schema: str, body: dict[str, Any]) -> None:
        sent = api.client.request(
            method, f"/api/resources/{schema}/batch", json=body, headers=headers
        )
        assert sent.status_code == 202, sent.text
        wait_for_batch(api, headers, sent.json()["data"]["batchId"])

    def patch(key: str, phone: str) -> None:
        response = api.client.patch(
            url("customers", key), json={"data": {"phone": phone}}, headers=headers
        )
        assert response.status_code == 200, response.text

    batch(
        "POST",
        "customers",
        {"resources": [customer("hc-1"), customer("hc-1", phone="+1"), customer("hc-2")]},
    )
    patch("hc-1", "+2")
    _create(api, headers, "transactions", transaction("ht-1", "hc-2"))
    gone = api.client.delete(url("customers", "hc-2") + "?cascade=true", headers=headers)
    assert gone.status_code == 200, gone.text
    assert api.client.delete(url("customers", "hc-1"), headers=headers).status_code == 200
    batch("POST", "customers", {"resources": [customer("hc-1", phone="+3")]})  # a second life
    patch("hc-1", "+4")
    batch("DELETE", "customers", {"externalIds": ["hc-1"]})
    _create(api, headers, "customers", customer("hc-1"))  # a third

    events = all_events(api, headers, cursor=start)
    for schema, key, count in (
        ("customers", "hc-1", 8),
        ("customers", "hc-2", 2),
        ("transactions", "ht-1", 2),
    ):
        expected = [e["id"] for e in events if e.get("resourceExternalId") == key][::-1]
        assert len(expected) == count
        assert _history_ids(api, headers, schema, key) == expected
