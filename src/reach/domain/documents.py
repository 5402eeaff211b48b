"""Incoming resource documents: the ``{"data": {...}}`` envelope, unknown fields, merging.

Merge semantics are RFC 7396 (JSON Merge Patch) for single writes, upserts and batches alike:
an absent field is unchanged, ``null`` removes the field, a value replaces it, and nested
objects merge the same way. What a write does with them is :mod:`reach.domain.write_rule`.
"""

from __future__ import annotations

from typing import Any

from reach.domain.compiled import CompiledSchema, json_type
from reach.errors import BadRequest, InvalidDocument, UnknownFields

ALLOWED_TOP_LEVEL = frozenset({"data"})


def merge_patch(target: Any, patch: Any) -> Any:
    if type(patch) is not dict:
        return patch
    result = dict(target) if type(target) is dict else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif type(value) is dict:
            result[key] = merge_patch(result.get(key), value)
        else:  # no call per scalar: this loop is the batch worker's hot path
            result[key] = value
    return result


def unwrap(body: Any, compiled: CompiledSchema, *, ignore_unknown: bool) -> dict[str, Any]:
    """The ``data`` object of a single-resource body, with unknown fields refused or dropped."""
    if not isinstance(body, dict):
        raise BadRequest(
            "Validation failed", errors=[f"body: expected object, got {json_type(body)}"]
        )
    unknown = [key for key in body if key not in ALLOWED_TOP_LEVEL]
    if "data" not in body:
        raise BadRequest(
            "Validation failed",
            errors=[
                "data: required field missing",
                *[f"{key}: unknown field" for key in ([] if ignore_unknown else unknown)],
            ],
        )
    data = body["data"]
    if not isinstance(data, dict):
        raise BadRequest(
            "Validation failed", errors=[f"data: expected object, got {json_type(data)}"]
        )
    return checked_fields(data, compiled, ignore_unknown=ignore_unknown, top_level=unknown)


def checked_fields(
    data: dict[str, Any],
    compiled: CompiledSchema,
    *,
    ignore_unknown: bool,
    root: str = "data",
    top_level: list[str] | None = None,
) -> dict[str, Any]:
    kept, unknown = compiled.split_unknown(data, root)
    unknown = [*(top_level or []), *unknown]
    if unknown and not ignore_unknown:
        raise UnknownFields(unknown)
    nul = nul_characters(kept, root)
    if nul:
        raise InvalidDocument(
            [f"{path}: must not contain the NUL character (U+0000)" for path in nul]
        )
    checked: dict[str, Any] = kept
    return checked


def nul_characters(value: Any, path: str) -> list[str]:
    """Paths whose key or string value holds U+0000.

    PostgreSQL's jsonb cannot store it, so both engines refuse it with a 400 rather than
    one of them failing with a 500.
    """
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}"
            found.extend([where] if "\x00" in key else nul_characters(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(nul_characters(item, f"{path}[{index}]"))
    return found
