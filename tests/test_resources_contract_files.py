"""The JSON Schema files in ``tests/contract/`` say exactly what the published YAML says.

If someone edits either, this fails: the contract checks elsewhere are only as good as the
transcription.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.contract.validate import CONTRACT_FILES, REQUEST_FILE, contract_errors, load

# The in-repo copy of shared/reference/patch-customer-resource.openapi.yaml.
YAML = Path(__file__).parent / "contract/reference/patch-customer-resource.openapi.yaml"
KEPT = ("type", "format", "enum", "required")


def operation() -> dict[str, Any]:
    spec = yaml.safe_load(YAML.read_text())
    patch: dict[str, Any] = spec["paths"]["/api/resources/customers/{externalId}"]["patch"]
    return patch


def normal(node: Any, root: dict[str, Any]) -> Any:
    """The part of a schema that constrains values: types, formats, enums, required lists,
    properties and items — with local ``$ref``s resolved."""
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return normal(target, root)
    out: dict[str, Any] = {k: node[k] for k in KEPT if k in node}
    if "required" in out:
        out["required"] = sorted(out["required"])
    if "properties" in node:
        out["properties"] = {k: normal(v, root) for k, v in node["properties"].items()}
    if "items" in node:
        out["items"] = normal(node["items"], root)
    return out


@pytest.mark.parametrize("status", sorted(CONTRACT_FILES))
def test_response_schemas_match_the_published_contract(status: int) -> None:
    published = operation()["responses"][str(status)]["content"]["application/json"]["schema"]
    ours = load(CONTRACT_FILES[status])

    assert normal(ours, ours) == normal(published, published)


def test_request_schema_matches_the_published_contract() -> None:
    published = operation()["requestBody"]["content"]["application/json"]["schema"]
    ours = load(REQUEST_FILE)

    assert normal(ours, ours) == normal(published, published)


def test_the_contract_schemas_have_teeth() -> None:
    good_record = {
        "id": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "schema_definition_id": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "schemaDefinitionId": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "platform_id": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "platformId": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "business_id": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "businessId": "5b1f8f0e-8a4e-4f3e-9d3c-2f1e0c7b6a59",
        "resource_external_id": "c-1",
        "resourceExternalId": "c-1",
        "created_at": "x",
        "createdAt": "x",
        "updated_at": "x",
        "updatedAt": "x",
        "data": {
            "customerId": "c-1",
            "firstName": "A",
            "lastName": "B",
            "createdAt": "2026-01-01T00:00:00Z",
        },
    }
    good = {"success": True, "data": {"result": good_record, "included": []}}
    assert contract_errors(200, good) == []
    for broken in (
        {**good_record, "id": "not-a-uuid"},
        {**good_record, "data": {**good_record["data"], "createdAt": "2026-01-01"}},
        {k: v for k, v in good_record.items() if k != "updated_at"},
        {**good_record, "data": {"customerId": "c-1"}},
    ):
        assert contract_errors(200, {"success": True, "data": {"result": broken}})
    assert contract_errors(400, {"success": True, "message": "x"})
    assert contract_errors(404, {"success": False, "message": "x", "data": {}})
