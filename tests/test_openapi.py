"""The served OpenAPI document: valid, complete (every route the app serves, nothing more),
faithful to the published contract for the customer PATCH, and scoped to the calling partner."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

import pytest
from openapi_spec_validator import validate
from starlette.routing import BaseRoute, Mount, Route

from reach.web.app import create_app
from tests.harness import Harness, PartnerKey
from tests.openapi_support import (
    CUSTOMER_PATCH,
    IN_REPO_CONTRACT,
    SHARED_CONTRACT,
    deref,
    fetch_document,
    load_contract,
    operation,
    without_extensions,
)

METHODS = {"get", "put", "post", "patch", "delete", "options", "head", "trace"}


def _shape(path: str) -> str:
    """``/api/resources/{schema}/{externalId:path}`` → ``/api/resources/{}/{}``."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _served(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(method, path shape) of every route the app serves and declares part of its API."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= _served(list(route.routes), prefix + route.path)
        elif isinstance(route, Route) and route.include_in_schema:
            # Starlette adds HEAD to every GET route by itself.
            found |= {(m, _shape(prefix + route.path)) for m in route.methods or () if m != "HEAD"}
    return found


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(method, path shape); a schema's explicit paths count as the generic route they use."""
    found: set[tuple[str, str]] = set()
    for path, item in document["paths"].items():
        generic = re.sub(r"^/api/resources/[^/{]+", "/api/resources/{}", _shape(path))
        found |= {(method.upper(), generic) for method in item if method in METHODS}
    return found


def test_served_document_is_valid_openapi(api: Harness) -> None:
    response = api.client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["vary"] == "Authorization"
    document = response.json()
    assert document["openapi"].startswith("3.0")
    validate(document)


def test_every_served_route_is_documented_and_nothing_else(api: Harness) -> None:
    document = fetch_document(api)
    served = _served(create_app(api.settings).routes)
    documented = _documented(document)
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_tenant_routes_take_the_tenant_header_and_its_alias(api: Harness) -> None:
    document = fetch_document(api)
    for path, item in document["paths"].items():
        for method, raw in item.items():
            names = {(p["in"], p["name"]) for p in deref(document, raw.get("parameters", []))}
            tenant_headers = {("header", "reach-tenant-id"), ("header", "X-Tenant-Id")}
            if path.startswith("/api/"):
                assert tenant_headers <= names, (method, path)
            else:
                assert not tenant_headers & names, (method, path)


def test_operations_are_secured_by_hs256_bearer_tokens_except_the_public_ones(api: Harness) -> None:
    document = fetch_document(api)
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "JWT")
    assert "HS256" in scheme["description"]
    assert document["security"] == [{"bearerAuth": []}]
    for path in ("/healthz", "/readyz"):
        assert document["paths"][path]["get"]["security"] == []
    assert {} in document["paths"]["/openapi.json"]["get"]["security"]


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        (
            "/partner/tenants",
            "get",
            {"cursor", "limit", "search", "orderBy", "orderDirection", "includeDeleted"},
        ),
        ("/partner/tenants/{id}", "get", {"includeDeleted"}),
        ("/api/resources/{schemaDefinitionNameOrId}", "get", {"cursor", "limit", "filter"}),
        (
            "/api/resources/{schemaDefinitionNameOrId}",
            "post",
            {"onconflict", "ignoreUnknownFields"},
        ),
        ("/api/resources/customers/{externalId}", "get", {"include"}),
        ("/api/resources/customers/{externalId}", "patch", {"ignoreUnknownFields"}),
        ("/api/resources/customers/{externalId}", "delete", {"cascade"}),
        (
            "/api/resources/{schemaDefinitionNameOrId}/{externalId}",
            "post",
            {"onconflict", "ignoreUnknownFields"},
        ),
    ],
)
def test_operations_document_the_query_parameters_their_routes_read(
    api: Harness, path: str, method: str, expected: set[str]
) -> None:
    parameters = operation(fetch_document(api), path, method).get("parameters", [])
    assert {p["name"] for p in parameters if p["in"] == "query"} == expected


def test_error_responses_use_the_envelopes(api: Harness) -> None:
    document = fetch_document(api)
    patch = operation(document, *CUSTOMER_PATCH)
    for status in ("400", "401", "403", "404", "413", "415"):
        assert status in patch["responses"], status
    schemas = document["components"]["schemas"]
    assert set(schemas["ValidationError"]["properties"]) == {"success", "message", "errors"}
    assert set(schemas["NotFoundError"]["properties"]["data"]["properties"]) == {"error"}
    assert schemas["Error"]["required"] == ["success", "message"]
    create = operation(document, "/partner/tenants", "post")
    assert {"400", "401", "403", "409", "413", "415"} <= set(create["responses"])


def _contract_operation() -> dict[str, Any]:
    contract = load_contract()
    found: dict[str, Any] = copy.deepcopy(contract["paths"][CUSTOMER_PATCH[0]][CUSTOMER_PATCH[1]])
    # The one deliberate deviation: the contract marks resourceExternalId (camelCase) as the
    # deprecated twin of itself. We deprecate the snake_case twin, as for every other field.
    body = found["responses"]["200"]["content"]["application/json"]["schema"]
    result = body["properties"]["data"]["properties"]
    for record in (result["result"], result["included"]["items"]):
        record["properties"]["resource_external_id"]["description"] = (
            "[Deprecated] Please use resourceExternalId instead. External ID of the resource"
        )
        record["properties"]["resourceExternalId"]["description"] = "External ID of the resource"
    return found


