"""``DELETE /api/resources/{schema}/{externalId}``: the deleted record back, references guarded,
``cascade=true`` taking referencing records with it."""

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

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def transaction(transaction_id: str, customer_id: str) -> dict[str, object]:
    return {
        "transactionId": transaction_id,
        "customerId": customer_id,
        "transactionDate": "2026-01-05T10:00:00Z",
        "transactionTotal": 3,
    }


def test_delete_returns_the_deleted_record_then_it_is_gone(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1")
    create_customer(api, headers, "c-2")

    response = api.client.delete(url("customers", "c-1"), headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert set(body["data"]) == RECORD_KEYS
    assert body["data"] == created
    absent(api, headers, "customers", "c-1")
    assert_contract(api.client.delete(url("customers", "c-1"), headers=headers), 404)
    assert_contract(
        api.client.patch(url("customers", "c-1"), json={"data": {"phone": "1"}}, headers=headers),
        404,
    )
    assert read(api, headers, "customers", "c-2")["resourceExternalId"] == "c-2"


def test_a_deleted_key_can_be_created_again_as_a_new_record(api: Harness, headers: Headers) -> None:
    first = create_customer(api, headers, "c-1", email="old@example.com")
    api.client.delete(url("customers", "c-1"), headers=headers)

    second = create_customer(api, headers, "c-1")

    assert second["id"] != first["id"]
    assert "email" not in second["data"]


def test_delete_of_an_absent_record_is_404(api: Harness, headers: Headers) -> None:
    body = assert_contract(api.client.delete(url("customers", "nobody"), headers=headers), 404)
    assert "nobody" in body["data"]["error"]


def test_a_referenced_customer_cannot_be_deleted_without_cascade(
    api: Harness, headers: Headers
) -> None:
    customer = create_customer(api, headers, "c-1")
    txn = create(api, headers, "transactions", transaction("t-1", "c-1"))

    for query in ("", "?cascade=false"):
        response = api.client.delete(url("customers", "c-1") + query, headers=headers)
        assert response.status_code == 409, response.text
        body = response.json()
        assert body["success"] is False
        assert "1 transactions" in body["message"]
    assert read(api, headers, "customers", "c-1") == customer
    assert read(api, headers, "transactions", "t-1") == txn


def test_cascade_deletes_the_referencing_records_too(api: Harness, headers: Headers) -> None:
    customer = create_customer(api, headers, "c-1")
    create_customer(api, headers, "c-2")
    create(api, headers, "transactions", transaction("t-1", "c-1"))
    create(api, headers, "transactions", transaction("t-2", "c-1"))
    create(api, headers, "transactions", transaction("t-3", "c-2"))

    response = api.client.delete(url("customers", "c-1") + "?cascade=true", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["data"] == customer
    assert "2" in response.json()["message"]
    absent(api, headers, "customers", "c-1")
    absent(api, headers, "transactions", "t-1")
    absent(api, headers, "transactions", "t-2")
    assert read(api, headers, "transactions", "t-3")["data"]["customerId"] == "c-2"


def test_cascade_follows_references_of_references(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    # refunds → transactions → customers: deleting the customer must not leave a refund
    # pointing at a transaction that no longer exists.
    create_schema(
        api,
        partner,
        {
            "name": "refund",
            "externalIdField": "refundId",
            "schema": object_schema(
                {"refundId": {"type": "string"}, "txn": {"$ref": "reach:schemas/transactions"}},
                ["refundId"],
            ),
        },
    )
    create_customer(api, headers, "c-1")
    create(api, headers, "transactions", transaction("t-1", "c-1"))
    create(api, headers, "refund", {"refundId": "r-1", "txn": "t-1"})

    response = api.client.delete(url("customers", "c-1") + "?cascade=true", headers=headers)

    assert response.status_code == 200, response.text
    absent(api, headers, "transactions", "t-1")
    absent(api, headers, "refund", "r-1")


def test_after_the_referrer_is_gone_the_customer_can_be_deleted(
    api: Harness, headers: Headers
) -> None:
    create_customer(api, headers, "c-1")
    create(api, headers, "transactions", transaction("t-1", "c-1"))

    assert api.client.delete(url("transactions", "t-1"), headers=headers).status_code == 200
    assert api.client.delete(url("customers", "c-1"), headers=headers).status_code == 200
    absent(api, headers, "customers", "c-1")


def test_moving_the_reference_away_unblocks_the_delete(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1")
    create_customer(api, headers, "c-2")
    create(api, headers, "transactions", transaction("t-1", "c-1"))

    moved = api.client.patch(
        url("transactions", "t-1"), json={"data": {"customerId": "c-2"}}, headers=headers
    )
    assert moved.status_code == 200, moved.text

    assert api.client.delete(url("customers", "c-1"), headers=headers).status_code == 200
    assert api.client.delete(url("customers", "c-2"), headers=headers).status_code == 409


def test_a_record_that_references_itself_can_be_deleted(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    create_schema(
        api,
        partner,
        {
            "name": "employee",
            "pluralName": "employees",
            "externalIdField": "employeeId",
            "schema": object_schema(
                {
                    "employeeId": {"type": "string"},
                    "manager": {"$ref": "reach:schemas/employee"},
                },
                ["employeeId"],
            ),
        },
    )
    create(api, headers, "employee", {"employeeId": "boss", "manager": "boss"})
    create(api, headers, "employee", {"employeeId": "e-1", "manager": "boss"})

    blocked = api.client.delete(url("employees", "boss"), headers=headers)
    assert blocked.status_code == 409
    assert api.client.delete(url("employees", "e-1"), headers=headers).status_code == 200
    assert api.client.delete(url("employees", "boss"), headers=headers).status_code == 200


@pytest.mark.parametrize("value", ["yes", "2", "maybe"])
def test_a_bad_cascade_value_is_400_and_deletes_nothing(
    api: Harness, headers: Headers, value: str
) -> None:
    created = create_customer(api, headers, "c-1")

    response = api.client.delete(url("customers", "c-1") + f"?cascade={value}", headers=headers)

    assert response.status_code == 400
    assert errors_of(response)[0].startswith("cascade:")
    assert read(api, headers, "customers", "c-1") == created
