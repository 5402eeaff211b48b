"""The document describes what the server really answers: live responses, success and error,
validate against the response schema the document gives for their operation and status."""

from __future__ import annotations

import uuid
from typing import Any

from tests.harness import Harness, PartnerKey
from tests.openapi_support import assert_documented, fetch_document

GENERIC = "/api/resources/{schemaDefinitionNameOrId}"
GENERIC_ONE = GENERIC + "/{externalId}"
CUSTOMERS = "/api/resources/customers"
CUSTOMER = CUSTOMERS + "/{externalId}"


def _customer(customer_id: str) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": "2026-01-02T03:04:05Z",
    }


def test_service_and_partner_responses_match_the_document(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    document = fetch_document(api)
    headers = api.partner_headers(partner)
    assert_documented(document, "/healthz", "get", api.client.get("/healthz"))
    assert_documented(document, "/readyz", "get", api.client.get("/readyz"))
    check = [
        ("/partner/tenants", "get", api.client.get("/partner/tenants", headers=headers)),
        (
            "/partner/tenants/{id}",
            "get",
            api.client.get(f"/partner/tenants/{tenant}", headers=headers),
        ),
        (
            "/partner/tenants/{id}",
            "patch",
            api.client.patch(
                f"/partner/tenants/{tenant}", json={"website": "https://x.test"}, headers=headers
            ),
        ),
        (
            "/partner/schema-definitions",
            "get",
            api.client.get("/partner/schema-definitions", headers=headers),
        ),
        (
            "/partner/schema-definitions/{idOrName}",
            "get",
            api.client.get("/partner/schema-definitions/transactions", headers=headers),
        ),
    ]
    for path, method, response in check:
        assert response.status_code == 200, response.text
        assert_documented(document, path, method, response)


def test_partner_error_responses_match_the_document(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    document = fetch_document(api)
    headers = api.partner_headers(partner)
    duplicate = api.client.post(
        "/partner/tenants",
        json={"external_id": tenant, "name": "Again", "locations": []},
        headers=headers,
    )
    assert duplicate.status_code == 409
    assert_documented(document, "/partner/tenants", "post", duplicate)
    invalid = api.client.post("/partner/tenants", json={"name": 3}, headers=headers)
    assert invalid.status_code == 400
    assert_documented(document, "/partner/tenants", "post", invalid)
    no_token = api.client.get("/partner/tenants")
    assert no_token.status_code == 401
    assert_documented(document, "/partner/tenants", "get", no_token)
    tenant_token = api.client.get("/partner/tenants", headers=api.tenant_headers(partner, tenant))
    assert tenant_token.status_code == 403
    assert_documented(document, "/partner/tenants", "get", tenant_token)
    missing = api.client.get("/partner/tenants/no-such-tenant", headers=headers)
    assert missing.status_code == 404
    assert_documented(document, "/partner/tenants/{id}", "get", missing)
    wrong_type = api.client.post(
        "/partner/tenants", content=b"x", headers={**headers, "content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert_documented(document, "/partner/tenants", "post", wrong_type)


def test_resource_responses_match_both_the_generic_and_the_explicit_paths(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    document = fetch_document(api)
    headers = api.tenant_headers(partner, tenant)
    key = f"c-{uuid.uuid4().hex[:8]}"
    created = api.client.post(CUSTOMERS, json={"data": _customer(key)}, headers=headers)
    got = api.client.get(f"{CUSTOMERS}/{key}", headers=headers)
    patched = api.client.patch(
        f"{CUSTOMERS}/{key}", json={"data": {"email": "a@b.c"}}, headers=headers
    )
    listed = api.client.get(CUSTOMERS, params={"limit": 1}, headers=headers)
    deleted = api.client.delete(f"{CUSTOMERS}/{key}", headers=headers)
    calls = [
        (CUSTOMERS, GENERIC, "post", created),
        (CUSTOMER, GENERIC_ONE, "get", got),
        (CUSTOMER, GENERIC_ONE, "patch", patched),
        (CUSTOMERS, GENERIC, "get", listed),
        (CUSTOMER, GENERIC_ONE, "delete", deleted),
    ]
    for explicit, generic, method, response in calls:
        assert response.status_code == 200, (method, response.text)
        assert_documented(document, explicit, method, response)
        assert_documented(document, generic, method, response)


def test_resource_error_responses_match_the_document(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    document = fetch_document(api)
    headers = api.tenant_headers(partner, tenant)
    unknown = api.client.patch(
        f"{CUSTOMERS}/nobody", json={"data": {"shoeSize": 9}}, headers=headers
    )
    assert unknown.status_code == 400
    assert_documented(document, CUSTOMER, "patch", unknown)
    missing = api.client.patch(
        f"{CUSTOMERS}/nobody", json={"data": {"email": "x"}}, headers=headers
    )
    assert missing.status_code == 404
    assert_documented(document, CUSTOMER, "patch", missing)
    key = f"c-{uuid.uuid4().hex[:8]}"
    first = api.client.post(CUSTOMERS, json={"data": _customer(key)}, headers=headers)
    assert first.status_code == 200, first.text
    again = api.client.post(
        CUSTOMERS, params={"onconflict": "reject"}, json={"data": _customer(key)}, headers=headers
    )
    assert again.status_code == 409
    assert_documented(document, CUSTOMERS, "post", again)
    no_tenant = api.client.get(CUSTOMERS, headers=api.partner_headers(partner))
    assert no_tenant.status_code == 400
    assert_documented(document, CUSTOMERS, "get", no_tenant)


def test_custom_schema_records_match_the_partner_document(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    name = f"visits{uuid.uuid4().hex[:6]}"
    schema = {
        "type": "object",
        "properties": {
            "visitId": {"type": "string"},
            "customerId": {"$ref": "reach:schemas/customers"},
            "note": {"type": ["string", "null"]},
            "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        },
        "required": ["visitId"],
    }
    definition = {"name": name, "externalIdField": "visitId", "schema": schema}
    created = api.client.post(
        "/partner/schema-definitions", json=definition, headers=api.partner_headers(partner)
    )
    assert created.status_code == 200, created.text
    document = fetch_document(api, api.partner_headers(partner))
    headers = api.tenant_headers(partner, tenant)
    record = api.client.post(
        f"/api/resources/{name}",
        json={"data": {"visitId": "v1", "rating": 4, "note": "fine"}},
        headers=headers,
    )
    assert record.status_code == 200, record.text
    body = assert_documented(document, f"/api/resources/{name}", "post", record)
    assert body["data"]["data"]["rating"] == 4


def test_batch_responses_match_the_document(api: Harness, partner: PartnerKey, tenant: str) -> None:
    document = fetch_document(api)
    headers = api.tenant_headers(partner, tenant)
    batch = f"{CUSTOMERS}/batch"
    upload = api.client.post(
        batch, json={"resources": [_customer("b-1"), {"customerId": "b-2"}]}, headers=headers
    )
    assert upload.status_code == 202, upload.text
    accepted = assert_documented(document, batch, "post", upload)
    patch = api.client.patch(
        batch, json={"resources": [{"customerId": "b-1", "email": "b@c.d"}]}, headers=headers
    )
    assert patch.status_code == 202, patch.text
    assert_documented(document, batch, "patch", patch)
    preview = api.client.request(
        "DELETE", batch, json={"externalIds": ["b-1"], "dryRun": True}, headers=headers
    )
    assert preview.status_code == 200, preview.text
    assert_documented(document, batch, "delete", preview)
    empty = api.client.post(batch, json={"resources": []}, headers=headers)
    assert empty.status_code == 400
    assert_documented(document, batch, "post", empty)
    batch_id = accepted["data"]["batchId"]
    status = api.client.get(
        f"/api/batches/{batch_id}", params={"includePendingDetails": "true"}, headers=headers
    )
    assert status.status_code == 200, status.text
    assert_documented(document, "/api/batches/{batchId}", "get", status)
    listed = api.client.get("/api/batches", headers=headers)
    assert listed.status_code == 200, listed.text
    assert_documented(document, "/api/batches", "get", listed)
    unknown = api.client.get(f"/api/batches/{uuid.uuid4()}", headers=headers)
    assert unknown.status_code == 404
    assert_documented(document, "/api/batches/{batchId}", "get", unknown)
