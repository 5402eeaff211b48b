"""Validate live responses against the contract, transcribed into JSON Schema in this folder.

The files here are written from ``shared/reference/patch-customer-resource.openapi.yaml``
(field names, types, ``required`` lists, ``format: uuid`` / ``date-time``);
``test_resources_contract_files.py`` proves they still say what the YAML says.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker

HERE = Path(__file__).parent
CONTRACT_FILES = {
    200: "patch_customer_200.json",
    400: "patch_customer_400.json",
    404: "patch_customer_404.json",
}
REQUEST_FILE = "patch_customer_request.json"


def load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((HERE / name).read_text())
    return loaded


@cache
def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    # jsonschema checks these only when optional packages are installed; without them a
    # format silently passes, which would make the contract check toothless.
    assert checker.conforms("not-a-uuid", "uuid") is False
    assert checker.conforms("2026-01-01", "date-time") is False
    return checker


@cache
def validator(name: str) -> Draft202012Validator:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=_format_checker())


def contract_errors(status: int, body: Any) -> list[str]:
    found = validator(CONTRACT_FILES[status]).iter_errors(body)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in found
    ]


def assert_contract(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response has ``status`` and a body that validates against that status's schema."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    problems = contract_errors(status, body)
    assert not problems, (problems, body)
    return body
