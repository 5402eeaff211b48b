"""What makes a JSON Schema acceptable as a resource schema.

Draft-07 only, never fetching anything and bounded in size (:mod:`reach.domain.schema_safety`:
no keyword anywhere may name a URL), an object schema whose ``externalIdField`` is
a string property, ``$ref`` only local or ``reach:schemas/<nameOrId>`` of the same partner,
``required`` naming declared properties, and defaults that satisfy their own property. Every
problem is reported with its path inside the definition (``schema.properties.a.pattern: ...``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema_rs

from reach.domain import schema_safety
from reach.domain.compiled import REF_PREFIX, CompiledSchema
from reach.domain.schema_safety import DRAFT_07_URIS as DRAFT_07_URIS
from reach.domain.schema_safety import SchemaLimits
from reach.errors import BadRequest

CATEGORIES = (
    "contacts_schema",
    "transactions_schema",
    "custom_schema",
    "combined_schema",
    "locations_schema",
    "customer_fields",
)


async def check(
    category: str,
    json_schema: dict[str, Any],
    external_id_field: str,
    *,
    self_names: tuple[str, str, str],
    find_target: Callable[[str], Awaitable[str | None]],
    limits: SchemaLimits,
) -> dict[str, str]:
    """Validate a JSON Schema as a resource schema; returns its resolved references
    (top-level field → target schema id). 400 naming every problem otherwise.

    ``self_names`` is (name, plural name, id) of the schema being written, which may refer
    to itself; ``find_target`` resolves another schema of the same partner to its id.
    """
    errors: list[str] = []
    if category not in CATEGORIES:
        errors.append(f"category: must be one of {', '.join(CATEGORIES)}")
    # In a thread: the walks are plain Python and share the interpreter with the loop; the
    # library's compile holds the GIL throughout, which the caps bound.
    problems, compiled = await asyncio.to_thread(_compile, json_schema, limits)
    errors.extend(problems)
    if errors:
        raise BadRequest("Invalid schema definition", errors=errors)
    properties = json_schema.get("properties")
    if json_schema.get("type") != "object" or not isinstance(properties, dict):
        raise BadRequest(
            "Invalid schema definition",
            errors=["schema: must be an object schema (type: object) with properties"],
        )
    id_spec = properties.get(external_id_field)
    if not isinstance(id_spec, dict) or id_spec.get("type") != "string":
        errors.append(f"externalIdField: {external_id_field!r} must name a string property")
    references: dict[str, str] = {}
    for path, ref, top_level in _refs(json_schema, "schema"):
        if not ref.startswith(REF_PREFIX):
            continue  # local: anything else was refused by schema_safety.inspect
        target_key = ref.removeprefix(REF_PREFIX)
        if target_key.lower() in {n.lower() for n in self_names}:
            target_id = self_names[2]
        else:
            found = await find_target(target_key)
            if found is None:
                errors.append(f"{path}: no schema {target_key!r} exists for this partner")
                continue
            target_id = found
        if top_level:
            references[path.removeprefix("schema.properties.").removesuffix(".$ref")] = target_id
    required = json_schema.get("required", [])
    errors.extend(
        f"schema.required: {name!r} is not a declared property"
        for name in required
        if name not in properties
    )
    if errors or compiled is None:  # None comes with its problems
        raise BadRequest("Invalid schema definition", errors=errors)
    # A default that breaks its own property would make every create fail on a field the
    # client never sent.
    bad_defaults: list[str] = []
    for name, value in compiled.defaults.items():
        for error in compiled.errors({name: value}):
            path, _, problem = error.partition(": ")
            inner = path.removeprefix(f"data.{name}")
            if path.startswith(f"data.{name}") and inner[:1] in ("", ".", "["):
                bad_defaults.append(f"schema.properties.{name}.default{inner}: {problem}")
    if bad_defaults:
        raise BadRequest("Invalid schema definition", errors=bad_defaults)
    return references


def _compile(
    json_schema: dict[str, Any], limits: SchemaLimits
) -> tuple[list[str], CompiledSchema | None]:
    """Check the caps and URL-naming keywords at any depth before the library reads
    anything, then meta-validate and compile (references do not matter to the validator:
    they are validated as strings). The problems, or the compiled schema."""
    unsafe = schema_safety.inspect(json_schema, limits)
    if unsafe:
        return unsafe, None
    try:
        schema_safety.meta_validate(json_schema)
    except jsonschema_rs.ValidationError as exc:
        return [_schema_error(exc)], None
    except jsonschema_rs.ReferencingError as exc:
        return [f"schema: {_first_line(str(exc))}"], None
    try:
        return [], CompiledSchema(json_schema, {})
    except jsonschema_rs.ValidationError as exc:
        return [_schema_error(exc)], None
    except (jsonschema_rs.ReferencingError, ValueError) as exc:
        return [f"schema: {_first_line(str(exc))}"], None


def _schema_error(exc: jsonschema_rs.ValidationError) -> str:
    """``schema.properties.a.pattern: "(" is not a "regex"`` — the path inside the schema."""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in exc.instance_path)
    return f"schema{where}: {_first_line(exc.message)}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _refs(node: Any, path: str, keys: tuple[str | int, ...] = ()) -> list[tuple[str, str, bool]]:
    """(path, reference, whether it is a top-level property's own ``$ref``) of every
    ``$ref``; the last is decided on keys, not on the path (a property name may hold ".")."""
    found: list[tuple[str, str, bool]] = []
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            top = len(keys) == 2 and keys[0] == "properties"
            found.append((f"{path}.$ref", ref, top))
        for key, value in node.items():
            found.extend(_refs(value, f"{path}.{key}", (*keys, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_refs(value, f"{path}[{index}]", (*keys, index)))
    return found
