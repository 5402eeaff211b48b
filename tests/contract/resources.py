"""Small helpers shared by the resource tests: URLs, bodies, and read-backs over HTTP."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

from tests.contract.validate import assert_contract
from tests.harness import Harness, PartnerKey

CREATED_AT = "2026-01-02T03:04:05Z"
# Server timestamps: RFC 3339, UTC, milliseconds, ``Z``.
SERVER_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RECORD_KEYS = frozenset(
    {
        "id",
        "schema_definition_id",
        "schemaDefinitionId",
        "platform_id",
        "platformId",
        "business_id",
        "businessId",
        "resource_external_id",
        "resourceExternalId",
        "created_at",
        "createdAt",
        "updated_at",
        "updatedAt",
        "data",
    }
)


def url(schema: str, external_id: str | None = None) -> str:
    """The resource URL, with the external id percent-encoded as one path segment."""
    base = f"/api/resources/{quote(schema, safe='')}"
    return base if external_id is None else f"{base}/{quote(external_id, safe='')}"


def customer(customer_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "createdAt": CREATED_AT,
        **extra,
    }


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create(
    api: Harness, headers: dict[str, str], schema: str, data: dict[str, Any]
) -> dict[str, Any]:
    response = api.client.post(url(schema), json={"data": data}, headers=headers)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"]
    return record


def create_customer(
    api: Harness, headers: dict[str, str], customer_id: str, **extra: Any
) -> dict[str, Any]:
    return create(api, headers, "customers", customer(customer_id, **extra))


def read(api: Harness, headers: dict[str, str], schema: str, external_id: str) -> dict[str, Any]:
    """The stored record, read back through GET (a customer's checked against the contract)."""
    response = api.client.get(url(schema, external_id), headers=headers)
    if schema.lower() == "customers":
        assert_contract(response, 200)
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()["data"]["result"]
    return record


def absent(api: Harness, headers: dict[str, str], schema: str, external_id: str) -> None:
    assert_contract(api.client.get(url(schema, external_id), headers=headers), 404)


def create_schema(api: Harness, partner: PartnerKey, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(
        "/partner/schema-definitions", json=body, headers=api.partner_headers(partner)
    )
    assert response.status_code == 200, response.text
    definition: dict[str, Any] = response.json()["data"]
    return definition


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": properties,
        "required": required or [],
    }


def errors_of(response: Any) -> list[str]:
    """The 400 envelope's ``errors`` (asserting the contract's 400 and our ``errors`` list)."""
    body = assert_contract(response, 400)
    assert body["success"] is False, body
    assert isinstance(body["message"], str), body
    assert body["message"], body
    errors: list[str] = body["errors"]
    assert errors, body
    assert all(isinstance(e, str) for e in errors), body
    return errors
