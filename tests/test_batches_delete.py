"""Batch delete: explicit ids or deleteAll, referenced records skipped unless ``cascade``,
and ``dryRun`` — a synchronous preview that changes nothing."""

from __future__ import annotations

from typing import Any

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey
from tests.test_batches_dependencies import transaction

URL = "/api/resources/customers/batch"


def _seed(api: Harness, headers: dict[str, str]) -> None:
    """Customers c-0..c-4; c-1 has two transactions, c-2 one."""
    for i in range(5):
        response = api.client.post(
            "/api/resources/customers", json={"data": customer(f"c-{i}")}, headers=headers
        )
        assert response.status_code == 200, response.text
    for external_id, owner in (("t-1", "c-1"), ("t-2", "c-1"), ("t-3", "c-2")):
        response = api.client.post(
            "/api/resources/transactions",
            json={"data": transaction(external_id, owner)},
            headers=headers,
        )
        assert response.status_code == 200, response.text


def _delete(api: Harness, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.request("DELETE", URL, json=body, headers=headers)
    assert response.status_code in (200, 202), response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _ids(api: Harness, headers: dict[str, str], schema: str) -> set[str]:
    listed = api.client.get(f"/api/resources/{schema}?limit=1000", headers=headers).json()
    return {r["resourceExternalId"] for r in listed["data"]["results"]}


def test_delete_skips_referenced_records_without_cascade(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _seed(api, headers)
    accepted = _delete(api, headers, {"externalIds": ["c-0", "c-1", "c-nope", "c-0"]})
    assert accepted["recordCount"] == 3  # a record named twice is deleted once
    batch = wait_for_batch(api, headers, accepted["batchId"])
    assert batch["batchType"] == "PARTNER_RESOURCE_BATCH_DELETE"
    assert batch["status"] == "partial_success"
    assert batch["progress"]["successfulRecords"] == 1
    assert batch["errors"]["summary"] == {"not_found": 1, "referenced_by_other_records": 1}
    assert batch["errors"]["details"]["1"]["externalId"] == "c-1"
    assert "2 transactions" in batch["errors"]["details"]["1"]["errors"][0]
    assert _ids(api, headers, "customers") == {"c-1", "c-2", "c-3", "c-4"}
    assert _ids(api, headers, "transactions") == {"t-1", "t-2", "t-3"}


def test_cascade_deletes_the_referencing_records_too(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _seed(api, headers)
    accepted = _delete(api, headers, {"externalIds": ["c-1", "c-3"], "cascade": True})
    batch = wait_for_batch(api, headers, accepted["batchId"])
    assert batch["status"] == "success"
    assert batch["cascadedRecords"] == 2
    assert _ids(api, headers, "customers") == {"c-0", "c-2", "c-4"}
    assert _ids(api, headers, "transactions") == {"t-3"}


def test_dry_run_previews_without_changing_anything(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _seed(api, headers)
    ids = ["c-0", "c-1", "c-2", "c-gone"]
    plain = _delete(api, headers, {"externalIds": ids, "dryRun": True})
    assert plain["dryRun"] is True
    assert plain["deletions"] == {"customers": 1}
    assert plain["skippedForReferences"] == {"customers": 2}
    assert plain["notFound"] == 1
    cascaded = _delete(api, headers, {"externalIds": ids, "dryRun": "true", "cascade": True})
    assert cascaded["deletions"] == {"customers": 3, "transactions": 3}
    assert cascaded["totalDeletions"] == 6
    everything = _delete(api, headers, {"deleteAll": True, "dryRun": True})
    assert everything["recordCount"] == 5
    assert everything["deletions"] == {"customers": 3}
    assert everything["skippedForReferences"] == {"customers": 2}
    assert _ids(api, headers, "customers") == {f"c-{i}" for i in range(5)}
    assert _ids(api, headers, "transactions") == {"t-1", "t-2", "t-3"}
    listed = api.client.get("/api/batches", headers=headers).json()["data"]
    assert listed["pagination"]["total"] == 0


def test_delete_all_leaves_referenced_records_unless_cascading(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    _seed(api, headers)
    accepted = _delete(api, headers, {"deleteAll": True, "externalIds": []})
    assert accepted["recordCount"] == 5
    batch = wait_for_batch(api, headers, accepted["batchId"])
    assert batch["status"] == "partial_success"
    assert batch["progress"]["totalRecords"] == 5
    assert batch["progress"]["successfulRecords"] == 3
    assert batch["errors"]["summary"] == {"referenced_by_other_records": 2}
    assert _ids(api, headers, "customers") == {"c-1", "c-2"}

    accepted = _delete(api, headers, {"deleteAll": True, "cascade": True})
    batch = wait_for_batch(api, headers, accepted["batchId"])
    assert batch["status"] == "success"
    assert batch["cascadedRecords"] == 3
    assert _ids(api, headers, "customers") == set()
    assert _ids(api, headers, "transactions") == set()


def test_delete_all_of_an_empty_schema_succeeds(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    accepted = _delete(api, headers, {"deleteAll": True})
    batch = wait_for_batch(api, headers, accepted["batchId"])
    assert batch["status"] == "success"
    assert batch["progress"]["totalRecords"] == 0


def test_bad_delete_requests_are_400s(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    _seed(api, headers)
    bodies: list[Any] = [
        {},
        {"externalIds": []},
        {"externalIds": ["c-0"], "deleteAll": True},
        {"externalIds": "c-0"},
        {"externalIds": [5]},
        {"externalIds": [""]},
        {"externalIds": [f"c-{i}" for i in range(1001)]},
        {"externalIds": ["c-0"], "cascade": "sometimes"},
        {"externalIds": ["c-0"], "force": True},
        ["c-0"],
    ]
    for body in bodies:
        response = api.client.request("DELETE", URL, json=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json()["errors"], body
    assert _ids(api, headers, "customers") == {f"c-{i}" for i in range(5)}
    listed = api.client.get("/api/batches", headers=headers).json()["data"]
    assert listed["pagination"]["total"] == 0
