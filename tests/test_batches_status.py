"""Reading batches: one batch's status, the paginated list, and tenant isolation."""

from __future__ import annotations

import uuid

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey


def _upload(api: Harness, headers: dict[str, str], *ids: str) -> str:
    response = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer(i) for i in ids]},
        headers=headers,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["success"] is True
    batch_id: str = body["data"]["batchId"]
    return batch_id


def test_a_batch_reports_its_schema_and_timestamps(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    batch_id = _upload(api, headers, "t-1")
    batch = wait_for_batch(api, headers, batch_id)
    assert batch["batchId"] == batch_id
    assert batch["schemaName"] == "customers"
    assert batch["createdAt"] <= batch["startedAt"] <= batch["completedAt"]
    assert batch["completedAt"].endswith("Z")
    assert batch["errors"] == {"summary": {}, "details": {}, "message": "No errors"}
    pending = wait_for_batch(api, headers, batch_id, includePendingDetails="true")
    assert pending["pendingResources"] == []


def test_another_tenant_or_partner_cannot_see_a_batch(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    batch_id = _upload(api, headers, "i-1")
    wait_for_batch(api, headers, batch_id)
    # The owner's partner token, naming the tenant, sees it.
    as_partner = api.partner_headers(partner, tenant)
    assert api.client.get(f"/api/batches/{batch_id}", headers=as_partner).status_code == 200

    other_tenant = api.new_tenant(partner)
    other_partner = api.new_partner()
    stranger = api.new_tenant(other_partner)
    for outsider in (
        api.tenant_headers(partner, other_tenant),
        api.partner_headers(partner, other_tenant),
        api.tenant_headers(other_partner, stranger),
        api.partner_headers(other_partner, stranger),
    ):
        response = api.client.get(f"/api/batches/{batch_id}", headers=outsider)
        assert response.status_code == 404
        assert response.json()["success"] is False
        listed = api.client.get("/api/batches", headers=outsider).json()["data"]
        assert batch_id not in [b["batchId"] for b in listed["results"]]
    # The other partner cannot even name the owner's tenant.
    sneaky = api.partner_headers(other_partner, tenant)
    assert api.client.get(f"/api/batches/{batch_id}", headers=sneaky).status_code == 404
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert api.client.get(f"/api/batches/{unknown}", headers=headers).status_code == 404


def test_batches_list_newest_first_with_a_cursor(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    ids = [_upload(api, headers, f"l-{n}") for n in range(3)]
    deleted = api.client.request(
        "DELETE",
        "/api/resources/customers/batch",
        json={"externalIds": ["l-0"]},
        headers=headers,
    )
    assert deleted.status_code == 202
    for batch_id in ids:
        wait_for_batch(api, headers, batch_id)

    first = api.client.get("/api/batches?limit=2", headers=headers).json()["data"]
    assert first["pagination"]["total"] == 4
    assert first["pagination"]["hasNextPage"] is True
    assert first["results"][0]["batchType"] == "PARTNER_RESOURCE_BATCH_DELETE"
    assert first["results"][1]["batchId"] == ids[2]
    cursor = first["pagination"]["cursor"]
    second = api.client.get(f"/api/batches?limit=2&cursor={cursor}", headers=headers).json()
    page = second["data"]
    assert [b["batchId"] for b in page["results"]] == [ids[1], ids[0]]
    assert page["pagination"]["hasNextPage"] is False
    assert page["pagination"]["cursor"] is None

    oldest = api.client.get("/api/batches?sortOrder=asc&limit=1", headers=headers).json()
    assert oldest["data"]["results"][0]["batchId"] == ids[0]
    ingests = api.client.get(
        "/api/batches?batchType=PARTNER_RESOURCE_JSON_INGEST", headers=headers
    ).json()["data"]
    assert ingests["pagination"]["total"] == 3
    assert {b["batchType"] for b in ingests["results"]} == {"PARTNER_RESOURCE_JSON_INGEST"}


def test_bad_list_parameters_are_400s(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    for query in (
        "batchType=PARTNER_RESOURCE_NOTHING",
        "limit=0",
        "limit=1001",
        "cursor=garbage",
        "sortBy=name",
        "sortOrder=sideways",
    ):
        response = api.client.get(f"/api/batches?{query}", headers=headers)
        assert response.status_code == 400, query
        assert response.json()["success"] is False
    response = api.client.get(
        f"/api/batches/{uuid.uuid4()}?includePendingDetails=perhaps", headers=headers
    )
    assert response.status_code == 400
