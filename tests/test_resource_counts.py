"""A list's ``total`` is kept as a counter (not counted per request): prove it stays exact
through every path that creates or deletes records."""

from __future__ import annotations

from typing import Any

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey


def _walk(api: Harness, headers: dict[str, str], schema: str) -> tuple[list[str], int]:
    """Every external id by walking the pages, and the total the first page reports."""
    ids: list[str] = []
    cursor: str | None = None
    total = -1
    while True:
        params: dict[str, Any] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        body = api.client.get(f"/api/resources/{schema}", headers=headers, params=params).json()
        page = body["data"]
        if total < 0:
            total = page["pagination"]["total"]
        ids.extend(r["resourceExternalId"] for r in page["results"])
        if not page["pagination"]["hasNextPage"]:
            return ids, total
        cursor = page["pagination"]["cursor"]


def _assert_total_matches(api: Harness, headers: dict[str, str], schema: str, n: int) -> None:
    ids, total = _walk(api, headers, schema)
    assert len(ids) == n
    assert total == n


def test_total_follows_creates_upserts_batches_and_deletes(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    for i in range(5):
        created = api.client.post(
            "/api/resources/customers", json={"data": customer(f"c-{i}")}, headers=headers
        )
        assert created.status_code == 200, created.text
    # An upsert of an existing key and a no-op patch must not count twice.
    api.client.post("/api/resources/customers", json={"data": customer("c-0")}, headers=headers)
    _assert_total_matches(api, headers, "customers", 5)

    upload = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer(f"c-{i}") for i in range(3, 12)]},
        headers=headers,
    )
    assert upload.status_code == 202, upload.text
    wait_for_batch(api, headers, upload.json()["data"]["batchId"])
    _assert_total_matches(api, headers, "customers", 12)

    assert api.client.delete("/api/resources/customers/c-0", headers=headers).status_code == 200
    removal = api.client.request(
        "DELETE",
        "/api/resources/customers/batch",
        json={"externalIds": ["c-1", "c-2", "no-such"]},
        headers=headers,
    )
    assert removal.status_code == 202, removal.text
    wait_for_batch(api, headers, removal.json()["data"]["batchId"])
    _assert_total_matches(api, headers, "customers", 9)


def test_cascade_delete_lowers_the_total_of_the_referencing_schema(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    api.client.post("/api/resources/customers", json={"data": customer("buyer")}, headers=headers)
    for i in range(3):
        sale = {
            "transactionId": f"t-{i}",
            "customerId": "buyer",
            "transactionDate": "2026-01-01T00:00:00Z",
            "transactionTotal": 10,
        }
        made = api.client.post("/api/resources/transactions", json={"data": sale}, headers=headers)
        assert made.status_code == 200, made.text
    _assert_total_matches(api, headers, "transactions", 3)
    gone = api.client.delete(
        "/api/resources/customers/buyer", params={"cascade": "true"}, headers=headers
    )
    assert gone.status_code == 200, gone.text
    _assert_total_matches(api, headers, "transactions", 0)
    _assert_total_matches(api, headers, "customers", 0)


def test_totals_are_per_tenant(api: Harness, partner: PartnerKey, tenant: str) -> None:
    other = api.new_tenant(partner)
    mine = api.tenant_headers(partner, tenant)
    theirs = api.tenant_headers(partner, other)
    for i in range(4):
        api.client.post("/api/resources/customers", json={"data": customer(f"m-{i}")}, headers=mine)
    api.client.post("/api/resources/customers", json={"data": customer("x")}, headers=theirs)
    _assert_total_matches(api, mine, "customers", 4)
    _assert_total_matches(api, theirs, "customers", 1)
