"""Listing a schema's records: keyset pages and ``filter[field]=`` typed by the schema."""

from __future__ import annotations

import math
import re
from typing import Any

import msgspec

from reach.cursors import decode_cursor, encode_cursor
from reach.domain.resources import Record, Scope
from reach.errors import BadRequest
from reach.storage.json_filters import Filter


class RecordPage(msgspec.Struct, frozen=True):
    results: list[Record]
    has_next_page: bool
    total: int
    cursor: str | None


async def page(
    scope: Scope, *, cursor: str | None, limit: int, filters: dict[str, str]
) -> RecordPage:
    kind = f"resources:{scope.schema.id}"
    after = decode_cursor(cursor, kind, 1)
    after_seq = after[0] if after else None
    if after_seq is not None and not (isinstance(after_seq, int) and 0 <= after_seq < _INT64):
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    json_filters = _filters(scope, filters)
    rows = await scope.rows.page(
        scope.schema.id, after_seq=after_seq, limit=limit + 1, filters=json_filters
    )
    total = await scope.rows.count(scope.schema.id, json_filters)
    has_next = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(kind, [int(rows[-1]["seq"])]) if has_next else None
    return RecordPage(
        results=[scope.record(row) for row in rows],
        has_next_page=has_next,
        total=total,
        cursor=next_cursor,
    )


_JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_INT64 = 2**63


def _filters(scope: Scope, filters: dict[str, str]) -> list[Filter]:
    """``filter[field]=text`` → equality filters typed by the schema's property type."""
    properties = scope.schema.json_schema.get("properties", {})
    out: list[Filter] = []
    errors: list[str] = []
    for field, text in filters.items():
        spec = properties.get(field)
        if not isinstance(spec, dict) or '"' in field or "\\" in field:
            errors.append(f"filter[{field}]: not a top-level field of {scope.schema.name}")
            continue
        kind = "string" if "$ref" in spec else spec.get("type", "string")
        try:
            out.append(_typed_filter(field, kind, text))
        except ValueError as exc:
            errors.append(f"filter[{field}]: {exc}")
    if errors:
        raise BadRequest("Invalid filter", errors=errors)
    return out


def _typed_filter(field: str, kind: Any, text: str) -> Filter:
    if kind == "string":
        if "\x00" in text:
            raise ValueError("must not contain the NUL character (U+0000)")
        return (field, "string", text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise ValueError("expected true or false")
        return (field, "boolean", text == "true")
    if kind in ("integer", "number"):
        if not _JSON_NUMBER.fullmatch(text):
            raise ValueError(f"expected a JSON {kind}")
        approximate = float(text)
        if not math.isfinite(approximate):
            raise ValueError(f"{text!r} is out of range")
        if kind == "integer" and not approximate.is_integer():
            raise ValueError("expected an integer")
        number: int | float = approximate
        if approximate.is_integer() and not any(c in text for c in ".eE"):
            # Exact for whole numbers; beyond 64 bits stored values are floats anyway.
            whole = int(text)
            number = whole if -_INT64 <= whole < _INT64 else approximate
        return (field, "number", number)
    raise ValueError(f"cannot filter on a field of type {kind}")
