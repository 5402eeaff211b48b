"""The write guard: a resource write lands only while its tenant is live and the schema version
it was validated against is current — whatever the serving process has cached.

Each test warms the server's caches, then changes the tenant or schema *behind its back*
(straight in the database, announcing nothing, as another node whose notification is late
would look), and writes through the stale process.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest

from reach import clock
from reach.errors import StaleScope
from reach.storage.database import Connection
from reach.storage.resources import TenantResources
from tests.batch_helpers import wait_for_batch
from tests.contract.resources import (
    create,
    create_customer,
    create_schema,
    customer,
    errors_of,
    object_schema,
    url,
)
from tests.harness import Harness, PartnerKey
from tests.test_deferred_transactions import _until_the_patch_waits

GADGET_V1 = object_schema(
    {"gadgetId": {"type": "string"}, "size": {"type": "string"}}, ["gadgetId"]
)
# The change another node made: ``size`` is now required, and an integer.
GADGET_V2 = object_schema(
    {"gadgetId": {"type": "string"}, "size": {"type": "integer"}}, ["gadgetId", "size"]
)


def _gadgets(api: Harness, partner: PartnerKey) -> dict[str, Any]:
    return create_schema(
        api,
        partner,
        {
            "name": "Gadget",
            "pluralName": "Gadgets",
            "category": "custom_schema",
            "externalIdField": "gadgetId",
            "schema": GADGET_V1,
        },
    )


def _execute(api: Harness, sql: str, *args: Any) -> None:
    async def work(conn: Connection) -> None:
        await conn.execute(sql, *args)

    api.transaction(work)


def _delete_tenant_behind_the_back(api: Harness, tenant_id: str) -> None:
    at = clock.now()
    _execute(
        api, "UPDATE tenants SET deleted_at = $2, updated_at = $2 WHERE id = $1", tenant_id, at
    )


def _change_schema_behind_the_back(api: Harness, schema_id: str, json_schema: Any) -> None:
    _execute(
        api,
        "UPDATE schema_definitions SET json_schema = $2, version_number = version_number + 1 "
        "WHERE id = $1",
        schema_id,
        orjson.dumps(json_schema).decode(),
    )


def _rows(api: Harness, tenant_id: str) -> list[tuple[str, int, str]]:
    async def work(conn: Connection) -> list[tuple[str, int, str]]:
        rows = await conn.fetch(
            "SELECT external_id, version, data FROM resources WHERE tenant_id = $1 "
            "ORDER BY external_id",
            tenant_id,
        )
        return [(r["external_id"], int(r["version"]), str(r["data"])) for r in rows]

    return api.transaction(work)


WRITES = {
    "create": ("POST", url("customers"), {"data": customer("c-new")}),
    "upsert": ("POST", url("customers"), {"data": customer("c-1", firstName="Changed")}),
    "legacy create": ("POST", url("customers", "c-new"), {"data": customer("c-new")}),
    "patch": ("PATCH", url("customers", "c-1"), {"data": {"firstName": "Changed"}}),
    "delete": ("DELETE", url("customers", "c-1"), None),
    "batch upload": ("POST", url("customers") + "/batch", {"resources": [customer("c-new")]}),
    "batch delete": ("DELETE", url("customers") + "/batch", {"externalIds": ["c-1"]}),
}


@pytest.mark.parametrize("write", list(WRITES))
def test_a_write_into_a_tenant_deleted_behind_the_cache_is_refused_and_changes_nothing(
    api: Harness, partner: PartnerKey, tenant: str, write: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "c-1")  # the tenant and schema are now cached
    tenant_id = record["businessId"]
    before = _rows(api, tenant_id)
    _delete_tenant_behind_the_back(api, tenant_id)

    method, path, body = WRITES[write]
    response = api.client.request(method, path, json=body, headers=headers)

    assert response.status_code == 404, response.text
    assert response.json()["message"] == "Tenant not found"
    assert _rows(api, tenant_id) == before


def test_writes_validated_against_a_schema_replaced_behind_the_cache_are_judged_by_the_new_one(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    definition = _gadgets(api, partner)
    headers = api.tenant_headers(partner, tenant)
    stored = create(api, headers, "gadgets", {"gadgetId": "g-1", "size": "big"})
    tenant_id = stored["businessId"]
    _change_schema_behind_the_back(api, definition["id"], GADGET_V2)
    before = _rows(api, tenant_id)

    missing = api.client.post(url("gadgets"), json={"data": {"gadgetId": "g-2"}}, headers=headers)
    wrong_type = api.client.post(
        url("gadgets"), json={"data": {"gadgetId": "g-3", "size": "small"}}, headers=headers
    )
    patched = api.client.patch(
        url("gadgets", "g-1"), json={"data": {"gadgetId": "g-1"}}, headers=headers
    )

    assert any("size" in e for e in errors_of(missing)), missing.text
    assert any("size" in e for e in errors_of(wrong_type)), wrong_type.text
    assert any("size" in e for e in errors_of(patched)), patched.text
    assert _rows(api, tenant_id) == before
    valid = api.client.post(
        url("gadgets"), json={"data": {"gadgetId": "g-4", "size": 4}}, headers=headers
    )
    assert valid.status_code == 200, valid.text


def test_a_batch_applies_the_schema_version_current_when_it_writes(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    definition = _gadgets(api, partner)
    headers = api.tenant_headers(partner, tenant)
    stored = create(api, headers, "gadgets", {"gadgetId": "g-1", "size": "big"})
    # A first batch: the worker has now looked the schema up (by id) under version 1.
    first = api.client.post(
        url("gadgets") + "/batch", json={"resources": [{"gadgetId": "g-0"}]}, headers=headers
    )
    assert first.status_code == 202, first.text
    assert wait_for_batch(api, headers, first.json()["data"]["batchId"])["status"] == "success"
    _change_schema_behind_the_back(api, definition["id"], GADGET_V2)

    accepted = api.client.post(
        url("gadgets") + "/batch",
        json={"resources": [{"gadgetId": "g-2"}, {"gadgetId": "g-3", "size": 3}]},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])

    assert batch["progress"]["successfulRecords"] == 1, batch
    assert batch["progress"]["failedRecords"] == 1, batch
    assert [key for key, _, _ in _rows(api, stored["businessId"])] == ["g-0", "g-1", "g-3"]


def test_batch_writes_through_a_stale_scope_raise_and_store_nothing(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """The batch paths (items, dependency retries, cascades) write through these methods."""
    definition = _gadgets(api, partner)
    headers = api.tenant_headers(partner, tenant)
    stored = create(api, headers, "gadgets", {"gadgetId": "g-1", "size": "big"})
    tenant_id, schema_id = stored["businessId"], definition["id"]
    _change_schema_behind_the_back(api, schema_id, GADGET_V2)
    before = _rows(api, tenant_id)

    async def stale_writes(conn: Connection) -> list[str]:
        row = await conn.fetchrow(
            "SELECT seq FROM resources WHERE tenant_id = $1 AND external_id = 'g-1'", tenant_id
        )
        assert row is not None
        refused: list[str] = []
        attempts = {
            "insert_many": lambda rows: rows.insert_many(
                schema_id, [(clock.new_id(), "g-9", '{"gadgetId": "g-9"}', 1)], clock.now()
            ),
            "update_many": lambda rows: rows.update_many(
                [(int(row["seq"]), '{"gadgetId": "g-1"}', 2, clock.now())]
            ),
        }
        for name, attempt in attempts.items():
            rows = TenantResources(conn, tenant_id, (schema_id, 1))
            try:
                await attempt(rows)
            except StaleScope:
                refused.append(name)
        return refused

    assert api.transaction(stale_writes) == ["insert_many", "update_many"]
    assert _rows(api, tenant_id) == before

    _delete_tenant_behind_the_back(api, tenant_id)

    async def delete_in_deleted_tenant(conn: Connection) -> bool:
        row = await conn.fetchrow(
            "SELECT seq FROM resources WHERE tenant_id = $1 AND external_id = 'g-1'", tenant_id
        )
        assert row is not None
        try:
            await TenantResources(conn, tenant_id).delete_many([int(row["seq"])])
        except StaleScope:
            return True
        return False

    assert api.transaction(delete_in_deleted_tenant)
    assert _rows(api, tenant_id) == before


def test_a_tenant_delete_is_acknowledged_only_after_every_write_that_checked_before_it(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """A PATCH checks its tenant, then waits on a row lock while the tenant delete commits.
    The delete must not be acknowledged while that PATCH can still land: whatever lands, lands
    before the acknowledgement, and nothing changes after it."""
    if api.engine != "postgresql":
        pytest.skip("SQLite's single write lock orders the two; nothing can land in between")
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "c-raced")
    tenant_id = record["businessId"]

    def patch() -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.patch(
                url("customers", "c-raced"), json={"data": {"phone": "+100"}}, headers=headers
            )

    def delete() -> tuple[httpx.Response, list[tuple[str, int, str]]]:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            answer = client.delete(
                f"/partner/tenants/{tenant}", headers=api.partner_headers(partner)
            )
        return answer, _rows(api, tenant_id)  # what was stored when the delete was answered

    async def deleted() -> bool:
        async with api.db.transaction(write=False) as conn:
            found = await conn.fetchval("SELECT deleted_at FROM tenants WHERE id = $1", tenant_id)
        return found is not None

    async def race() -> tuple[httpx.Response, httpx.Response, list[tuple[str, int, str]], bool]:
        loop = asyncio.get_running_loop()
        async with api.db.transaction(write=True) as conn:
            # Hold the record's row: the PATCH has checked its tenant and waits here.
            await conn.fetchval(
                "SELECT seq FROM resources WHERE tenant_id = $1 FOR UPDATE", tenant_id
            )
            patched = loop.run_in_executor(None, patch)
            await _until_the_patch_waits(api)
            deleting = loop.run_in_executor(None, delete)
            for _ in range(250):
                if await deleted():
                    break
                await asyncio.sleep(0.02)
            else:
                raise AssertionError("the tenant delete never committed")
            early = deleting.done()
        # This commit released the row: the PATCH goes on, then the delete may answer.
        deleted_answer, at_ack = await deleting
        return await patched, deleted_answer, at_ack, early

    patched_answer, deleted_answer, at_ack, early = api.loop.run(race())

    assert not early, "the delete was acknowledged while an older write could still land"
    assert deleted_answer.status_code == 200, deleted_answer.text
    assert patched_answer.status_code in (200, 404), patched_answer.text
    assert _rows(api, tenant_id) == at_ack  # nothing changed after the acknowledgement
