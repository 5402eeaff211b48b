"""Helpers for the OpenAPI tests: fetching the served document, resolving its ``$ref``s, the
published contract, and checking a live response against what the document says of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.harness import Harness

REPO = Path(__file__).resolve().parents[1]
CONTRACT_NAME = "patch-customer-resource.openapi.yaml"
IN_REPO_CONTRACT = REPO / "tests" / "contract" / "reference" / CONTRACT_NAME
SHARED_CONTRACT = REPO / ".." / "shared" / "reference" / CONTRACT_NAME
CUSTOMER_PATCH = ("/api/resources/customers/{externalId}", "patch")


def load_contract() -> dict[str, Any]:
    """The published contract; the in-repo copy first, so the test never depends on shared/."""
    for candidate in (IN_REPO_CONTRACT, SHARED_CONTRACT):
        if candidate.exists():
            loaded: dict[str, Any] = yaml.safe_load(candidate.read_text())
            return loaded
    pytest.skip(
        f"contract {CONTRACT_NAME} found neither at {IN_REPO_CONTRACT} nor {SHARED_CONTRACT}"
    )


def fetch_document(api: Harness, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = api.client.get("/openapi.json", headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    document: dict[str, Any] = response.json()
    return document


def deref(document: dict[str, Any], node: Any, seen: tuple[str, ...] = ()) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at (recursively)."""
    if isinstance(node, list):
        return [deref(document, item, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        assert ref.startswith("#/"), f"non-local $ref {ref}"
        assert ref not in seen, f"recursive $ref {ref}"
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        return deref(document, target, (*seen, ref))
    return {key: deref(document, value, seen) for key, value in node.items()}


def without_extensions(node: Any) -> Any:
    """Specification extensions (``x-...``) carry no structure; drop them before comparing."""
    if isinstance(node, list):
        return [without_extensions(item) for item in node]
    if isinstance(node, dict):
        return {k: without_extensions(v) for k, v in node.items() if not k.startswith("x-")}
    return node


def operation(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    found: dict[str, Any] = deref(document, document["paths"][path][method.lower()])
    return found


def response_schema(document: dict[str, Any], path: str, method: str, status: int) -> Any:
    responses = operation(document, path, method)["responses"]
    assert str(status) in responses, f"{method} {path} documents no {status}"
    return responses[str(status)]["content"]["application/json"]["schema"]


def assert_documented(
    document: dict[str, Any], path: str, method: str, response: httpx.Response
) -> dict[str, Any]:
    """The live response's status is documented for the operation and its body fits."""
    schema = response_schema(document, path, method, response.status_code)
    body: dict[str, Any] = response.json()
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    problems = [
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(body)
    ]
    assert not problems, (method, path, response.status_code, problems, body)
    return body
