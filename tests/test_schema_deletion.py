"""Deleting (deactivating) schema definitions, and partners created without the built-in ones.

Reach's own create-schema example is a "Customer"/"Customers" schema: with the built-in
``customers`` in place that is a 409, so a partner either starts without the built-ins
(``reach partners create --no-default-schemas``) or deletes the ones it does not want.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest

from tests.batch_helpers import customer, wait_for_batch
from tests.contract.resources import object_schema, unique
from tests.harness import TEST_SECRET_KEY, Harness, PartnerKey

BASE = "/partner/schema-definitions"

# The example contacts schema of Reach's custom-schemas page.
REACH_EXAMPLE: dict[str, Any] = {
    "name": "Customer",
    "pluralName": "Customers",
    "description": "Customer contact information",
    "category": "contacts_schema",
    "external_id_field": "customerId",
    "schema": {
        **object_schema(
            {
                "customerId": {"type": "string", "x-pii-type": "EXTERNAL_ID"},
                "email": {"type": "string", "x-pii-type": "EMAIL"},
            },
            ["customerId"],
        ),
        "title": "Customer",
    },
}


def delete(api: Harness, partner: PartnerKey, key: str) -> Any:
    return api.client.delete(f"{BASE}/{key}", headers=api.partner_headers(partner))


def post(api: Harness, partner: PartnerKey, body: Any) -> Any:
    return api.client.post(BASE, json=body, headers=api.partner_headers(partner))


def names(api: Harness, partner: PartnerKey) -> set[str]:
    listed = api.client.get(BASE, headers=api.partner_headers(partner))
    assert listed.status_code == 200, listed.text
    return {d["name"] for d in listed.json()["data"]}


def conflict_errors(response: Any) -> list[str]:
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["success"] is False, body
    errors: list[str] = body["errors"]
    return errors


def thing_schema(name: str, **properties: Any) -> dict[str, Any]:
    return {
        "name": name,
        "pluralName": f"{name}s",
        "externalIdField": "thingId",
        "schema": object_schema({"thingId": {"type": "string"}, **properties}, ["thingId"]),
    }


def test_a_partner_created_without_default_schemas_can_create_reachs_example(
    api: Harness,
) -> None:
    env = {"PATH": "/usr/bin:/bin", "REACH_SECRET_KEY": TEST_SECRET_KEY}
    made = subprocess.run(
        [sys.executable, "-m", "reach", "partners", "create", "Bare", "--no-default-schemas"],
        env={**env, "REACH_DATABASE_URL": api.database_url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    created = orjson.loads(made.stdout)
    bare = PartnerKey(created["id"], created["secret"], created["name"])

    assert names(api, bare) == set()
    response = post(api, bare, REACH_EXAMPLE)
    assert response.status_code == 200, response.text
    assert names(api, bare) == {"Customer"}


def test_the_default_is_still_zero_setup_and_the_example_conflicts_with_it(
    api: Harness, partner: PartnerKey
) -> None:
    assert names(api, partner) == {"customers", "locations", "transactions"}
    errors = conflict_errors(post(api, partner, REACH_EXAMPLE))
    assert any("Customers" in e for e in errors), errors


def test_deleting_the_built_ins_frees_their_names_for_reachs_example(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    old = api.client.get(f"{BASE}/customers", headers=api.partner_headers(partner)).json()["data"]

    # transactions references customers: it goes first (see the reference test below).
    assert delete(api, partner, "transactions").status_code == 200
    response = delete(api, partner, "customers")
    assert response.status_code == 200, response.text
    gone = response.json()["data"]
    assert gone["id"] == old["id"]
    assert gone["deactivatedAt"] is not None
    assert gone["deactivated_at"] == gone["deactivatedAt"]
    assert gone["versionNumber"] == old["versionNumber"] + 1

    for key in ("customers", old["id"], "CUSTOMERS"):
        found = api.client.get(f"{BASE}/{key}", headers=api.partner_headers(partner))
        assert found.status_code == 404, (key, found.text)
    assert names(api, partner) == {"locations"}
    headers = api.tenant_headers(partner, tenant)
    assert api.client.get("/api/resources/customers", headers=headers).status_code == 404
    assert delete(api, partner, "customers").status_code == 404  # already gone

    made = post(api, partner, REACH_EXAMPLE)
    assert made.status_code == 200, made.text
    new = made.json()["data"]
    assert new["id"] != old["id"]
    assert names(api, partner) == {"locations", "Customer"}
    # The plural path now leads to the new schema: its rules, not the old ones.
    record = api.client.post(
        "/api/resources/Customers", json={"data": {"customerId": "c-1"}}, headers=headers
    )
    assert record.status_code == 200, record.text
    listed = api.client.get("/api/resources/customers", headers=headers)
    assert listed.status_code == 200, listed.text
    results = listed.json()["data"]["results"]
    assert [(r["resourceExternalId"], r["schemaDefinitionId"]) for r in results] == [
        ("c-1", new["id"])
    ]


def test_a_schema_with_records_cannot_be_deleted_until_they_are_gone(
    api: Harness, partner: PartnerKey
) -> None:
    schema = unique("thing").replace("-", "_")
    assert post(api, partner, thing_schema(schema)).status_code == 200
    tenants = [api.new_tenant(partner), api.new_tenant(partner)]
    for n, tenant in enumerate(tenants):
        made = api.client.post(
            f"/api/resources/{schema}",
            json={"data": {"thingId": f"t-{n}"}},
            headers=api.tenant_headers(partner, tenant),
        )
        assert made.status_code == 200, made.text

    errors = conflict_errors(delete(api, partner, schema))
    assert errors == ["2 record(s) in the partner's tenants; delete them first"]
    assert schema in names(api, partner)

    first = api.client.delete(
        f"/api/resources/{schema}/t-0", headers=api.tenant_headers(partner, tenants[0])
    )
    assert first.status_code == 200, first.text
    assert conflict_errors(delete(api, partner, schema))[0].startswith("1 record(s)")
    # A deleted tenant's records are out of reach for good: they no longer hold the schema.
    dropped = api.client.delete(
        f"/partner/tenants/{tenants[1]}", headers=api.partner_headers(partner)
    )
    assert dropped.status_code == 200, dropped.text
    assert delete(api, partner, schema).status_code == 200
    assert schema not in names(api, partner)


def test_a_referenced_schema_cannot_be_deleted_and_the_error_names_the_referrer(
    api: Harness, partner: PartnerKey
) -> None:
    errors = conflict_errors(delete(api, partner, "customers"))
    assert errors == [
        "schema 'transactions' references it ($ref); change or delete that schema first"
    ]

    target = unique("target").replace("-", "_")
    made = post(api, partner, thing_schema(target))
    assert made.status_code == 200, made.text
    referrer = unique("referrer").replace("-", "_")
    body = thing_schema(referrer, owner={"$ref": f"reach:schemas/{made.json()['data']['id']}"})
    assert post(api, partner, body).status_code == 200
    errors = conflict_errors(delete(api, partner, target))
    assert errors == [
        f"schema '{referrer}' references it ($ref); change or delete that schema first"
    ]

    assert delete(api, partner, referrer).status_code == 200
    assert delete(api, partner, target).status_code == 200


def test_a_deleted_schema_cannot_be_referenced_by_a_new_one(
    api: Harness, partner: PartnerKey
) -> None:
    target = unique("gone").replace("-", "_")
    made = post(api, partner, thing_schema(target)).json()["data"]
    assert delete(api, partner, target).status_code == 200
    for key in (target, made["id"]):
        body = thing_schema(unique("r").replace("-", "_"), owner={"$ref": f"reach:schemas/{key}"})
        response = post(api, partner, body)
        assert response.status_code == 400, response.text


def test_an_unfinished_batch_holds_its_schema(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """A batch waiting for a missing ``$ref`` target keeps writing to its schema later."""
    headers = api.tenant_headers(partner, tenant)
    batch = api.client.post(
        "/api/resources/transactions/batch?dependencyWaitTimeout=60",
        json={
            "resources": [
                {
                    "transactionId": "tx-1",
                    "transactionDate": "2026-01-01T00:00:00Z",
                    "transactionTotal": 1,
                    "customerId": "not-yet",
                }
            ]
        },
        headers=headers,
    )
    assert batch.status_code == 202, batch.text
    batch_id = batch.json()["data"]["batchId"]

    errors = conflict_errors(delete(api, partner, "transactions"))
    assert errors == ["1 unfinished batch(es) write to it; wait for them to finish"]

    api.client.post("/api/resources/customers", json={"data": customer("not-yet")}, headers=headers)
    wait_for_batch(api, headers, batch_id)
    removed = api.client.delete("/api/resources/transactions/tx-1", headers=headers)
    assert removed.status_code == 200, removed.text
    assert delete(api, partner, "transactions").status_code == 200


@pytest.mark.parametrize("by", ["name", "id"])
def test_another_partner_can_neither_delete_nor_see_a_schema(api: Harness, by: str) -> None:
    owner, other = api.new_partner(), api.new_partner()
    schema = unique("mine").replace("-", "_")
    made = post(api, owner, thing_schema(schema)).json()["data"]
    key = schema if by == "name" else made["id"]

    response = delete(api, other, key)
    assert response.status_code == 404, response.text
    # The key sent is echoed in the message; nothing else of the schema is told.
    assert (made["id"] if by == "name" else schema) not in response.text
    as_tenant = api.client.delete(
        f"{BASE}/{key}", headers=api.tenant_headers(owner, api.new_tenant(owner))
    )
    assert as_tenant.status_code == 403, as_tenant.text
    assert schema in names(api, owner)
