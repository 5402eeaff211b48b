from __future__ import annotations

from tests.harness import Harness, PartnerKey


def test_customer_round_trip(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    body = {
        "data": {
            "customerId": "c-1",
            "firstName": "Ada",
            "lastName": "L",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    }
    created = api.client.post("/api/resources/customers", json=body, headers=headers)
    assert created.status_code == 200, created.text
    patched = api.client.patch(
        "/api/resources/customers/c-1", json={"data": {"email": "a@b.c"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["result"]["data"]["email"] == "a@b.c"
