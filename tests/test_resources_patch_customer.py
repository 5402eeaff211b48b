"""The seed contract: ``PATCH /api/resources/customers/{externalId}``, to the letter.

Every response here is validated against the JSON Schema transcription of the contract
(``tests/contract/``) for its status.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.resources import (
    CREATED_AT,
    RECORD_KEYS,
    SERVER_TIMESTAMP,
    create_customer,
    errors_of,
    read,
    unique,
    url,
)
from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def patch(api: Harness, headers: Headers, external_id: str, body: Any, query: str = "") -> Any:
    return api.client.patch(url("customers", external_id) + query, json=body, headers=headers)


def test_patch_changes_only_the_given_fields_and_returns_the_contract_shape(
    api: Harness, partner: PartnerKey, tenant: str, headers: Headers
) -> None:
    created = create_customer(api, headers, "c-1", email="old@example.com", phone="+1555")

    response = patch(api, headers, "c-1", {"data": {"email": "new@example.com"}})

    body = assert_contract(response, 200)
    assert body["success"] is True
    result = body["data"]["result"]
    assert set(result) == RECORD_KEYS
    assert body["data"]["included"] == []
    assert result["data"] == {
        "customerId": "c-1",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": CREATED_AT,
        "email": "new@example.com",
        "phone": "+1555",
        "emailOptOut": False,
        "smsOptOut": True,
    }
    for camel, snake in (
        ("schemaDefinitionId", "schema_definition_id"),
        ("platformId", "platform_id"),
        ("businessId", "business_id"),
        ("resourceExternalId", "resource_external_id"),
        ("createdAt", "created_at"),
        ("updatedAt", "updated_at"),
    ):
        assert result[camel] == result[snake], camel
    assert result["id"] == created["id"]
    assert result["platformId"] == partner.id
    assert result["resourceExternalId"] == "c-1"
    assert SERVER_TIMESTAMP.match(result["createdAt"]), result["createdAt"]
    assert SERVER_TIMESTAMP.match(result["updatedAt"]), result["updatedAt"]
    assert result["createdAt"] == created["createdAt"]
    assert result["updatedAt"] > created["updatedAt"]
    assert read(api, headers, "customers", "c-1") == result


def test_every_change_moves_updated_at_forward_and_never_created_at(
    api: Harness, headers: Headers
) -> None:
    created = create_customer(api, headers, "c-1")
    seen = [created["updatedAt"]]
    for n in range(5):
        result = assert_contract(patch(api, headers, "c-1", {"data": {"phone": f"{n}"}}), 200)
        record = result["data"]["result"]
        assert record["createdAt"] == created["createdAt"]
        seen.append(record["updatedAt"])
    assert seen == sorted(set(seen)), seen


def test_a_patch_that_changes_nothing_keeps_updated_at(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1", email="a@example.com")

    body = assert_contract(patch(api, headers, "c-1", {"data": {"email": "a@example.com"}}), 200)

    assert body["data"]["result"]["updatedAt"] == created["updatedAt"]
    assert read(api, headers, "customers", "c-1")["updatedAt"] == created["updatedAt"]


def test_patch_of_an_absent_customer_is_404_with_data_error(api: Harness, headers: Headers) -> None:
    body = assert_contract(patch(api, headers, "nobody", {"data": {"email": "a@b.c"}}), 404)
    assert body["success"] is False
    assert body["data"]["error"]
    assert "nobody" in body["data"]["error"]


def test_unknown_fields_are_refused_naming_every_one_and_nothing_changes(
    api: Harness, headers: Headers
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(
        api,
        headers,
        "c-1",
        {"data": {"email": "new@example.com", "nickname": "A", "favourite": 7}, "extra": True},
    )

    body = assert_contract(response, 400)
    errors = errors_of(response)
    for field in ("data.nickname", "data.favourite", "extra"):
        assert any(e.startswith(f"{field}:") for e in errors), (field, errors)
    assert len(errors) == 3, errors
    assert body["success"] is False
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize("flag", ["true", "True", "TRUE"])
def test_ignore_unknown_fields_drops_them_and_never_stores_them(
    api: Harness, headers: Headers, flag: str
) -> None:
    create_customer(api, headers, "c-1")

    response = patch(
        api,
        headers,
        "c-1",
        {"data": {"email": "new@example.com", "nickname": "A"}, "extra": 1},
        f"?ignoreUnknownFields={flag}",
    )

    result = assert_contract(response, 200)["data"]["result"]
    assert result["data"]["email"] == "new@example.com"
    assert "nickname" not in result["data"]
    stored = read(api, headers, "customers", "c-1")
    assert "nickname" not in stored["data"]
    assert "extra" not in stored["data"]
    assert stored["data"]["email"] == "new@example.com"


@pytest.mark.parametrize("flag", ["false", "False"])
def test_ignore_unknown_fields_false_still_refuses_them(
    api: Harness, headers: Headers, flag: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(
        api, headers, "c-1", {"data": {"nickname": "A"}}, f"?ignoreUnknownFields={flag}"
    )

    assert_contract(response, 400)
    assert errors_of(response) == ["data.nickname: unknown field"]
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize("flag", ["yes", "1", "0", "maybe", "truee"])
def test_ignore_unknown_fields_with_any_other_value_is_400(
    api: Harness, headers: Headers, flag: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(
        api, headers, "c-1", {"data": {"email": "x@y.z"}}, f"?ignoreUnknownFields={flag}"
    )

    assert_contract(response, 400)
    assert any(e.startswith("ignoreUnknownFields:") for e in errors_of(response))
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"email": 5}, "data.email: expected string, got integer"),
        ({"phone": 1.5}, "data.phone: expected string, got number"),
        ({"firstName": ["Ada"]}, "data.firstName: expected string, got array"),
        ({"lastName": {"x": 1}}, "data.lastName: expected string, got object"),
        ({"emailOptOut": "yes"}, "data.emailOptOut: expected boolean, got string"),
        ({"smsOptOut": 0}, "data.smsOptOut: expected boolean, got integer"),
        ({"customerDetailUrl": True}, "data.customerDetailUrl: expected string, got boolean"),
    ],
)
def test_type_errors_are_400_naming_the_field_path(
    api: Harness, headers: Headers, data: dict[str, Any], expected: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": data})

    assert_contract(response, 400)
    assert errors_of(response) == [expected]
    assert read(api, headers, "customers", "c-1") == before


def test_every_type_error_is_listed(api: Harness, headers: Headers) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {"email": 5, "emailOptOut": "no"}})

    assert_contract(response, 400)
    assert sorted(errors_of(response)) == [
        "data.email: expected string, got integer",
        "data.emailOptOut: expected boolean, got string",
    ]
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize(
    "value",
    [
        "2026-01-01",
        "yesterday",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00",
        "2026-02-30T00:00:00Z",
        "2026-01-01T25:00:00Z",
        "2025-06-01T00:00Z",
        "",
    ],
)
def test_created_at_must_be_an_rfc3339_date_time(
    api: Harness, headers: Headers, value: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {"createdAt": value}})

    assert_contract(response, 400)
    errors = errors_of(response)
    assert len(errors) == 1, errors
    assert errors[0].startswith("data.createdAt:"), errors
    assert read(api, headers, "customers", "c-1") == before


@pytest.mark.parametrize(
    "value",
    ["2025-12-31T23:59:59.123456+05:30", "2025-12-31T23:59:59-08:00", "2025-06-01T00:00:00z"],
)
def test_created_at_accepts_rfc3339_with_offsets(
    api: Harness, headers: Headers, value: str
) -> None:
    create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {"createdAt": value}})

    assert assert_contract(response, 200)["data"]["result"]["data"]["createdAt"] == value


def test_null_removes_an_optional_field(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1", email="a@example.com", phone="+1")

    body = assert_contract(patch(api, headers, "c-1", {"data": {"email": None}}), 200)

    assert "email" not in body["data"]["result"]["data"]
    stored = read(api, headers, "customers", "c-1")["data"]
    assert "email" not in stored
    assert stored["phone"] == "+1"


@pytest.mark.parametrize("field", ["firstName", "lastName", "createdAt", "customerId"])
def test_null_on_a_required_field_is_400_and_nothing_changes(
    api: Harness, headers: Headers, field: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {field: None, "email": "new@example.com"}})

    assert_contract(response, 400)
    assert [e for e in errors_of(response) if e.startswith(f"data.{field}:")], errors_of(response)
    assert read(api, headers, "customers", "c-1") == before


def test_a_body_customer_id_different_from_the_path_is_400(api: Harness, headers: Headers) -> None:
    before = create_customer(api, headers, "c-1")
    create_customer(api, headers, "c-2")

    response = patch(api, headers, "c-1", {"data": {"customerId": "c-2", "email": "x@y.z"}})

    assert_contract(response, 400)
    assert [e for e in errors_of(response) if e.startswith("data.customerId:")]
    assert read(api, headers, "customers", "c-1") == before


def test_a_body_customer_id_equal_to_the_path_is_accepted(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {"customerId": "c-1", "email": "x@y.z"}})

    assert assert_contract(response, 200)["data"]["result"]["data"]["email"] == "x@y.z"


def test_defaults_apply_on_create(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1")
    assert created["data"]["emailOptOut"] is False
    assert created["data"]["smsOptOut"] is True

    explicit = create_customer(api, headers, "c-2", emailOptOut=True, smsOptOut=False)
    assert explicit["data"]["emailOptOut"] is True
    assert explicit["data"]["smsOptOut"] is False


def test_defaults_never_come_back_on_patch_or_upsert(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1")
    assert_contract(
        patch(api, headers, "c-1", {"data": {"emailOptOut": None, "smsOptOut": None}}), 200
    )

    after_patch = assert_contract(patch(api, headers, "c-1", {"data": {"phone": "+1"}}), 200)
    upserted = api.client.post(
        url("customers"), json={"data": {"customerId": "c-1", "phone": "+2"}}, headers=headers
    )

    assert "emailOptOut" not in after_patch["data"]["result"]["data"]
    assert "smsOptOut" not in after_patch["data"]["result"]["data"]
    assert upserted.status_code == 200, upserted.text
    stored = read(api, headers, "customers", "c-1")["data"]
    assert "emailOptOut" not in stored
    assert "smsOptOut" not in stored
    assert stored["phone"] == "+2"


def test_a_create_may_leave_out_a_defaulted_field_with_null(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1", smsOptOut=None)
    assert "smsOptOut" not in created["data"]
    assert created["data"]["emailOptOut"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "data"),
        ({"data": None}, "data"),
        ({"data": "x"}, "data"),
        ({"data": []}, "data"),
        ([{"data": {}}], "body"),
        ("data", "body"),
    ],
)
def test_a_body_without_a_data_object_is_400(
    api: Harness, headers: Headers, body: Any, field: str
) -> None:
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", body)

    assert_contract(response, 400)
    assert any(e.startswith(f"{field}:") for e in errors_of(response)), errors_of(response)
    assert read(api, headers, "customers", "c-1") == before


def test_malformed_json_is_400(api: Harness, headers: Headers) -> None:
    before = create_customer(api, headers, "c-1")

    response = api.client.patch(
        url("customers", "c-1"),
        content=b'{"data": {"email": ',
        headers={**headers, "content-type": "application/json"},
    )

    assert_contract(response, 400)
    assert read(api, headers, "customers", "c-1") == before


def test_nul_characters_are_refused_alike_on_every_engine(api: Harness, headers: Headers) -> None:
    # PostgreSQL jsonb cannot hold U+0000; both engines refuse it so they behave alike.
    before = create_customer(api, headers, "c-1")

    response = patch(api, headers, "c-1", {"data": {"email": "a\u0000b"}})

    assert_contract(response, 400)
    assert errors_of(response)[0].startswith("data.email:")
    assert read(api, headers, "customers", "c-1") == before


def test_patch_works_through_a_partner_token_with_the_tenant_header(
    api: Harness, partner: PartnerKey, tenant: str, headers: Headers
) -> None:
    create_customer(api, headers, unique("c"))
    cid = unique("c")
    create_customer(api, headers, cid)

    response = patch(api, api.partner_headers(partner, tenant), cid, {"data": {"phone": "+9"}})

    assert assert_contract(response, 200)["data"]["result"]["data"]["phone"] == "+9"
