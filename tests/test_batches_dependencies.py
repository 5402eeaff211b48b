"""``dependencyWaitTimeout``: items whose ``$ref`` target does not exist yet wait for it (and
apply once it is written by any path), or fail when they expire; with 0 they fail at once."""

from __future__ import annotations

import time
from typing import Any

from tests.batch_helpers import batch_status, customer, wait_for_batch
from tests.harness import Harness, PartnerKey


def transaction(external_id: str, customer_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "transactionId": external_id,
        "customerId": customer_id,
        "transactionDate": "2026-02-01T10:00:00Z",
        "transactionTotal": 12.5,
        **fields,
    }


def _upload_transactions(
    api: Harness, headers: dict[str, str], items: list[dict[str, Any]], wait: int
) -> str:
    response = api.client.post(
        f"/api/resources/transactions/batch?dependencyWaitTimeout={wait}",
        json={"resources": items},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    batch_id: str = response.json()["data"]["batchId"]
    return batch_id


def test_without_a_wait_a_missing_dependency_fails_at_once(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    api.client.post("/api/resources/customers", json={"data": customer("c-here")}, headers=headers)
    batch_id = _upload_transactions(
        api, headers, [transaction("t-1", "c-here"), transaction("t-2", "c-nowhere")], wait=0
    )
    batch = wait_for_batch(api, headers, batch_id)
    assert batch["status"] == "partial_success"
    assert batch["errors"]["summary"] == {"missing_dependency": 1}
    assert batch["errors"]["details"]["1"] == {
        "index": 1,
        "externalId": "t-2",
        "errors": ["data.customerId: no customers record 'c-nowhere'"],
    }


def test_a_waiting_item_applies_when_its_dependency_is_created_by_a_single_write(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    batch_id = _upload_transactions(
        api,
        headers,
        [transaction("t-1", "c-later"), transaction("t-2", "c-later"), transaction("t-3", "c-x")],
        wait=3600,
    )
    batch = _wait_for_pending(api, headers, batch_id, 3, includePendingDetails="true")
    assert batch["progress"]["processedRecords"] == 0
    pending = batch["pendingResources"]
    assert [p["resourceExternalId"] for p in pending] == ["t-1", "t-2", "t-3"]
    assert pending[0]["schemaName"] == "transactions"
    assert pending[0]["missingDependencies"] == [
        {
            "schemaDefinitionId": pending[0]["missingDependencies"][0]["schemaDefinitionId"],
            "externalId": "c-later",
            "schemaName": "customers",
        }
    ]
    assert pending[0]["expiresAt"] > pending[0]["createdAt"]
    assert api.client.get("/api/resources/transactions/t-1", headers=headers).status_code == 404

    created = api.client.post(
        "/api/resources/customers", json={"data": customer("c-later")}, headers=headers
    )
    assert created.status_code == 200
    batch = _wait_for_pending(api, headers, batch_id, 1)
    assert batch["status"] == "processing"
    assert batch["progress"]["successfulRecords"] == 2
    got = api.client.get("/api/resources/transactions/t-1?include=customerId", headers=headers)
    assert got.status_code == 200
    assert got.json()["data"]["included"][0]["resourceExternalId"] == "c-later"

    # The last one is satisfied by another batch.
    other = api.client.post(
        "/api/resources/customers/batch", json={"resources": [customer("c-x")]}, headers=headers
    )
    assert other.status_code == 202
    batch = wait_for_batch(api, headers, batch_id, includePendingDetails="true")
    assert batch["status"] == "success"
    assert batch["progress"]["pendingRecords"] == 0
    assert batch["pendingResources"] == []


def _wait_for_pending(
    api: Harness, headers: dict[str, str], batch_id: str, pending: int, **params: str
) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        batch = batch_status(api, headers, batch_id, **params)
        if batch["progress"]["pendingRecords"] == pending:
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.02)


def test_a_waiting_item_fails_when_its_wait_expires(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    batch_id = _upload_transactions(api, headers, [transaction("t-late", "c-never")], wait=1)
    batch = wait_for_batch(api, headers, batch_id, deadline_seconds=30)
    assert batch["status"] == "failed"
    assert batch["progress"]["pendingRecords"] == 0
    assert batch["progress"]["failedRecords"] == 1
    assert batch["errors"]["summary"] == {"dependency_timeout": 1}
    assert "c-never" in batch["errors"]["details"]["0"]["errors"][0]
    # Created too late: the dropped item stays dropped.
    api.client.post("/api/resources/customers", json={"data": customer("c-never")}, headers=headers)
    assert api.client.get("/api/resources/transactions/t-late", headers=headers).status_code == 404
