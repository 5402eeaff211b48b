"""``GET /api/resources/{schema}/{externalId}`` with ``include``, and references checked on
every write."""

from __future__ import annotations

import pytest

from tests.contract.resources import (
    RECORD_KEYS,
    absent,
    create,
    create_customer,
    create_schema,
    errors_of,
    object_schema,
    read,
    url,
)
from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey
from tests.test_resources_list import transaction

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def test_get_returns_result_and_an_empty_included(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1")

    body = assert_contract(api.client.get(url("customers", "c-1"), headers=headers), 200)

    assert body["data"]["result"] == created
    assert body["data"]["included"] == []


def test_get_of_an_absent_record_is_404(api: Harness, headers: Headers) -> None:
    body = assert_contract(api.client.get(url("customers", "nobody"), headers=headers), 404)
    assert "nobody" in body["data"]["error"]


def test_include_resolves_references_into_included(api: Harness, headers: Headers) -> None:
    customer = create_customer(api, headers, "c-1")
    location = create(api, headers, "locations", {"locationId": "l-1", "name": "Main St"})
    create(api, headers, "transactions", transaction("t-1", customerId="c-1", locationId="l-1"))

    response = api.client.get(
        url("transactions", "t-1") + "?include=customerId,locationId", headers=headers
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["result"]["data"]["customerId"] == "c-1"
    included = {r["id"]: r for r in data["included"]}
    assert included == {customer["id"]: customer, location["id"]: location}
    for record in data["included"]:
        assert set(record) == RECORD_KEYS


def test_include_lists_each_record_once(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    create_schema(
        api,
        partner,
        {
            "name": "transfer",
            "pluralName": "transfers",
            "externalIdField": "transferId",
            "schema": object_schema(
                {
                    "transferId": {"type": "string"},
                    "payer": {"$ref": "reach:schemas/customers"},
                    "payee": {"$ref": "reach:schemas/Customers"},
                },
                ["transferId"],
            ),
        },
    )
    customer = create_customer(api, headers, "c-1")
    create(api, headers, "transfer", {"transferId": "tr-1", "payer": "c-1", "payee": "c-1"})

    for query in ("?include=payer,payee", "?include=payer&include=payee,payer"):
        response = api.client.get(url("transfers", "tr-1") + query, headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["data"]["included"] == [customer]


def test_include_of_an_unset_reference_includes_nothing(api: Harness, headers: Headers) -> None:
    create(api, headers, "transactions", transaction("t-1"))

    response = api.client.get(url("transactions", "t-1") + "?include=customerId", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["included"] == []


@pytest.mark.parametrize("field", ["transactionTotal", "nosuchfield", "customerId,transactionId"])
def test_include_of_a_non_reference_field_is_400(
    api: Harness, headers: Headers, field: str
) -> None:
    create(api, headers, "transactions", transaction("t-1"))

    response = api.client.get(url("transactions", "t-1") + f"?include={field}", headers=headers)

    assert response.status_code == 400
    errors = errors_of(response)
    assert len(errors) == 1, errors
    assert errors[0].startswith("include:"), errors


def test_a_reference_to_a_missing_record_is_400_and_writes_nothing(
    api: Harness, headers: Headers
) -> None:
    create_customer(api, headers, "c-1")

    created = api.client.post(
        url("transactions"),
        json={"data": transaction("t-1", customerId="c-404", locationId="l-404")},
        headers=headers,
    )
    assert created.status_code == 400
    assert sorted(errors_of(created)) == [
        "data.customerId: no customers record 'c-404'",
        "data.locationId: no locations record 'l-404'",
    ]
    absent(api, headers, "transactions", "t-1")

    before = create(api, headers, "transactions", transaction("t-1", customerId="c-1"))
    patched = api.client.patch(
        url("transactions", "t-1"), json={"data": {"customerId": "c-404"}}, headers=headers
    )
    assert patched.status_code == 400
    assert errors_of(patched) == ["data.customerId: no customers record 'c-404'"]
    assert read(api, headers, "transactions", "t-1") == before


def test_a_reference_must_be_a_string(api: Harness, headers: Headers) -> None:
    response = api.client.post(
        url("transactions"), json={"data": transaction("t-1", customerId=5)}, headers=headers
    )
    assert response.status_code == 400
    assert errors_of(response) == ["data.customerId: expected string, got integer"]
