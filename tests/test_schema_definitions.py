"""``/partner/schema-definitions``: list, create, get, update — and what an update means for
records stored under an older version."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.contract.resources import (
    create_schema,
    errors_of,
    object_schema,
)
from tests.harness import Harness, PartnerKey

TWINS = {
    "pluralName": "plural_name",
    "versionNumber": "version_number",
    "externalIdField": "external_id_field",
    "referenceSchemas": "reference_schemas",
    "platformId": "platform_id",
    "createdAt": "created_at",
    "updatedAt": "updated_at",
    "deactivatedAt": "deactivated_at",
    "partnerDbId": "partner_db_id",
    "partnerDbQuery": "partner_db_query",
}
BASE = "/partner/schema-definitions"


def book_schema(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Book",
        "pluralName": "Books",
        "description": "Books on the shelf",
        "category": "custom_schema",
        "externalIdField": "isbn",
        "schema": object_schema(
            {"isbn": {"type": "string"}, "title": {"type": "string"}, "pages": {"type": "integer"}},
            ["isbn", "title"],
        ),
    }
    body.update(overrides)
    return body


def post(api: Harness, partner: PartnerKey, body: Any, target: str = BASE) -> Any:
    return api.client.post(target, json=body, headers=api.partner_headers(partner))


def get(api: Harness, partner: PartnerKey, key: str) -> Any:
    return api.client.get(f"{BASE}/{key}", headers=api.partner_headers(partner))


def assert_wire(definition: dict[str, Any]) -> None:
    for camel, snake in TWINS.items():
        assert camel in definition, camel
        assert snake in definition, snake
        assert definition[camel] == definition[snake], camel
    uuid.UUID(definition["id"])
    for key in ("name", "description", "category", "schema", "fieldsToExpose"):
        assert key in definition, key


def test_every_new_partner_has_the_default_schemas(api: Harness, partner: PartnerKey) -> None:
    response = api.client.get(BASE, headers=api.partner_headers(partner))

    assert response.status_code == 200, response.text
    listed = {d["name"]: d for d in response.json()["data"]}
    assert set(listed) == {"customers", "locations", "transactions"}
    for definition in listed.values():
        assert_wire(definition)
        assert definition["platformId"] == partner.id
        assert definition["versionNumber"] == 1
    assert listed["customers"]["externalIdField"] == "customerId"
    assert listed["customers"]["schema"]["required"] == [
        "customerId",
        "firstName",
        "lastName",
        "createdAt",
    ]
    assert sorted(listed["transactions"]["referenceSchemas"]) == sorted(
        [listed["customers"]["id"], listed["locations"]["id"]]
    )
    assert listed["customers"]["referenceSchemas"] == []


def test_partners_do_not_share_schema_definitions(api: Harness, partner: PartnerKey) -> None:
    other = api.new_partner()
    mine = create_schema(api, partner, book_schema())

    theirs = api.client.get(BASE, headers=api.partner_headers(other)).json()["data"]
    assert "Book" not in {d["name"] for d in theirs}
    assert mine["id"] not in {d["id"] for d in theirs}
    assert get(api, other, mine["id"]).status_code == 404
    assert get(api, other, "Book").status_code == 404
    # the same name is free for the other partner
    assert create_schema(api, other, book_schema())["id"] != mine["id"]


def test_create_returns_the_definition_in_camel_case_with_snake_twins(
    api: Harness, partner: PartnerKey
) -> None:
    response = post(api, partner, book_schema())

    assert response.status_code == 200, response.text
    definition = response.json()["data"]
    assert_wire(definition)
    assert definition["name"] == "Book"
    assert definition["pluralName"] == "Books"
    assert definition["externalIdField"] == "isbn"
    assert definition["versionNumber"] == 1
    assert definition["referenceSchemas"] == []
    assert definition["deactivatedAt"] is None
    assert definition["platformId"] == partner.id
    assert definition["schema"] == book_schema()["schema"]
    assert definition["createdAt"] == definition["updatedAt"]


def test_create_accepts_the_deprecated_snake_case_fields(api: Harness, partner: PartnerKey) -> None:
    body = book_schema()
    body["plural_name"] = body.pop("pluralName")
    body["external_id_field"] = body.pop("externalIdField")

    definition = create_schema(api, partner, body)

    assert definition["pluralName"] == "Books"
    assert definition["externalIdField"] == "isbn"


def test_the_plural_name_defaults_to_the_name(api: Harness, partner: PartnerKey) -> None:
    body = book_schema()
    del body["pluralName"]
    assert create_schema(api, partner, body)["pluralName"] == "Book"


def test_get_and_list_find_a_created_schema(api: Harness, partner: PartnerKey) -> None:
    created = create_schema(api, partner, book_schema())

    for key in (created["id"], "Book", "book", "BOOKS", "books"):
        response = get(api, partner, key)
        assert response.status_code == 200, (key, response.text)
        assert response.json()["data"] == created
    listed = api.client.get(BASE, headers=api.partner_headers(partner)).json()["data"]
    assert created in listed


# A UUID no one made; fixed, so every pytest-xdist worker collects the same test ids.
NO_SUCH_ID = "5f0c3e1a-7b2d-4c9e-8a41-0d6b2f9e7c35"


@pytest.mark.parametrize("key", ["nosuch", NO_SUCH_ID])
def test_get_of_an_unknown_schema_is_404(api: Harness, partner: PartnerKey, key: str) -> None:
    response = get(api, partner, key)
    assert response.status_code == 404
    assert response.json()["data"]["error"]


def test_a_tenant_token_cannot_use_partner_routes(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    assert api.client.get(BASE, headers=headers).status_code == 403
    assert api.client.post(BASE, json=book_schema(), headers=headers).status_code == 403


@pytest.mark.parametrize(
    ("schema", "where"),
    [
        (
            {"type": "object", "properties": {"isbn": {"type": "strin"}}},
            "schema.properties.isbn.type",
        ),
        ({"type": 5, "properties": {"isbn": {"type": "string"}}}, "schema.type"),
        (
            {"type": "object", "properties": {"isbn": {"type": "string", "minLength": -1}}},
            "schema.properties.isbn.minLength",
        ),
        (
            {"type": "object", "properties": {"isbn": {"type": "string", "pattern": "("}}},
            "schema.properties.isbn.pattern",
        ),
        (
            {"type": "object", "properties": {"isbn": {"type": "string"}}, "required": "isbn"},
            "schema.required",
        ),
        (
            {
                "type": "object",
                "properties": {"isbn": {"type": "string"}, "x": {"$ref": "#/definitions/nope"}},
            },
            "schema",
        ),
        (
            {
                "type": "object",
                "properties": {"isbn": {"type": "string"}, "x": {"$ref": "http://example.com/s"}},
            },
            "schema.properties.x.$ref",
        ),
        (
            {
                "$schema": "http://example.com/my-meta-schema",
                "type": "object",
                "properties": {"isbn": {"type": "string"}},
            },
            "schema.$schema",
        ),
        ({"type": "array", "items": {"type": "string"}}, "schema"),
        ({"type": "object"}, "schema"),
        (
            {"type": "object", "properties": {"isbn": {"type": "string"}}, "required": ["nope"]},
            "schema.required",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "isbn": {"type": "string"},
                    "n": {"type": "integer", "default": "x"},
                },
            },
            "schema.properties.n.default",
        ),
    ],
)
def test_a_broken_json_schema_is_400_naming_the_problem(
    api: Harness, partner: PartnerKey, schema: dict[str, Any], where: str
) -> None:
    response = post(api, partner, book_schema(schema=schema))

    assert response.status_code == 400, response.text
    errors = errors_of(response)
    assert any(e.startswith(f"{where}:") for e in errors), errors
    assert all("\n" not in e for e in errors), errors
    assert get(api, partner, "Book").status_code == 404


@pytest.mark.parametrize(
    "name", ["has space", "slash/x", "dot.name", "ümlaut", "", "a" * 101, "%41"]
)
@pytest.mark.parametrize("field", ["name", "pluralName"])
def test_names_must_be_url_safe(api: Harness, partner: PartnerKey, name: str, field: str) -> None:
    response = post(api, partner, book_schema(**{field: name}))

    assert response.status_code == 400, response.text
    assert any(e.startswith(f"{field}:") for e in errors_of(response))


@pytest.mark.parametrize(
    "name_and_plural",
    [
        ("book", "Novels"),
        ("BOOK", "Novels"),
        ("Novel", "books"),
        ("Books", "Novels"),
        ("Novel", "BOOK"),
        ("Customers", "Novels"),
        ("Novel", "TRANSACTIONS"),
    ],
)
def test_a_name_or_plural_already_used_ignoring_case_is_409(
    api: Harness, partner: PartnerKey, name_and_plural: tuple[str, str]
) -> None:
    create_schema(api, partner, book_schema())
    name, plural = name_and_plural

    response = post(api, partner, book_schema(name=name, pluralName=plural))

    assert response.status_code == 409, response.text
    body = response.json()
    assert body["success"] is False
    assert body["errors"]
    assert get(api, partner, "Novel").status_code == 404


@pytest.mark.parametrize(
    ("field", "properties"),
    [
        ("isbn", {"isbn": {"type": "integer"}}),
        ("isbn", {"isbn": {"type": "object"}}),
        ("missing", {"isbn": {"type": "string"}}),
        ("isbn", {"isbn": {"$ref": "reach:schemas/customers"}}),
    ],
)
def test_the_external_id_field_must_name_a_string_property(
    api: Harness, partner: PartnerKey, field: str, properties: dict[str, Any]
) -> None:
    response = post(
        api, partner, book_schema(externalIdField=field, schema=object_schema(properties))
    )

    assert response.status_code == 400, response.text
    assert any(e.startswith("externalIdField:") for e in errors_of(response))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"schema": "{}"}, "schema"),
        ({"externalIdField": ["isbn"]}, "externalIdField"),
        ({"category": "nonsense"}, "category"),
        ({"fieldsToExpose": ["isbn"]}, "fieldsToExpose"),
        ({"fieldsToExpose": "isbn"}, "fieldsToExpose"),
        ({"colour": "red"}, "colour"),
        ({"plural_name": "Other"}, "plural_name"),
    ],
)
def test_a_malformed_definition_body_is_400_naming_the_field(
    api: Harness, partner: PartnerKey, body: dict[str, Any], field: str
) -> None:
    response = post(api, partner, book_schema(**body))

    assert response.status_code == 400, response.text
    errors = errors_of(response)
    assert any(e.startswith((f"{field}:", f"{field}[")) for e in errors), errors
    assert all("str," not in e and "dict" not in e for e in errors), errors


@pytest.mark.parametrize("missing", ["name", "schema", "externalIdField"])
def test_required_definition_fields(api: Harness, partner: PartnerKey, missing: str) -> None:
    body = book_schema()
    del body[missing]

    response = post(api, partner, body)

    assert response.status_code == 400
    assert f"{missing}: required" in errors_of(response)


@pytest.mark.parametrize("body", [[], "x", None, 5])
def test_a_definition_body_must_be_an_object(api: Harness, partner: PartnerKey, body: Any) -> None:
    response = api.client.post(
        BASE,
        content=json.dumps(body).encode(),
        headers={**api.partner_headers(partner), "content-type": "application/json"},
    )
    assert response.status_code == 400
    assert errors_of(response)[0].startswith("body:")


def test_references_resolve_by_name_or_id_ignoring_case(api: Harness, partner: PartnerKey) -> None:
    book = create_schema(api, partner, book_schema())
    schema = object_schema(
        {
            "loanId": {"type": "string"},
            "book": {"$ref": "reach:schemas/BOOKS"},
            "also": {"$ref": f"reach:schemas/{book['id']}"},
            "borrower": {"$ref": "reach:schemas/customers"},
            "next": {"$ref": "reach:schemas/loan"},
        }
    )

    loan = create_schema(
        api, partner, {"name": "loan", "externalIdField": "loanId", "schema": schema}
    )

    customers = get(api, partner, "customers").json()["data"]
    assert sorted(loan["referenceSchemas"]) == sorted({book["id"], customers["id"], loan["id"]})


def test_a_reference_to_a_missing_schema_is_400(api: Harness, partner: PartnerKey) -> None:
    schema = object_schema({"loanId": {"type": "string"}, "book": {"$ref": "reach:schemas/nosuch"}})
    response = post(api, partner, {"name": "loan", "externalIdField": "loanId", "schema": schema})

    assert response.status_code == 400
    assert errors_of(response) == [
        "schema.properties.book.$ref: no schema 'nosuch' exists for this partner"
    ]
    assert get(api, partner, "loan").status_code == 404


def test_a_reference_to_another_partners_schema_is_400(api: Harness, partner: PartnerKey) -> None:
    other = api.new_partner()
    foreign = create_schema(api, other, book_schema(name="Secret", pluralName="Secrets"))

    for target in (foreign["id"], "Secret"):
        schema = object_schema(
            {"loanId": {"type": "string"}, "book": {"$ref": f"reach:schemas/{target}"}}
        )
        response = post(
            api, partner, {"name": "loan", "externalIdField": "loanId", "schema": schema}
        )
        assert response.status_code == 400, response.text
        assert errors_of(response) == [
            f"schema.properties.book.$ref: no schema {target!r} exists for this partner"
        ]
