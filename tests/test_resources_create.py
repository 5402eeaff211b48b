"""Creating and upserting records: ``POST /api/resources/{schema}`` and the legacy
``POST /api/resources/{schema}/{externalId}``, for default and custom schemas."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.resources import (
    RECORD_KEYS,
    SERVER_TIMESTAMP,
    absent,
    create,
    create_customer,
    create_schema,
    customer,
    errors_of,
    object_schema,
    read,
    unique,
    url,
)
from tests.harness import Harness, PartnerKey

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def order_schema(name: str = "Order", plural: str = "Orders") -> dict[str, Any]:
    return {
        "name": name,
        "pluralName": plural,
        "description": "Orders",
        "category": "custom_schema",
        "externalIdField": "orderId",
        "schema": object_schema(
            {
                "orderId": {"type": "string"},
                "total": {"type": "number"},
                "items": {"type": "integer", "default": 1},
                "paid": {"type": "boolean"},
                "shipping": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                },
            },
            ["orderId", "total"],
        ),
    }


def test_post_creates_a_record_keyed_by_the_external_id_field(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    response = api.client.post(url("customers"), json={"data": customer("c-1")}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    record = body["data"]
    assert set(record) == RECORD_KEYS
    assert record["resourceExternalId"] == record["resource_external_id"] == "c-1"
    assert record["platformId"] == partner.id
    assert SERVER_TIMESTAMP.match(record["createdAt"])
    assert record["createdAt"] == record["updatedAt"]
    assert read(api, headers, "customers", "c-1") == record


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"firstName": "A", "lastName": "B", "createdAt": "2026-01-01T00:00:00Z"}, "required"),
        (customer("x", customerId=None), "required"),
        (customer("x", customerId=7), "expected string, got integer"),
        (customer("x", customerId=""), "1 to 255 characters"),
    ],
)
def test_post_without_a_usable_key_is_400(
    api: Harness, headers: Headers, data: dict[str, Any], error: str
) -> None:
    response = api.client.post(url("customers"), json={"data": data}, headers=headers)

    assert response.status_code == 400, response.text
    errors = errors_of(response)
    assert errors[0].startswith("data.customerId:"), errors
    assert error in errors[0], errors
    listed = api.client.get(url("customers"), headers=headers).json()["data"]
    assert listed["pagination"]["total"] == 0


def test_post_that_breaks_the_schema_is_400_listing_every_problem_and_creates_nothing(
    api: Harness, headers: Headers
) -> None:
    data = {"customerId": "c-1", "email": 5, "nickname": "x"}
    response = api.client.post(url("customers"), json={"data": data}, headers=headers)
    assert response.status_code == 400
    assert errors_of(response) == ["data.nickname: unknown field"]

    del data["nickname"]
    response = api.client.post(url("customers"), json={"data": data}, headers=headers)
    assert response.status_code == 400
    assert sorted(errors_of(response)) == [
        "data.createdAt: required field missing",
        "data.email: expected string, got integer",
        "data.firstName: required field missing",
        "data.lastName: required field missing",
    ]
    absent(api, headers, "customers", "c-1")


def test_legacy_post_takes_the_key_from_the_path(api: Harness, headers: Headers) -> None:
    data = customer("ignored")
    del data["customerId"]

    response = api.client.post(url("customers", "c-path"), json={"data": data}, headers=headers)

    assert response.status_code == 200, response.text
    record = response.json()["data"]
    assert record["resourceExternalId"] == "c-path"
    assert record["data"]["customerId"] == "c-path"
    assert read(api, headers, "customers", "c-path")["data"]["customerId"] == "c-path"


def test_legacy_post_with_the_same_key_in_the_body_is_accepted(
    api: Harness, headers: Headers
) -> None:
    response = api.client.post(
        url("customers", "c-1"), json={"data": customer("c-1")}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["resourceExternalId"] == "c-1"


def test_legacy_post_with_a_different_body_key_is_400(api: Harness, headers: Headers) -> None:
    response = api.client.post(
        url("customers", "c-1"), json={"data": customer("c-2")}, headers=headers
    )

    assert response.status_code == 400
    assert errors_of(response)[0].startswith("data.customerId:")
    absent(api, headers, "customers", "c-1")
    absent(api, headers, "customers", "c-2")


def test_upsert_is_the_default_and_merges(api: Harness, headers: Headers) -> None:
    first = create_customer(api, headers, "c-1", email="a@example.com", phone="+1")

    response = api.client.post(
        url("customers"),
        json={"data": {"customerId": "c-1", "email": "b@example.com", "phone": None}},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    record = response.json()["data"]
    assert record["id"] == first["id"]
    assert record["createdAt"] == first["createdAt"]
    assert record["updatedAt"] > first["updatedAt"]
    expected = {k: v for k, v in first["data"].items() if k != "phone"}
    expected["email"] = "b@example.com"
    assert record["data"] == expected
    assert read(api, headers, "customers", "c-1")["data"] == expected


def test_explicit_upsert_merges_too(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1")

    response = api.client.post(
        url("customers") + "?onconflict=upsert",
        json={"data": {"customerId": "c-1", "phone": "+7"}},
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert read(api, headers, "customers", "c-1")["data"]["phone"] == "+7"


def test_upsert_cannot_null_a_required_field(api: Harness, headers: Headers) -> None:
    before = create_customer(api, headers, "c-1")

    response = api.client.post(
        url("customers"), json={"data": {"customerId": "c-1", "lastName": None}}, headers=headers
    )

    assert response.status_code == 400
    assert errors_of(response) == ["data.lastName: required field cannot be removed"]
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize("legacy", [False, True])
def test_reject_refuses_an_existing_record_with_409_and_changes_nothing(
    api: Harness, headers: Headers, legacy: bool
) -> None:
    before = create_customer(api, headers, "c-1")
    target = url("customers", "c-1") if legacy else url("customers")

    response = api.client.post(
        target + "?onconflict=reject",
        json={"data": customer("c-1", email="new@example.com")},
        headers=headers,
    )

    assert response.status_code == 409, response.text
    assert response.json()["success"] is False
    assert "c-1" in response.json()["message"]
    assert read(api, headers, "customers", "c-1") == before


def test_reject_creates_a_new_record(api: Harness, headers: Headers) -> None:
    response = api.client.post(
        url("customers") + "?onconflict=reject", json={"data": customer("c-1")}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert read(api, headers, "customers", "c-1")["resourceExternalId"] == "c-1"


@pytest.mark.parametrize("value", ["merge", "REJECT", "true", "1"])
def test_a_bad_onconflict_value_is_400_and_changes_nothing(
    api: Harness, headers: Headers, value: str
) -> None:
    before = create_customer(api, headers, "c-1")

    existing = api.client.post(
        url("customers") + f"?onconflict={value}",
        json={"data": customer("c-1", email="new@example.com")},
        headers=headers,
    )
    fresh = api.client.post(
        url("customers") + f"?onconflict={value}", json={"data": customer("c-2")}, headers=headers
    )

    for response in (existing, fresh):
        assert response.status_code == 400
        assert errors_of(response)[0].startswith("onconflict:")
    assert read(api, headers, "customers", "c-1") == before
    absent(api, headers, "customers", "c-2")


def test_custom_schema_records_validate_merge_and_apply_defaults(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    create_schema(api, partner, order_schema())

    created = create(
        api, headers, "Order", {"orderId": "o-1", "total": 10.5, "shipping": {"city": "Oslo"}}
    )
    assert created["data"] == {
        "orderId": "o-1",
        "total": 10.5,
        "items": 1,
        "shipping": {"city": "Oslo"},
    }

    response = api.client.patch(
        url("Order", "o-1"),
        json={"data": {"shipping": {"zip": "0150"}, "paid": True}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["result"]["data"]["shipping"] == {"city": "Oslo", "zip": "0150"}

    response = api.client.patch(
        url("Order", "o-1"), json={"data": {"shipping": {"city": None}}}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert read(api, headers, "Order", "o-1")["data"]["shipping"] == {"zip": "0150"}

    bad = api.client.patch(
        url("Order", "o-1"),
        json={"data": {"shipping": {"zip": 150, "floor": 2}, "items": 1.5}},
        headers=headers,
    )
    assert bad.status_code == 400
    assert errors_of(bad) == ["data.shipping.floor: unknown field"]
    bad = api.client.patch(
        url("Order", "o-1"),
        json={"data": {"shipping": {"zip": 150}, "items": 1.5}},
        headers=headers,
    )
    assert sorted(errors_of(bad)) == [
        "data.items: expected integer, got number",
        "data.shipping.zip: expected string, got integer",
    ]


def test_a_created_record_keeps_a_stable_id_across_upserts(api: Harness, headers: Headers) -> None:
    first = create_customer(api, headers, unique("c"))
    again = create(api, headers, "customers", {"customerId": first["resourceExternalId"]})
    assert again["id"] == first["id"]
    assert again["createdAt"] == first["createdAt"]


def test_create_with_ignore_unknown_fields_drops_them_at_any_depth(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    create_schema(api, partner, order_schema())
    body = {
        "data": {
            "orderId": "o-1",
            "total": 2,
            "coupon": "X",
            "shipping": {"city": "Oslo", "floor": 3},
        },
        "meta": {"source": "import"},
    }

    refused = api.client.post(url("orders"), json=body, headers=headers)
    assert sorted(errors_of(refused)) == [
        "data.coupon: unknown field",
        "data.shipping.floor: unknown field",
        "meta: unknown field",
    ]
    absent(api, headers, "orders", "o-1")

    accepted = api.client.post(
        url("orders") + "?ignoreUnknownFields=true", json=body, headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    expected = {"orderId": "o-1", "total": 2, "items": 1, "shipping": {"city": "Oslo"}}
    assert accepted.json()["data"]["data"] == expected
    assert read(api, headers, "orders", "o-1")["data"] == expected
