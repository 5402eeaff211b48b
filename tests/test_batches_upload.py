"""Batch upload and patch: accepted with 202, applied by the worker, read back per item."""

from __future__ import annotations

from typing import Any

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey


def test_a_thousand_customer_upload_completes_and_every_record_reads_back(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    body = {"resources": [customer(f"c-{i}") for i in range(1000)]}
    accepted = api.client.post("/api/resources/customers/batch", json=body, headers=headers)
    assert accepted.status_code == 202, accepted.text
    data = accepted.json()["data"]
    assert data["recordCount"] == 1000
    batch = wait_for_batch(api, headers, data["batchId"])
    assert batch["status"] == "success"
    assert batch["batchType"] == "PARTNER_RESOURCE_JSON_INGEST"
    assert batch["progress"] == {
        "totalRecords": 1000,
        "processedRecords": 1000,
        "successfulRecords": 1000,
        "pendingRecords": 0,
        "failedRecords": 0,
        "successRate": 100.0,
    }
    listed = api.client.get("/api/resources/customers?limit=1000", headers=headers).json()["data"]
    assert listed["pagination"]["total"] == 1000
    by_id: dict[str, Any] = {r["resourceExternalId"]: r["data"] for r in listed["results"]}
    assert by_id["c-999"]["firstName"] == "First c-999"
    assert by_id["c-0"]["smsOptOut"] is True  # defaults apply on create, as for single writes


def test_good_and_bad_items_in_one_upload_are_recorded_per_item(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    items: list[Any] = [
        customer("c-0"),
        customer("c-1", firstName=5),
        customer("c-2", favouriteColour="red"),
        {"firstName": "No", "lastName": "Key", "createdAt": "2026-01-01T00:00:00Z"},
        "not an object",
        customer("c-5"),
        customer("c-6", createdAt="yesterday"),
        {"customerId": "c-7"},
    ]
    accepted = api.client.post(
        "/api/resources/customers/batch", json={"resources": items}, headers=headers
    )
    assert accepted.status_code == 202, accepted.text
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "partial_success"
    assert batch["progress"]["successfulRecords"] == 2
    assert batch["progress"]["failedRecords"] == 6
    assert batch["progress"]["successRate"] == 25.0
    errors = batch["errors"]
    assert errors["summary"] == {
        "invalid_external_id": 1,
        "invalid_item": 1,
        "unknown_fields": 1,
        "validation_failed": 3,
    }
    assert errors["message"] == "6 of 8 records failed"
    details = errors["details"]
    assert sorted(details, key=int) == ["1", "2", "3", "4", "6", "7"]
    assert details["1"] == {
        "index": 1,
        "externalId": "c-1",
        "errors": ["data.firstName: expected string, got integer"],
    }
    assert details["2"]["errors"] == ["data.favouriteColour: unknown field"]
    assert details["3"] == {
        "index": 3,
        "externalId": None,
        "errors": ["data.customerId: required field missing"],
    }
    assert details["4"]["errors"] == ["data: expected object, got string"]
    assert "data.createdAt" in details["6"]["errors"][0]
    assert "data.firstName: required field missing" in details["7"]["errors"]
    for good in ("c-0", "c-5"):
        assert (
            api.client.get(f"/api/resources/customers/{good}", headers=headers).status_code == 200
        )
    for bad in ("c-1", "c-2", "c-6", "c-7"):
        assert api.client.get(f"/api/resources/customers/{bad}", headers=headers).status_code == 404


def test_a_batch_where_every_item_fails_is_failed(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    accepted = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [{"customerId": "x"}, 42]},
        headers=headers,
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "failed"
    assert batch["progress"]["successRate"] == 0


def test_unknown_fields_are_dropped_when_ignored(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    for flag in ("true", "True"):
        accepted = api.client.post(
            f"/api/resources/customers/batch?ignoreUnknownFields={flag}",
            json={"resources": [customer(f"u-{flag}", shoeSize=44)]},
            headers=headers,
        )
        batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
        assert batch["status"] == "success", batch
        record = api.client.get(f"/api/resources/customers/u-{flag}", headers=headers).json()
        assert "shoeSize" not in record["data"]["result"]["data"]


def test_upload_merges_into_existing_records_like_a_single_upsert(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    created = api.client.post(
        "/api/resources/customers",
        json={"data": customer("m-1", email="old@example.com", phone="123")},
        headers=headers,
    )
    assert created.status_code == 200, created.text
    accepted = api.client.post(
        "/api/resources/customers/batch",
        json={
            "resources": [
                {"customerId": "m-1", "email": "new@example.com", "phone": None},
                {"customerId": "m-1", "lastName": None},  # a required field cannot be removed
            ]
        },
        headers=headers,
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "partial_success"
    assert batch["errors"]["details"]["1"]["errors"] == [
        "data.lastName: required field cannot be removed"
    ]
    data = api.client.get("/api/resources/customers/m-1", headers=headers).json()["data"]
    document = data["result"]["data"]
    assert document["email"] == "new@example.com"
    assert "phone" not in document
    assert document["firstName"] == "First m-1"  # absent fields are unchanged


def test_items_for_one_record_in_one_upload_apply_in_order(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    accepted = api.client.post(
        "/api/resources/customers/batch",
        json={
            "resources": [
                customer("o-1", email="first@example.com"),
                {"customerId": "o-1", "email": "second@example.com"},
                {"customerId": "o-1", "phone": "555"},
            ]
        },
        headers=headers,
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "success"
    document = api.client.get("/api/resources/customers/o-1", headers=headers).json()["data"]
    assert document["result"]["data"]["email"] == "second@example.com"
    assert document["result"]["data"]["phone"] == "555"


def test_reject_on_conflict_fails_only_the_existing_records(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    api.client.post("/api/resources/customers", json={"data": customer("r-1")}, headers=headers)
    accepted = api.client.post(
        "/api/resources/customers/batch?onconflict=reject",
        json={"resources": [customer("r-1", email="x@example.com"), customer("r-2")]},
        headers=headers,
    )
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["errors"]["summary"] == {"already_exists": 1}
    assert batch["errors"]["details"]["0"]["externalId"] == "r-1"
    kept = api.client.get("/api/resources/customers/r-1", headers=headers).json()["data"]
    assert "email" not in kept["result"]["data"]
    assert api.client.get("/api/resources/customers/r-2", headers=headers).status_code == 200


def test_request_level_problems_are_400s_and_store_nothing(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    url = "/api/resources/customers/batch"
    too_many = {"resources": [customer(f"c-{i}") for i in range(1001)]}
    response = api.client.post(url, json=too_many, headers=headers)
    assert response.status_code == 400
    assert response.json()["errors"] == ["resources: at most 1000 resources per batch, got 1001"]
    for body in (
        {"resources": []},
        {},
        {"resources": {"a": 1}},
        [customer("c")],
        {"resources": [], "x": 1},
    ):
        response = api.client.post(url, json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json()["success"] is False
    for query in (
        "onconflict=merge",
        "dependencyWaitTimeout=86401",
        "dependencyWaitTimeout=-1",
        "dependencyWaitTimeout=soon",
        "ignoreUnknownFields=maybe",
    ):
        response = api.client.post(
            f"{url}?{query}", json={"resources": [customer("c")]}, headers=headers
        )
        assert response.status_code == 400, query
        assert response.json()["errors"][0].startswith(query.split("=")[0]), response.text
    response = api.client.post(
        "/api/resources/no-such-schema/batch", json={"resources": [customer("c")]}, headers=headers
    )
    assert response.status_code == 404
    response = api.client.patch(url, json={"resources": []}, headers=headers)
    assert response.status_code == 400
    listed = api.client.get("/api/batches", headers=headers).json()["data"]
    assert listed["pagination"]["total"] == 0
    assert api.client.get("/api/resources/customers/c", headers=headers).status_code == 404


def test_the_largest_batch_is_accepted(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    response = api.client.post(
        "/api/resources/customers/batch?dependencyWaitTimeout=86400",
        json={"resources": [customer(f"c-{i}") for i in range(1000)]},
        headers=headers,
    )
    assert response.status_code == 202
    assert response.json()["data"]["recordCount"] == 1000


def test_an_item_holding_a_nul_character_fails_alone(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    accepted = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer("n-1", email="a\u0000b@example.com"), customer("n-2")]},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    batch = wait_for_batch(api, headers, accepted.json()["data"]["batchId"])
    assert batch["status"] == "partial_success"
    assert batch["errors"]["details"]["0"] == {
        "index": 0,
        "externalId": "n-1",
        "errors": ["data: must not contain the NUL character (U+0000)"],
    }
    assert api.client.get("/api/resources/customers/n-2", headers=headers).status_code == 200
