"""``/partner/schema-mappings``: the default mapping, replacing it, and 400s naming the path."""

from __future__ import annotations

from typing import Any

from tests.harness import Harness, PartnerKey


def _ids(api: Harness, partner: PartnerKey) -> dict[str, str]:
    listed = api.client.get("/partner/schema-definitions", headers=api.partner_headers(partner))
    return {d["name"]: d["id"] for d in listed.json()["data"]}


def test_a_new_partner_has_the_default_mapping(api: Harness, partner: PartnerKey) -> None:
    ids = _ids(api, partner)
    got = api.client.get("/partner/schema-mappings", headers=api.partner_headers(partner))
    assert got.status_code == 200, got.text
    assert got.json()["data"] == {
        "type": "combined_schema",
        "contactsSchema": {
            "primarySource": {
                "type": "contacts_schema",
                "schemaId": ids["customers"],
                "userId": "customerId",
                "email": "email",
                "phone": "phone",
                "firstName": "firstName",
                "lastName": "lastName",
                "emailOptOut": "emailOptOut",
                "smsOptOut": "smsOptOut",
            },
            "additionalSources": [],
        },
        "transactionsSchema": [
            {
                "type": "transactions_schema",
                "schemaId": ids["transactions"],
                "userId": "customerId",
                "id_field": "transactionId",
                "amount": {"field": "transactionTotal"},
                "dates": {"createdDate": "transactionDate"},
            }
        ],
        "customSchema": [],
        "locationsSchema": [],
    }


def test_post_replaces_the_mapping(api: Harness, partner: PartnerKey) -> None:
    ids = _ids(api, partner)
    headers = api.partner_headers(partner)
    body: dict[str, Any] = {
        "type": "combined_schema",
        "contactsSchema": {
            "primarySource": {
                "type": "contacts_schema",
                "schemaId": ids["customers"],
                "userId": "customerId",
                "fullName": "$.firstName",
            }
        },
        "transactionsSchema": [
            {
                "type": "transactions_schema",
                "schemaId": ids["transactions"],
                "userId": "customerId",
                "eventType": "purchase",
                "status": {"field": "transactionDetailUrl", "paidValue": "paid"},
                "amount": {"field": "transactionTotal", "currency": "USD"},
                "metadata": ["locationId"],
            }
        ],
        "locationsSchema": [
            {"type": "locations_schema", "schemaId": ids["locations"], "id_field": "locationId"}
        ],
    }
    saved = api.client.post("/partner/schema-mappings", json=body, headers=headers)
    assert saved.status_code == 200, saved.text
    got = api.client.get("/partner/schema-mappings", headers=headers).json()["data"]
    assert got == saved.json()["data"]
    assert got["contactsSchema"]["primarySource"]["fullName"] == "$.firstName"
    assert got["contactsSchema"]["additionalSources"] == []
    assert got["customSchema"] == []
    assert got["transactionsSchema"][0]["amount"] == {
        "field": "transactionTotal",
        "currency": "USD",
    }


def test_bad_mappings_get_400s_naming_the_path(api: Harness, partner: PartnerKey) -> None:
    ids = _ids(api, partner)
    headers = api.partner_headers(partner)
    other = api.new_partner()
    foreign = _ids(api, other)["customers"]

    def contacts(**source: Any) -> dict[str, Any]:
        primary = {"type": "contacts_schema", "schemaId": ids["customers"], "userId": "customerId"}
        return {
            "type": "combined_schema",
            "contactsSchema": {"primarySource": {**primary, **source}},
        }

    cases = [
        ({"contactsSchema": contacts()["contactsSchema"]}, "type"),
        ({"type": "combined_schema"}, "contactsSchema"),
        (contacts(userId=None), "contactsSchema.primarySource.userId: required"),
        (contacts(email="mail"), "contactsSchema.primarySource.email"),
        (contacts(email="$.email.inner"), "contactsSchema.primarySource.email"),
        (contacts(email='$."x"'), "contactsSchema.primarySource.email"),
        (contacts(schemaId=foreign), "contactsSchema.primarySource.schemaId"),
        (contacts(nickname="firstName"), "contactsSchema.primarySource.nickname: unknown field"),
        (
            {
                **contacts(),
                "transactionsSchema": [{"schemaId": ids["transactions"], "userId": "nope"}],
            },
            "transactionsSchema[0].userId",
        ),
        (
            {
                **contacts(),
                "transactionsSchema": [
                    {
                        "schemaId": ids["transactions"],
                        "userId": "customerId",
                        "dates": {"paidDate": "x"},
                    }
                ],
            },
            "transactionsSchema[0].dates.paidDate",
        ),
        ({**contacts(), "customSchema": {}}, "customSchema: expected array"),
        ([], "body"),
    ]
    for body, where in cases:
        response = api.client.post("/partner/schema-mappings", json=body, headers=headers)
        assert response.status_code == 400, (body, response.text)
        assert any(e.startswith(where) for e in response.json()["errors"]), (where, response.json())
    # Nothing was stored: the partner still has its default mapping.
    got = api.client.get("/partner/schema-mappings", headers=headers).json()["data"]
    assert got["contactsSchema"]["primarySource"]["email"] == "email"


def test_a_tenant_token_cannot_touch_mappings(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    assert api.client.get("/partner/schema-mappings", headers=headers).status_code == 403