def test_customer_patch_takes_the_contract_parameters(api: Harness) -> None:
    ours = without_extensions(operation(fetch_document(api), *CUSTOMER_PATCH))
    theirs = _contract_operation()
    for parameter in theirs["parameters"]:
        assert parameter in ours["parameters"], parameter["name"]
    extra = [p for p in ours["parameters"] if p not in theirs["parameters"]]
    assert [(p["in"], p["name"], p["required"]) for p in extra] == [
        ("header", "X-Tenant-Id", False),
        ("header", "If-Match", False),  # conditional requests (issue 13)
        ("header", "Idempotency-Key", False),  # issue 13
    ]


def test_customer_patch_request_and_responses_equal_the_contract(api: Harness) -> None:
    ours = without_extensions(operation(fetch_document(api), *CUSTOMER_PATCH))
    theirs = _contract_operation()

    def body(op: dict[str, Any]) -> Any:
        return op["requestBody"]["content"]["application/json"]["schema"]

    def answer(op: dict[str, Any], status: str) -> Any:
        return op["responses"][status]["content"]["application/json"]["schema"]

    assert body(ours) == body(theirs)
    for status in ("200", "400", "404"):
        assert answer(ours, status) == answer(theirs, status), status


def test_in_repo_contract_copy_is_the_published_one() -> None:
    if not SHARED_CONTRACT.exists():
        pytest.skip(f"no shared/ checkout next to the repository ({SHARED_CONTRACT})")
    assert IN_REPO_CONTRACT.read_text() == SHARED_CONTRACT.read_text()


def test_reference_fields_are_strings_naming_their_target_schema(api: Harness) -> None:
    data = fetch_document(api)["components"]["schemas"]["transactions.Data"]
    for field, target in (("customerId", "customers"), ("locationId", "locations")):
        spec = data["properties"][field]
        assert spec["type"] == "string"
        assert f"{target} schema" in spec["description"]


def _custom_schema(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "category": "custom_schema",
        "externalIdField": "orderId",
        "schema": {
            "type": "object",
            "title": "Order",
            "definitions": {
                "line": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                    "required": ["sku"],
                }
            },
            "properties": {
                "orderId": {"type": "string"},
                "customerId": {"$ref": "reach:schemas/customers"},
                "status": {"type": ["string", "null"]},
                "kind": {"const": "order"},
                "amount": {"type": "number", "exclusiveMinimum": 0},
                "lines": {"type": "array", "items": {"$ref": "#/definitions/line"}},
            },
            "required": ["orderId", "amount"],
        },
    }


def _define(api: Harness, partner: PartnerKey, name: str) -> None:
    created = api.client.post(
        "/partner/schema-definitions",
        json=_custom_schema(name),
        headers=api.partner_headers(partner),
    )
    assert created.status_code == 200, created.text


def test_custom_schema_is_documented_for_its_partner(api: Harness, partner: PartnerKey) -> None:
    name = f"orders{uuid.uuid4().hex[:6]}"
    _define(api, partner, name)
    document = fetch_document(api, api.partner_headers(partner))
    validate(document)
    for path in (f"/api/resources/{name}", f"/api/resources/{name}/{{externalId}}"):
        assert path in document["paths"]
    patch = operation(document, f"/api/resources/{name}/{{externalId}}", "patch")
    assert patch["tags"] == ["Custom Partner Resources"]
    data = document["components"]["schemas"][f"{name}.Data"]
    assert data["required"] == ["orderId", "amount"]
    properties = data["properties"]
    assert properties["status"] == {"type": "string", "nullable": True}
    assert properties["kind"] == {"enum": ["order"]}
    assert properties["amount"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True}
    assert properties["lines"]["items"]["required"] == ["sku"]
    assert "customers schema" in properties["customerId"]["description"]
    partial = document["components"]["schemas"][f"{name}.PartialData"]
    assert "required" not in partial
    assert partial["properties"]["lines"]["items"]["required"] == ["sku"]


def test_custom_schema_never_appears_in_another_partners_document(api: Harness) -> None:
    owner, other = api.new_partner(), api.new_partner()
    name = f"secret{uuid.uuid4().hex[:8]}"
    _define(api, owner, name)
    assert name in api.client.get("/openapi.json", headers=api.partner_headers(owner)).text
    assert name not in api.client.get("/openapi.json", headers=api.partner_headers(other)).text
    assert name not in api.client.get("/openapi.json").text
    tenant = api.new_tenant(owner)
    as_tenant = api.client.get("/openapi.json", headers=api.tenant_headers(owner, tenant))
    assert as_tenant.status_code == 200
    assert name not in as_tenant.text


def test_partner_document_shows_its_edited_default_schema(
    api: Harness, partner: PartnerKey
) -> None:
    headers = api.partner_headers(partner)
    current = api.client.get("/partner/schema-definitions/customers", headers=headers).json()
    schema = current["data"]["schema"]
    schema["properties"]["loyaltyTier"] = {"type": "string", "enum": ["gold", "silver"]}
    updated = api.client.post(
        "/partner/schema-definitions/customers", json={"schema": schema}, headers=headers
    )
    assert updated.status_code == 200, updated.text
    mine = fetch_document(api, headers)["components"]["schemas"]["customers.Data"]
    assert mine["properties"]["loyaltyTier"] == {"type": "string", "enum": ["gold", "silver"]}
    public = fetch_document(api)["components"]["schemas"]["customers.Data"]
    assert "loyaltyTier" not in public["properties"]


def test_partner_document_is_not_cached_by_shared_caches(api: Harness, partner: PartnerKey) -> None:
    response = api.client.get("/openapi.json", headers=api.partner_headers(partner))
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["vary"] == "Authorization"


def test_invalid_token_for_the_document_is_a_401(api: Harness) -> None:
    response = api.client.get("/openapi.json", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.json()["success"] is False
