"""Addressing records: schemas by name, plural name or id (ignoring case), and external ids
with any characters a partner may use."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.resources import (
    absent,
    create_customer,
    create_schema,
    customer,
    errors_of,
    read,
    url,
)
from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey
from tests.test_resources_create import order_schema

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


@pytest.mark.parametrize(
    "address", ["Order", "order", "ORDER", "Orders", "orders", "oRdErS", "{id}"]
)
def test_a_schema_is_addressed_by_name_plural_or_id_ignoring_case(
    api: Harness, partner: PartnerKey, headers: Headers, address: str
) -> None:
    definition = create_schema(api, partner, order_schema())
    address = address.replace("{id}", definition["id"])

    created = api.client.post(
        url(address), json={"data": {"orderId": "o-1", "total": 1}}, headers=headers
    )
    assert created.status_code == 200, created.text
    assert created.json()["data"]["schemaDefinitionId"] == definition["id"]
    for method in ("get", "patch", "delete"):
        kwargs: dict[str, Any] = {"json": {"data": {"total": 2}}} if method == "patch" else {}
        response = api.client.request(
            method.upper(), url(address, "o-1"), headers=headers, **kwargs
        )
        assert response.status_code == 200, (method, response.text)
    listed = api.client.get(url(address), headers=headers)
    assert listed.status_code == 200
    assert listed.json()["data"]["results"] == []


def test_default_schemas_are_addressed_by_id_too(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    created = create_customer(api, headers, "c-1")
    schema_id = created["schemaDefinitionId"]

    assert read(api, headers, schema_id, "c-1")["id"] == created["id"]
    assert read(api, headers, "CUSTOMERS", "c-1")["id"] == created["id"]


@pytest.mark.parametrize(
    ("method", "single"),
    [
        ("GET", False),
        ("POST", False),
        ("GET", True),
        ("POST", True),
        ("PATCH", True),
        ("DELETE", True),
    ],
)
def test_an_unknown_schema_is_404(
    api: Harness, headers: Headers, method: str, single: bool
) -> None:
    target = url("nosuchschema", "x-1") if single else url("nosuchschema")

    response = api.client.request(
        method, target, headers=headers, json={"data": {"id": "x-1"}} if method != "GET" else None
    )

    body = assert_contract(response, 404)
    assert "nosuchschema" in body["data"]["error"]


def test_another_partners_schema_id_is_404(api: Harness, headers: Headers) -> None:
    other = api.new_partner()
    foreign = create_schema(api, other, order_schema())

    response = api.client.post(
        url(foreign["id"]), json={"data": {"orderId": "o-1", "total": 1}}, headers=headers
    )

    assert_contract(response, 404)


ODD_IDS = [
    "émile-Ünïcødé-☃-名前",
    "with spaces  inside",
    "a/b",
    "a%2Fb",
    "quote'and\"double",
    "semi;colon?query#hash&amp",
    "../..",
    "x" * 255,
]


@pytest.mark.parametrize("external_id", ODD_IDS, ids=range(len(ODD_IDS)))
def test_odd_external_ids_work_on_every_route(
    api: Harness, headers: Headers, external_id: str
) -> None:
    created = create_customer(api, headers, external_id)
    assert created["resourceExternalId"] == external_id

    assert read(api, headers, "customers", external_id)["id"] == created["id"]
    patched = api.client.patch(
        url("customers", external_id), json={"data": {"phone": "+1"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["result"]["resourceExternalId"] == external_id
    listed = api.client.get(url("customers"), headers=headers).json()["data"]["results"]
    assert [r["resourceExternalId"] for r in listed] == [external_id]
    deleted = api.client.delete(url("customers", external_id), headers=headers)
    assert deleted.status_code == 200, deleted.text
    absent(api, headers, "customers", external_id)

    legacy = api.client.post(
        url("customers", external_id), json={"data": customer(external_id)}, headers=headers
    )
    assert legacy.status_code == 200, legacy.text
    assert read(api, headers, "customers", external_id)["data"]["customerId"] == external_id


def test_an_external_id_of_256_characters_is_400_everywhere(api: Harness, headers: Headers) -> None:
    long_id = "y" * 256
    posted = api.client.post(url("customers"), json={"data": customer(long_id)}, headers=headers)
    legacy = api.client.post(
        url("customers", long_id), json={"data": customer(long_id)}, headers=headers
    )
    patched = api.client.patch(
        url("customers", long_id), json={"data": {"phone": "1"}}, headers=headers
    )
    got = api.client.get(url("customers", long_id), headers=headers)
    deleted = api.client.delete(url("customers", long_id), headers=headers)

    assert errors_of(posted) == ["data.customerId: must be 1 to 255 characters"]
    for response in (legacy, patched, got, deleted):
        assert response.status_code == 400, response.text
        assert errors_of(response) == ["externalId: must be 1 to 255 characters"]
    total = api.client.get(url("customers"), headers=headers).json()["data"]["pagination"]
    assert total["total"] == 0


def test_a_nul_character_in_an_external_id_is_400(api: Harness, headers: Headers) -> None:
    posted = api.client.post(url("customers"), json={"data": customer("a\u0000b")}, headers=headers)
    got = api.client.get(url("customers") + "/a%00b", headers=headers)

    assert posted.status_code == 400
    assert errors_of(posted)[0].startswith("data.customerId:")
    assert got.status_code == 400
    assert errors_of(got)[0].startswith("externalId:")
