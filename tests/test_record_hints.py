"""A server's hints about records (``reach.domain.recent``) never decide an answer.

The server remembers each record as it last read or wrote it, and a PATCH or upsert starts its
merge from that. Here another writer — the harness's own connection, as another process or
host would be — changes the record behind the server's back, so the hint is stale, and every
answer must still come from the stored record.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from reach.domain import resources, schemas
from reach.domain.recent import RecentRecords
from reach.domain.resources import Scope, later_than
from reach.domain.schemas import SchemaRegistry
from reach.domain.tenants import Tenant
from reach.storage import tenants as tenant_store
from reach.storage.database import Connection
from reach.storage.resources import TenantResources
from tests.contract.resources import create_customer, read, url
from tests.harness import Harness, PartnerKey


def _write_behind_the_servers_back(api: Harness, record: dict[str, Any], **fields: Any) -> None:
    async def work(conn: Connection) -> None:
        rows = TenantResources(conn, record["businessId"])
        row = await rows.get(record["schemaDefinitionId"], record["resourceExternalId"])
        assert row is not None
        data = orjson.loads(row["data"]) | fields
        changed = await rows.update_if_version(
            int(row["seq"]),
            orjson.dumps(data).decode(),
            later_than(row["updated_at"]),
            int(row["version"]),
        )
        assert changed

    api.transaction(work)


def test_a_patch_keeps_what_another_writer_stored_since_the_server_last_saw_the_record(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-stale", email="first@example.com")
    _write_behind_the_servers_back(api, record, email="elsewhere@example.com")

    response = api.client.patch(
        url("customers", "hint-stale"), json={"data": {"phone": "+1555"}}, headers=headers
    )

    assert response.status_code == 200, response.text
    answered = response.json()["data"]["result"]
    assert answered["data"]["email"] == "elsewhere@example.com"
    stored = read(api, headers, "customers", "hint-stale")
    assert stored["data"]["email"] == "elsewhere@example.com"
    assert stored["data"]["phone"] == "+1555"
    assert stored == answered


def test_a_patch_that_only_the_stale_hint_makes_a_no_op_is_still_written(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-noop", email="a@example.com")
    _write_behind_the_servers_back(api, record, email="b@example.com")

    # Against the server's last sight of the record this changes nothing; against the stored
    # record it changes the email back.
    response = api.client.patch(
        url("customers", "hint-noop"), json={"data": {"email": "a@example.com"}}, headers=headers
    )

    assert response.status_code == 200, response.text
    stored = read(api, headers, "customers", "hint-noop")
    assert stored["data"]["email"] == "a@example.com"
    assert stored["updatedAt"] > record["updatedAt"]


def test_an_upsert_merges_into_the_stored_record_not_the_remembered_one(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-upsert", email="a@example.com")
    _write_behind_the_servers_back(api, record, phone="+1999")

    body = {"data": {**{k: record["data"][k] for k in ("customerId", "firstName", "lastName")}}}
    body["data"]["createdAt"] = record["data"]["createdAt"]
    body["data"]["email"] = "c@example.com"
    response = api.client.post(url("customers"), json=body, headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["message"] == "Resource updated"
    stored = read(api, headers, "customers", "hint-upsert")
    assert stored["data"]["phone"] == "+1999"
    assert stored["data"]["email"] == "c@example.com"


def test_a_patch_after_another_writer_deleted_the_record_answers_404(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-gone")

    async def delete(conn: Connection) -> None:
        rows = TenantResources(conn, record["businessId"])
        assert await rows.delete(record["schemaDefinitionId"], "hint-gone") is not None

    api.transaction(delete)

    response = api.client.patch(
        url("customers", "hint-gone"), json={"data": {"phone": "+1"}}, headers=headers
    )
    assert response.status_code == 404, response.text


def _delete_behind_the_servers_back(api: Harness, record: dict[str, Any]) -> None:
    async def work(conn: Connection) -> None:
        rows = TenantResources(conn, record["businessId"])
        assert await rows.delete(record["schemaDefinitionId"], record["resourceExternalId"])

    api.transaction(work)


def test_a_record_deleted_behind_the_servers_back_lends_nothing_to_the_next_one(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """The newest record is deleted elsewhere and another is created at once: the stale hint
    for the deleted one must not land its PATCH on the new one (row numbers are never reused)."""
    headers = api.tenant_headers(partner, tenant)
    gone = create_customer(api, headers, "hint-gone", email="gone@example.com")
    _delete_behind_the_servers_back(api, gone)
    created = create_customer(api, headers, "hint-next", email="next@example.com")

    response = api.client.patch(
        url("customers", "hint-gone"), json={"data": {"phone": "+1555"}}, headers=headers
    )

    assert response.status_code == 404, response.text
    assert read(api, headers, "customers", "hint-next") == created


def _document(value: Any) -> dict[str, Any]:
    """A stored document as a dict, whether JSON text, a dict or an orjson fragment."""
    doc: dict[str, Any] = orjson.loads(
        value if isinstance(value, str | bytes) else orjson.dumps(value)
    )
    return doc


class _RolledBack(Exception):
    """Ends a transaction after its write, as a failing key insert or COMMIT would."""


async def _scope(conn: Connection, record: dict[str, Any], recent: RecentRecords) -> Scope:
    partner_id, tenant_id = record["platformId"], record["businessId"]
    tenant_row = await tenant_store.get_for_writing(conn, partner_id, tenant_id)
    assert tenant_row is not None
    schema = await schemas.get(conn, partner_id, record["schemaDefinitionId"])
    return Scope(conn, Tenant.from_row(tenant_row), schema, SchemaRegistry(60.0), recent)


def test_a_write_that_rolled_back_leaves_no_hint_to_merge_from(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-rollback", email="first@example.com")
    recent = RecentRecords(100)

    async def patch_then_roll_back(conn: Connection) -> None:
        scope = await _scope(conn, record, recent)
        await resources.patch(scope, "hint-rollback", {"email": "rolled-back@example.com"})
        raise _RolledBack

    with pytest.raises(_RolledBack):
        api.transaction(patch_then_roll_back)
    # Another process now writes the version number the rolled-back merge had taken, with
    # another document: a hint of the rolled-back one would pass the compare-and-set.
    _write_behind_the_servers_back(api, record, email="elsewhere@example.com")

    async def patch(conn: Connection) -> resources.Record:
        scope = await _scope(conn, record, recent)
        return await resources.patch(scope, "hint-rollback", {"phone": "+1555"})

    merged = api.transaction(patch)

    assert _document(merged.data)["email"] == "elsewhere@example.com"
    stored = read(api, headers, "customers", "hint-rollback")
    assert stored["data"]["email"] == "elsewhere@example.com"
    assert stored["data"]["phone"] == "+1555"


def test_a_committed_write_leaves_its_hint(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "hint-kept", email="first@example.com")
    recent = RecentRecords(100)

    async def patch(conn: Connection) -> resources.Record:
        scope = await _scope(conn, record, recent)
        return await resources.patch(scope, "hint-kept", {"email": "second@example.com"})

    merged = api.transaction(patch)

    key = (record["businessId"], record["schemaDefinitionId"], "hint-kept")
    hint = recent.get(key)
    assert hint is not None
    assert _document(hint["data"])["email"] == "second@example.com"
    assert hint["version"] == int(merged.version)
