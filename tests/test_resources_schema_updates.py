"""Schema-definition updates: versions, fixed fields, and what an update means for the
records stored under an older version."""

from __future__ import annotations

import pytest

from tests.contract.resources import (
    create,
    create_customer,
    create_schema,
    errors_of,
    object_schema,
    read,
    url,
)
from tests.harness import Harness, PartnerKey
from tests.test_schema_definitions import BASE, assert_wire, book_schema, get, post


def test_update_bumps_the_version_and_keeps_created_at(api: Harness, partner: PartnerKey) -> None:
    created = create_schema(api, partner, book_schema())

    first = post(api, partner, {"description": "Shelf"}, f"{BASE}/Book")
    second = post(api, partner, {"description": "Shelf 2"}, f"{BASE}/{created['id']}")

    assert first.status_code == 200, first.text
    assert second.status_code == 200, second.text
    assert first.json()["data"]["versionNumber"] == 2
    updated = second.json()["data"]
    assert_wire(updated)
    assert updated["versionNumber"] == updated["version_number"] == 3
    assert updated["description"] == "Shelf 2"
    assert updated["createdAt"] == created["createdAt"]
    assert updated["updatedAt"] >= created["updatedAt"]
    assert updated["schema"] == created["schema"]
    assert get(api, partner, "Book").json()["data"] == updated


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "Tome"),
        ("pluralName", "Tomes"),
        ("plural_name", "Tomes"),
        ("category", "contacts_schema"),
        ("externalIdField", "title"),
        ("external_id_field", "title"),
    ],
)
def test_update_cannot_change_the_fixed_fields(
    api: Harness, partner: PartnerKey, field: str, value: str
) -> None:
    created = create_schema(api, partner, book_schema())

    response = post(api, partner, {field: value}, f"{BASE}/Book")

    assert response.status_code == 400, response.text
    assert errors_of(response)
    assert get(api, partner, "Book").json()["data"] == created


def test_update_may_repeat_the_fixed_fields_unchanged(api: Harness, partner: PartnerKey) -> None:
    create_schema(api, partner, book_schema())

    response = post(api, partner, book_schema(description="Again"), f"{BASE}/Book")

    assert response.status_code == 200, response.text
    assert response.json()["data"]["versionNumber"] == 2


def test_a_broken_update_is_400_and_keeps_the_version(api: Harness, partner: PartnerKey) -> None:
    created = create_schema(api, partner, book_schema())

    response = post(
        api,
        partner,
        {"schema": {"type": "object", "properties": {"isbn": {"type": "strin"}}}},
        f"{BASE}/Book",
    )

    assert response.status_code == 400
    assert get(api, partner, "Book").json()["data"] == created


def test_an_update_must_keep_the_external_id_field_a_string(
    api: Harness, partner: PartnerKey
) -> None:
    create_schema(api, partner, book_schema())

    response = post(
        api, partner, {"schema": object_schema({"title": {"type": "string"}})}, f"{BASE}/Book"
    )

    assert response.status_code == 400
    assert any(e.startswith("externalIdField:") for e in errors_of(response))


def test_update_of_an_unknown_or_foreign_schema_is_404(api: Harness, partner: PartnerKey) -> None:
    other = api.new_partner()
    foreign = create_schema(api, other, book_schema())

    for key in ("nosuch", foreign["id"]):
        response = post(api, partner, {"description": "x"}, f"{BASE}/{key}")
        assert response.status_code == 404, response.text
    assert get(api, other, foreign["id"]).json()["data"] == foreign


def test_records_survive_a_schema_update_and_the_next_patch_meets_the_new_schema(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    create_schema(api, partner, book_schema())
    stored = create(api, headers, "Book", {"isbn": "b-1", "title": "Dune"})
    new_schema = book_schema()["schema"]
    new_schema["properties"]["author"] = {"type": "string"}
    new_schema["required"] = ["isbn", "title", "author"]

    updated = post(api, partner, {"schema": new_schema}, f"{BASE}/Book")
    assert updated.status_code == 200, updated.text

    # Stored records are not rewritten and stay readable...
    assert read(api, headers, "Book", "b-1") == stored
    listed = api.client.get(url("Book"), headers=headers).json()["data"]["results"]
    assert listed == [stored]
    # ...but the next write must satisfy the new version, even one that changes nothing.
    for data in ({"pages": 3}, {"title": "Dune"}, {}):
        response = api.client.patch(url("Book", "b-1"), json={"data": data}, headers=headers)
        assert response.status_code == 400, response.text
        assert errors_of(response) == ["data.author: required field missing"]
    assert read(api, headers, "Book", "b-1") == stored
    fixed = api.client.patch(
        url("Book", "b-1"), json={"data": {"author": "Herbert"}}, headers=headers
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["data"]["result"]["data"]["author"] == "Herbert"
    fresh = api.client.post(
        url("Book"), json={"data": {"isbn": "b-2", "title": "Emma"}}, headers=headers
    )
    assert fresh.status_code == 400
    assert errors_of(fresh) == ["data.author: required field missing"]


def test_a_new_property_is_writable_right_after_the_update(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    create_schema(api, partner, book_schema())
    create(api, headers, "Book", {"isbn": "b-1", "title": "Dune"})
    refused = api.client.patch(url("Book", "b-1"), json={"data": {"year": 1965}}, headers=headers)
    assert errors_of(refused) == ["data.year: unknown field"]

    new_schema = book_schema()["schema"]
    new_schema["properties"]["year"] = {"type": "integer"}
    assert post(api, partner, {"schema": new_schema}, f"{BASE}/books").status_code == 200

    accepted = api.client.patch(url("Book", "b-1"), json={"data": {"year": 1965}}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert read(api, headers, "Book", "b-1")["data"]["year"] == 1965


def test_the_default_customer_schema_can_be_extended(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    create_customer(api, headers, "c-1")
    customers = get(api, partner, "customers").json()["data"]
    schema = customers["schema"]
    schema["properties"]["loyaltyTier"] = {"type": "string"}

    response = post(api, partner, {"schema": schema}, f"{BASE}/customers")

    assert response.status_code == 200, response.text
    patched = api.client.patch(
        url("customers", "c-1"), json={"data": {"loyaltyTier": "gold"}}, headers=headers
    )
    assert patched.status_code == 200, patched.text
