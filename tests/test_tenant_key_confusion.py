"""Tenant ids and external ids never share a cache key (issue 11, Medium).

Tenant B's external id may equal sibling A's Reach id only in data stored before the server
refused that (it is now a 409): then a tenant token names B (tokens name external ids) and
``reach-tenant-id`` names A (an id wins), whichever of the two look-ups warms the process's
tenant cache first.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
import pytest

from reach import clock
from reach.storage import tenants as tenant_store
from tests.contract.resources import create, customer
from tests.harness import Harness, PartnerKey

RECORD = "/api/resources/customers/shared-record"


def _create_tenant(api: Harness, partner: PartnerKey, external_id: str) -> str:
    response = api.client.post(
        "/partner/tenants",
        json={"external_id": external_id, "name": f"Tenant {external_id}", "locations": []},
        headers=api.partner_headers(partner),
    )
    assert response.status_code == 200, response.text
    tenant_id: str = response.json()["data"]["id"]
    return tenant_id


def _store_tenant_directly(api: Harness, partner: PartnerKey, external_id: str) -> str:
    """A tenant as an earlier version could store it (the API now refuses this external id)."""
    tenant_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": tenant_id,
        "partner_id": partner.id,
        "external_id": external_id,
        "name": "Tenant B",
        "website": None,
        "attributes": orjson.dumps({}).decode(),
        "created_at": clock.now(),
    }
    api.transaction(lambda conn: tenant_store.insert(conn, values))
    return tenant_id


def _collision(api: Harness) -> tuple[PartnerKey, str, str]:
    """Partner, A's id, B's id; B's external id is A's id; each holds its own record."""
    partner = api.new_partner()
    a_external_id = f"a-{uuid.uuid4().hex[:8]}"
    a_id = _create_tenant(api, partner, a_external_id)
    b_id = _store_tenant_directly(api, partner, external_id=a_id)
    # Written through names no look-up in the tests uses (A's external id, B's id).
    for name, owner in ((a_external_id, "A"), (b_id, "B")):
        record = customer("shared-record", firstName=f"owned by {owner}")
        create(api, api.partner_headers(partner, name), "customers", record)
    return partner, a_id, b_id


def _owner(response: Any) -> str:
    assert response.status_code == 200, response.text
    first_name: str = response.json()["data"]["result"]["data"]["firstName"]
    return first_name.removeprefix("owned by ")


def _as_b(api: Harness, partner: PartnerKey, a_id: str) -> dict[str, str]:
    return api.tenant_headers(partner, a_id)  # B's token: its external id is A's id


def test_tenant_token_first_then_partner_header(api: Harness) -> None:
    partner, a_id, _ = _collision(api)
    assert _owner(api.client.get(RECORD, headers=_as_b(api, partner, a_id))) == "B"
    assert _owner(api.client.get(RECORD, headers=api.partner_headers(partner, a_id))) == "A"
    # And again, now that both look-ups are cached.
    assert _owner(api.client.get(RECORD, headers=_as_b(api, partner, a_id))) == "B"
    assert _owner(api.client.get(RECORD, headers=api.partner_headers(partner, a_id))) == "A"


def test_partner_header_first_then_tenant_token_cannot_read_or_patch_a(api: Harness) -> None:
    partner, a_id, _ = _collision(api)
    assert _owner(api.client.get(RECORD, headers=api.partner_headers(partner, a_id))) == "A"
    assert _owner(api.client.get(RECORD, headers=_as_b(api, partner, a_id))) == "B"
    patched = api.client.patch(
        RECORD,
        json={"data": {"firstName": "owned by B, patched"}},
        headers=_as_b(api, partner, a_id),
    )
    assert patched.status_code == 200, patched.text
    assert _owner(api.client.get(RECORD, headers=api.partner_headers(partner, a_id))) == "A"
    assert _owner(api.client.get(RECORD, headers=_as_b(api, partner, a_id))) == "B, patched"


@pytest.mark.parametrize("field", ["create", "rename"])
def test_an_external_id_equal_to_a_sibling_tenants_id_is_refused(
    api: Harness, partner: PartnerKey, field: str
) -> None:
    a_id = _create_tenant(api, partner, f"a-{uuid.uuid4().hex[:8]}")
    headers = api.partner_headers(partner)
    if field == "create":
        response = api.client.post(
            "/partner/tenants",
            json={"external_id": a_id.upper(), "name": "B", "locations": []},
            headers=headers,
        )
    else:
        b_id = _create_tenant(api, partner, f"b-{uuid.uuid4().hex[:8]}")
        response = api.client.patch(
            f"/partner/tenants/{b_id}", json={"externalId": a_id}, headers=headers
        )
    assert response.status_code == 409, response.text
    assert response.json()["success"] is False
    assert "id of another tenant" in response.json()["message"]


def test_an_external_id_may_look_like_a_uuid(api: Harness, partner: PartnerKey) -> None:
    own_uuid = str(uuid.uuid4())
    tenant_id = _create_tenant(api, partner, own_uuid)
    assert tenant_id != own_uuid
    response = api.client.get(
        "/api/resources/customers", headers=api.tenant_headers(partner, own_uuid)
    )
    assert response.status_code == 200, response.text
    # A tenant may also take its own id as its external id.
    renamed = api.client.patch(
        f"/partner/tenants/{tenant_id}",
        json={"externalId": tenant_id},
        headers=api.partner_headers(partner),
    )
    assert renamed.status_code == 200, renamed.text
