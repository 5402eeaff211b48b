"""Batch patch: each item names its record by the schema's externalIdField; items for one
record apply in the order they were sent."""

from __future__ import annotations

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey


def _create(api: Harness, headers: dict[str, str], *ids: str) -> None:
    for external_id in ids:
        response = api.client.post(
            "/api/resources/customers", json={"data": customer(external_id)}, headers=headers
        )
        assert response.status_code == 200, response.text


def test_patches_to_one_record_apply_in_the_order_sent(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _create(api, headers, "p-1", "p-2")
    items = []
    for step in range(1, 301):  # interleaved, so one record's patches span several chunks
        items.append({"customerId": "p-1", "phone": str(step)})
        items.append({"customerId": "p-2", "email": f"v{step}@example.com"})
    items.append({"customerId": "p-1", "phone": None})
    accepted = api.client.patch(
        "/api/resources/customers/batch", json={"resources": items}, headers=headers
    )
    assert accepted.status_code == 202, accepted.text
    assert accepted.json()["data"]["recordCount"] == 601
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "success", batch["errors"]
    assert batch["batchType"] == "PARTNER_RESOURCE_BATCH_PATCH"
    one = api.client.get("/api/resources/customers/p-1", headers=headers).json()["data"]
    two = api.client.get("/api/resources/customers/p-2", headers=headers).json()["data"]
    assert "phone" not in one["result"]["data"]
    assert two["result"]["data"]["email"] == "v300@example.com"
    assert two["result"]["updatedAt"] > two["result"]["createdAt"]


def test_patch_items_that_cannot_apply_fail_alone(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _create(api, headers, "q-1")
    items = [
        {"customerId": "q-1", "email": "ok@example.com"},
        {"customerId": "missing", "email": "x@example.com"},
        {"email": "who@example.com"},
        {"customerId": "q-1", "firstName": None},
        {"customerId": "q-1", "emailOptOut": "yes"},
        {"customerId": "q-1", "nickname": "Q"},
    ]
    accepted = api.client.patch(
        "/api/resources/customers/batch", json={"resources": items}, headers=headers
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "partial_success"
    assert batch["errors"]["summary"] == {
        "invalid_external_id": 1,
        "not_found": 1,
        "unknown_fields": 1,
        "validation_failed": 2,
    }
    details = batch["errors"]["details"]
    assert details["1"]["externalId"] == "missing"
    assert details["1"]["errors"] == ["data.customerId: no customers record 'missing'"]
    assert details["3"]["errors"] == ["data.firstName: required field cannot be removed"]
    assert details["4"]["errors"] == ["data.emailOptOut: expected boolean, got string"]
    record = api.client.get("/api/resources/customers/q-1", headers=headers).json()["data"]
    assert record["result"]["data"]["email"] == "ok@example.com"
    assert record["result"]["data"]["firstName"] == "First q-1"


def test_patch_accepts_ignore_unknown_fields_as_a_string(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _create(api, headers, "s-1")
    accepted = api.client.patch(
        "/api/resources/customers/batch?ignoreUnknownFields=true",
        json={"resources": [{"customerId": "s-1", "nickname": "S", "phone": "1"}]},
        headers=headers,
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "success"
    record = api.client.get("/api/resources/customers/s-1", headers=headers).json()["data"]
    assert record["result"]["data"]["phone"] == "1"
    assert "nickname" not in record["result"]["data"]
