"""A schema definition made ready for the hot path: compiled validator, defaults, references.

Compiled once per (schema id, version) and cached by :class:`reach.domain.schemas.SchemaRegistry`.
``$ref: "reach:schemas/<nameOrId>"`` fields hold the external id of the referenced record, so
for validation they are strings; the link itself is kept in :attr:`CompiledSchema.references`.

A definition naming a URL (stored before such definitions were refused) is never handed to the
library: it compiles to a schema that refuses every write with the reason, so its records stay
readable and nothing is fetched (see :mod:`reach.domain.schema_safety`).
"""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from reach.domain import schema_safety
from reach.domain.schema_safety import REF_PREFIX as REF_PREFIX

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def strip_reach_refs(node: Any) -> Any:
    """A copy of ``node`` where every reach reference is validated as a string."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            rest = {k: strip_reach_refs(v) for k, v in node.items() if k != "$ref"}
            return {**rest, "type": "string"}
        return {k: strip_reach_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [strip_reach_refs(item) for item in node]
    return node


def _closed_properties(node: Any) -> dict[str, Any] | None:
    """The declared properties of an object schema that does not invite extra fields."""
    if not isinstance(node, dict):
        return None
    properties = node.get("properties")
    if not isinstance(properties, dict):
        return None
    extra = node.get("additionalProperties", False)
    if extra is True or isinstance(extra, dict):
        return None
    return properties


def _split(node: Any, value: Any, path: str, unknown: list[str]) -> Any:
    if isinstance(value, dict):
        properties = _closed_properties(node)
        if properties is None:
            return value
        kept: dict[str, Any] = {}
        for key, item in value.items():
            if key not in properties:
                unknown.append(f"{path}.{key}")
            elif isinstance(item, dict | list):
                kept[key] = _split(properties[key], item, f"{path}.{key}", unknown)
            else:  # a scalar has no fields of its own: no path to build, nothing to walk
                kept[key] = item
        return kept
    if isinstance(value, list) and isinstance(node, dict) and isinstance(node.get("items"), dict):
        return [
            _split(node["items"], item, f"{path}[{i}]", unknown) for i, item in enumerate(value)
        ]
    return value


def describe(error: jsonschema_rs.ValidationError, root: str = "data") -> str:
    """``data.email: expected string, got integer`` — one line, naming the JSON path."""
    path = root + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.instance_path
    )
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return f"{path}: expected {' or '.join(kind.types)}, got {json_type(error.instance)}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return f"{path}.{kind.property}: required field missing"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        return f"{path}: expected a valid {kind.format} string, got {error.instance!r}"
    return f"{path}: {error.message}"


class CompiledSchema:
    def __init__(self, json_schema: dict[str, Any], references: dict[str, str]) -> None:
        self.json_schema = json_schema
        self.references = references
        # Checked here too, not only when a definition is written: one stored before the
        # check existed must not fire either.
        self.refused = [
            f"{problem}; the schema definition must be updated before records can be written"
            for problem in schema_safety.remote_references(json_schema)
        ]
        self._validator = (
            None
            if self.refused
            else schema_safety.validator(strip_reach_refs(json_schema), validate_formats=True)
        )
        properties = json_schema.get("properties") or {}
        self.defaults = {
            name: spec["default"]
            for name, spec in properties.items()
            if isinstance(spec, dict) and "default" in spec
        }
        required = json_schema.get("required") or []
        self.required = frozenset(r for r in required if isinstance(r, str))

    def split_unknown(self, data: dict[str, Any], root: str = "data") -> tuple[Any, list[str]]:
        """``data`` without undeclared fields, and the paths of those fields."""
        unknown: list[str] = []
        kept = _split(self.json_schema, data, root, unknown)
        return kept, unknown

    def errors(self, document: dict[str, Any], root: str = "data") -> list[str]:
        validator = self._validator
        if validator is None:
            return self.refused
        if validator.is_valid(document):
            return []
        return [describe(error, root) for error in validator.iter_errors(document)]
