"""Tenant isolation on every resource route.

Tenant A (of partner 1) owns a customer and a transaction. Intruders try to read, change,
delete or merely learn of them:

* tenant B of the same partner (its own token, or the partner token naming B);
* the tenant of partner 2 that has the same external id as A (its token, or partner 2's
  token naming that external id — or naming A's UUID).

Each gets what a tenant with no such record gets — 404, or a brand-new record of its own —
never a byte of A's data, and A's records are unchanged afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.contract.resources import create, create_customer, read, unique, url
from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey

Headers = dict[str, str]
SECRET_EMAIL = "secret-a@example.com"
SECRET_PHONE = "+1-555-0100-secret"


@dataclass
class World:
    owner: Headers
    customer: dict[str, Any]
    transaction: dict[str, Any]
    tenant_id: str
    intruder: Headers

    def secrets(self) -> list[str]:
        return [
            self.customer["id"],
            self.transaction["id"],
            self.tenant_id,
            SECRET_EMAIL,
            SECRET_PHONE,
        ]

    def assert_nothing_leaked(self, response: Any) -> None:
        for secret in self.secrets():
            assert secret not in response.text, (secret, response.text)

    def assert_untouched(self, api: Harness) -> None:
        assert read(api, self.owner, "customers", "c-secret") == self.customer
        assert read(api, self.owner, "transactions", "t-secret") == self.transaction
        listed = api.client.get(url("customers"), headers=self.owner).json()["data"]
        assert listed["results"] == [self.customer]


INTRUDERS = [
    "tenant B token",
    "partner token naming tenant B",
    "same-named tenant of partner 2",
    "partner 2 naming the same external id",
]


@pytest.fixture(params=INTRUDERS)
def world(api: Harness, request: pytest.FixtureRequest) -> World:
    partner_1 = api.new_partner()
    partner_2 = api.new_partner()
    shared_external_id = unique("shared")
    tenant_a = api.new_tenant(partner_1, shared_external_id)
    tenant_b = api.new_tenant(partner_1)
    api.new_tenant(partner_2, shared_external_id)
    owner = api.tenant_headers(partner_1, tenant_a)
    customer = create_customer(api, owner, "c-secret", email=SECRET_EMAIL, phone=SECRET_PHONE)
    transaction = create(
        api,
        owner,
        "transactions",
        {
            "transactionId": "t-secret",
            "customerId": "c-secret",
            "transactionDate": "2026-01-01T00:00:00Z",
            "transactionTotal": 99.5,
        },
    )
    intruders: dict[str, tuple[PartnerKey, Headers]] = {
        "tenant B token": (partner_1, api.tenant_headers(partner_1, tenant_b)),
        "partner token naming tenant B": (partner_1, api.partner_headers(partner_1, tenant_b)),
        "same-named tenant of partner 2": (
            partner_2,
            api.tenant_headers(partner_2, shared_external_id),
        ),
        "partner 2 naming the same external id": (
            partner_2,
            api.partner_headers(partner_2, shared_external_id),
        ),
    }
    _, intruder = intruders[request.param]
    return World(owner, customer, transaction, customer["businessId"], intruder)


def test_get_of_another_tenants_record_is_404(api: Harness, world: World) -> None:
    for schema, key in (("customers", "c-secret"), ("transactions", "t-secret")):
        response = api.client.get(url(schema, key), headers=world.intruder)
        assert_contract(response, 404)
        world.assert_nothing_leaked(response)
    included = api.client.get(
        url("transactions", "t-secret") + "?include=customerId", headers=world.intruder
    )
    assert included.status_code == 404
    world.assert_nothing_leaked(included)
    world.assert_untouched(api)


def test_patch_of_another_tenants_record_is_404_and_changes_nothing(
    api: Harness, world: World
) -> None:
    response = api.client.patch(
        url("customers", "c-secret"),
        json={"data": {"email": "stolen@example.com"}},
        headers=world.intruder,
    )

    assert_contract(response, 404)
    world.assert_nothing_leaked(response)
    world.assert_untouched(api)


def test_delete_of_another_tenants_record_is_404_and_deletes_nothing(
    api: Harness, world: World
) -> None:
    for query in ("", "?cascade=true"):
        response = api.client.delete(url("customers", "c-secret") + query, headers=world.intruder)
        assert_contract(response, 404)
        world.assert_nothing_leaked(response)
    response = api.client.delete(url("transactions", "t-secret"), headers=world.intruder)
    assert response.status_code == 404
    world.assert_untouched(api)


def test_list_shows_none_of_another_tenants_records(api: Harness, world: World) -> None:
    for schema in ("customers", "transactions"):
        for query in ("", "?filter[email]=" + SECRET_EMAIL, "?limit=1000"):
            if "email" in query and schema != "customers":
                continue
            response = api.client.get(url(schema) + query, headers=world.intruder)
            assert response.status_code == 200, response.text
            page = response.json()["data"]
            assert page["results"] == []
            assert page["pagination"]["total"] == 0
            world.assert_nothing_leaked(response)
    world.assert_untouched(api)


@pytest.mark.parametrize("legacy", [False, True])
def test_creating_the_same_key_elsewhere_makes_a_separate_record(
    api: Harness, world: World, legacy: bool
) -> None:
    # Even onconflict=reject must not reveal that A has this key: the intruder's tenant
    # has no such record, so it gets a new record of its own.
    target = url("customers", "c-secret") if legacy else url("customers")
    body = {
        "data": {
            "customerId": "c-secret",
            "firstName": "Eve",
            "lastName": "Intruder",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    }

    response = api.client.post(target + "?onconflict=reject", json=body, headers=world.intruder)

    assert response.status_code == 200, response.text
    record = response.json()["data"]
    assert record["id"] != world.customer["id"]
    assert record["businessId"] != world.tenant_id
    assert record["data"] == {**body["data"], "emailOptOut": False, "smsOptOut": True}
    world.assert_nothing_leaked(response)
    world.assert_untouched(api)


def test_upsert_of_the_same_key_elsewhere_does_not_merge_into_the_owners_record(
    api: Harness, world: World
) -> None:
    response = api.client.post(
        url("customers"),
        json={"data": {"customerId": "c-secret", "email": "stolen@example.com"}},
        headers=world.intruder,
    )

    # Not a merge into A's record (which would have all required fields): a create that
    # lacks them, exactly as for a key nobody has.
    assert response.status_code == 400, response.text
    world.assert_nothing_leaked(response)
    world.assert_untouched(api)


def test_another_tenants_record_cannot_be_referenced(api: Harness, world: World) -> None:
    def attempt(customer_id: str) -> Any:
        return api.client.post(
            url("transactions"),
            json={
                "data": {
                    "transactionId": unique("t"),
                    "customerId": customer_id,
                    "transactionDate": "2026-01-01T00:00:00Z",
                    "transactionTotal": 1,
                }
            },
            headers=world.intruder,
        )

    theirs = attempt("c-secret")
    nobodys = attempt("c-nobody")

    assert theirs.status_code == nobodys.status_code == 400
    assert theirs.json()["errors"] == [
        e.replace("c-nobody", "c-secret") for e in nobodys.json()["errors"]
    ]
    world.assert_nothing_leaked(theirs)
    world.assert_untouched(api)


def test_a_partner_cannot_reach_another_partners_tenant_by_uuid(api: Harness) -> None:
    partner_1 = api.new_partner()
    partner_2 = api.new_partner()
    tenant_a = api.new_tenant(partner_1)
    owner = api.tenant_headers(partner_1, tenant_a)
    customer = create_customer(api, owner, "c-secret", email=SECRET_EMAIL)
    headers = api.partner_headers(partner_2, customer["businessId"])

    responses = [
        api.client.get(url("customers", "c-secret"), headers=headers),
        api.client.get(url("customers"), headers=headers),
        api.client.patch(url("customers", "c-secret"), json={"data": {}}, headers=headers),
        api.client.delete(url("customers", "c-secret"), headers=headers),
        api.client.post(url("customers"), json={"data": {"customerId": "x"}}, headers=headers),
    ]

    for response in responses:
        assert response.status_code == 404, response.text
        assert response.json()["data"]["error"]
        assert customer["id"] not in response.text
        assert SECRET_EMAIL not in response.text
    assert read(api, owner, "customers", "c-secret") == customer


def test_a_tenant_token_cannot_name_another_tenant_in_the_header(api: Harness) -> None:
    partner = api.new_partner()
    tenant_a = api.new_tenant(partner)
    tenant_b = api.new_tenant(partner)
    owner = api.tenant_headers(partner, tenant_a)
    customer = create_customer(api, owner, "c-secret", email=SECRET_EMAIL)
    headers = {**api.tenant_headers(partner, tenant_b), "reach-tenant-id": tenant_a}

    responses = [
        api.client.get(url("customers", "c-secret"), headers=headers),
        api.client.get(url("customers"), headers=headers),
        api.client.patch(
            url("customers", "c-secret"), json={"data": {"email": "x@y.z"}}, headers=headers
        ),
        api.client.delete(url("customers", "c-secret"), headers=headers),
    ]

    for response in responses:
        # Refused whether or not the named tenant exists (the tenants module's decision).
        assert response.status_code == 403, response.text
        assert customer["id"] not in response.text
        assert SECRET_EMAIL not in response.text
    assert read(api, owner, "customers", "c-secret") == customer


def test_another_partners_custom_schema_is_unknown(api: Harness) -> None:
    partner_1 = api.new_partner()
    partner_2 = api.new_partner()
    response = api.client.post(
        "/partner/schema-definitions",
        json={
            "name": "secretthing",
            "externalIdField": "k",
            "schema": {"type": "object", "properties": {"k": {"type": "string"}}},
        },
        headers=api.partner_headers(partner_1),
    )
    assert response.status_code == 200, response.text
    schema_id = response.json()["data"]["id"]
    intruder = api.tenant_headers(partner_2, api.new_tenant(partner_2))

    for schema in ("secretthing", schema_id):
        for method, target in (("GET", url(schema)), ("GET", url(schema, "k1"))):
            found = api.client.request(method, target, headers=intruder)
            assert found.status_code == 404, found.text
        posted = api.client.post(url(schema), json={"data": {"k": "k1"}}, headers=intruder)
        assert posted.status_code == 404, posted.text
