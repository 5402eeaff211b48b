"""Field references into resource documents: a top-level name, or a JSON path ``$.a.b``.

Mappings and ``fieldsToExpose`` name fields this way; segment conditions compile them to SQL
(:mod:`reach.domain.segment_conditions`). Path segments are whitelisted so a path can be bound as a
parameter on both engines and mean the same thing: no quotes, backslashes, brackets or
wildcards, and never all digits (PostgreSQL's ``#>`` would read those as array indexes).
"""

from __future__ import annotations

import re
from typing import Any

Path = tuple[str, ...]

_FORBIDDEN = re.compile(r'["\\\[\]*\x00-\x1f]')


def parse(reference: str) -> Path | None:
    """The path a reference names, or None when it is not one this server can evaluate."""
    parts = tuple(reference[2:].split(".")) if reference.startswith("$.") else (reference,)
    if not parts or any(not _segment_ok(part) for part in parts):
        return None
    return parts


def _segment_ok(part: str) -> bool:
    return bool(part) and len(part) <= 200 and not part.isdigit() and not _FORBIDDEN.search(part)


def declared(json_schema: dict[str, Any], path: Path) -> bool:
    """Whether ``path`` names a field the schema declares: every segment must be a declared
    property for as long as the schema describes properties (below an object or untyped
    value that does not describe them, anything goes)."""
    node: Any = json_schema
    for part in path:
        if not isinstance(node, dict):
            return False
        properties = node.get("properties")
        if not isinstance(properties, dict):
            kind = node.get("type")
            kinds = kind if isinstance(kind, list) else [kind]
            # An object with undescribed properties (or an untyped value) may hold anything;
            # a string or number holds no fields.
            return node is not json_schema and (kind is None or "object" in kinds)
        if part not in properties:
            return False
        node = properties[part]
    return True


def describe(reference: str, json_schema: dict[str, Any], schema_name: str) -> str | None:
    """Why ``reference`` does not name a field of the schema (None: it does)."""
    path = parse(reference)
    if path is None:
        return (
            f"{reference!r} is not a field name or a JSON path like $.address.city "
            "(no quotes, brackets, wildcards or numeric segments)"
        )
    if not declared(json_schema, path):
        return f"{reference!r} is not a field of schema {schema_name!r}"
    return None
