"""Segments: named sets of a tenant's contacts, defined by conditions and always current.

Membership is never stored: every read evaluates the conditions in the database over the
contacts' stored documents (:mod:`reach.domain.segment_conditions`), so a PATCH that changes a field
changes the contact's segments on the very next read. The contacts are the records of the
schema the partner's mapping names as ``contactsSchema.primarySource``; condition fields
resolve through it (docs/decisions.md, *Segments*).
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from reach import clock
from reach.cursors import decode_cursor, encode_cursor
from reach.domain import field_paths, mappings
from reach.domain.compiled import json_type
from reach.domain.field_paths import Path
from reach.domain.ordered_ids import new_ordered_id
from reach.domain.resources import Record
from reach.domain.schemas import SchemaDefinition, SchemaRegistry
from reach.domain.segment_conditions import Compiler, Condition, parse
from reach.domain.tenants import Tenant
from reach.errors import BadRequest, Conflict, NotFound
from reach.storage.database import Connection, Row
from reach.storage.segments import FIRST_ARG, Predicate, SegmentRecords, TenantSegments

# The contact fields Reach documents, resolved through the mapping's primary source.
DOCUMENTED_FIELDS = ("userId", "email", "phone", "firstName", "lastName")
TYPES = ("custom", "one_off")
MAX_NAME = 200
MAX_DESCRIPTION = 2000


class Segment(msgspec.Struct, frozen=True):
    id: str
    name: str
    description: str | None
    type: str
    conditions: list[Condition]
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Segment:
        return cls(
            id=str(row["id"]),
            name=row["name"],
            description=row["description"],
            type=row["type"],
            conditions=[
                Condition(c.field, c.operator, [_as_stored(v) for v in c.value])
                for c in msgspec.json.decode(row["conditions"], type=list[Condition])
            ],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def values(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "conditions": msgspec.json.encode(self.conditions).decode(),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


def _as_stored(value: Any) -> Any:
    """PostgreSQL's jsonb writes 1e30 back as a 31-digit integer: read it as the float it was
    (an integer beyond 64 bits was a float when the segment was validated)."""
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return float(value)
    return value


class Contacts(msgspec.Struct, frozen=True):
    """The tenant's contacts schema and the fields segments may use, with their paths."""

    schema: SchemaDefinition
    fields: dict[str, Path]


class MemberPage(msgspec.Struct, frozen=True):
    results: list[Record]
    has_next_page: bool
    total: int
    cursor: str | None


async def contacts(conn: Connection, registry: SchemaRegistry, partner_id: str) -> Contacts:
    mapping = await mappings.get(conn, partner_id)
    primary = (mapping.get("contactsSchema") or {}).get("primarySource")
    if not isinstance(primary, dict):
        raise Conflict(
            "No contacts schema is mapped",
            errors=["POST /partner/schema-mappings with contactsSchema.primarySource first"],
        )
    try:
        schema = await registry.resolve(conn, partner_id, str(primary.get("schemaId")))
    except NotFound:
        raise Conflict(
            "The mapped contacts schema is no longer active",
            errors=["contactsSchema.primarySource.schemaId: update /partner/schema-mappings"],
        ) from None
    return Contacts(schema, segment_fields(schema, primary))


def segment_fields(schema: SchemaDefinition, primary: dict[str, Any]) -> dict[str, Path]:
    """Field name → path. The documented names (through the mapping) win over fields the
    schema exposes for segments, which win over the built-in customers schema's properties."""
    fields: dict[str, Path] = {}
    if schema.name == "customers":
        for name in schema.json_schema.get("properties") or {}:
            path = field_paths.parse(name)
            if path is not None:
                fields[name] = path
    for item in schema.options.get("fieldsToExpose") or []:
        if not isinstance(item, dict) or "segments" not in (item.get("exposure") or []):
            continue
        name, reference = item.get("name"), item.get("jsonPath") or item.get("name")
        if isinstance(name, str) and isinstance(reference, str):
            path = field_paths.parse(reference)
            if path is not None:
                fields[name] = path
    for name in DOCUMENTED_FIELDS:
        reference = primary.get(name)
        if isinstance(reference, str):
            path = field_paths.parse(reference)
            if path is not None:
                fields[name] = path
    return fields


# -- CRUD


def _check_fields(found: Contacts, conditions: list[Condition]) -> None:
    errors = [
        f"conditions[{i}].field: {c.field!r} is not a segment field of schema "
        f"{found.schema.name!r} (one of: {', '.join(sorted(found.fields))})"
        for i, c in enumerate(conditions)
        if c.field not in found.fields
    ]
    if errors:
        raise BadRequest("Invalid conditions", errors=errors)


_KEYS = ("name", "description", "conditions", "type")


def _input(body: Any, *, partial: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(
            "Invalid segment", errors=[f"body: expected object, got {json_type(body)}"]
        )
    errors = [f"{key}: unknown field" for key in body if key not in _KEYS]
    out: dict[str, Any] = {}
    name = body.get("name")
    if "name" in body or not partial:
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            errors.append(f"name: required, a string of 1 to {MAX_NAME} characters")
        else:
            out["name"] = name
    if "description" in body:
        description = body["description"]
        if description is not None and (
            not isinstance(description, str) or len(description) > MAX_DESCRIPTION
        ):
            errors.append(f"description: a string of at most {MAX_DESCRIPTION} characters")
        else:
            out["description"] = description
    if "type" in body:
        if body["type"] not in TYPES:
            errors.append(f"type: must be one of {', '.join(TYPES)}")
        else:
            out["type"] = body["type"]
    if "conditions" not in body and not partial:
        errors.append("conditions: required (an array; [] matches every contact)")
    if errors:
        raise BadRequest("Invalid segment", errors=errors)
    if "conditions" in body:
        out["conditions"] = parse(body["conditions"])
    return out


async def create(conn: Connection, registry: SchemaRegistry, tenant: Tenant, body: Any) -> Segment:
    given = _input(body, partial=False)
    _check_fields(await contacts(conn, registry, tenant.partner_id), given["conditions"])
    at = clock.now()
    segment = Segment(
        id=new_ordered_id(),
        name=given["name"],
        description=given.get("description"),
        type=given.get("type", "custom"),
        conditions=given["conditions"],
        created_at=at,
        updated_at=at,
    )
    await TenantSegments(conn, tenant.id).insert(segment.values())
    return segment


async def get(conn: Connection, tenant: Tenant, segment_id: str) -> Segment:
    row = (
        await TenantSegments(conn, tenant.id).get(segment_id) if clock.is_uuid(segment_id) else None
    )
    if row is None:
        raise NotFound(f"Segment {segment_id!r} not found")
    return Segment.from_row(row)


async def update(
    conn: Connection, registry: SchemaRegistry, tenant: Tenant, segment_id: str, body: Any
) -> Segment:
    given = _input(body, partial=True)
    current = await get(conn, tenant, segment_id)
    if "conditions" in given:
        _check_fields(await contacts(conn, registry, tenant.partner_id), given["conditions"])
    updated = msgspec.structs.replace(current, **given, updated_at=clock.now())
    row = await TenantSegments(conn, tenant.id).update(updated.values())
    if row is None:
        raise NotFound(f"Segment {segment_id!r} not found")
    return Segment.from_row(row)


async def delete(conn: Connection, tenant: Tenant, segment_id: str) -> Segment:
    row = (
        await TenantSegments(conn, tenant.id).delete(segment_id)
        if clock.is_uuid(segment_id)
        else None
    )
    if row is None:
        raise NotFound(f"Segment {segment_id!r} not found")
    return Segment.from_row(row)


async def page(
    conn: Connection, tenant: Tenant, cursor: str | None, limit: int
) -> tuple[list[Segment], bool, int, str | None]:
    after = decode_cursor(cursor, "segments", 2)
    door = TenantSegments(conn, tenant.id)
    rows = await door.page((str(after[0]), str(after[1])) if after else None, limit + 1)
    has_next = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if has_next else None
    next_cursor = (
        encode_cursor("segments", [str(last["created_at"]), str(last["id"])]) if last else None
    )
    return [Segment.from_row(r) for r in rows], has_next, await door.count(), next_cursor


# -- membership


async def members(
    conn: Connection,
    registry: SchemaRegistry,
    tenant: Tenant,
    segment_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> MemberPage:
    segment = await get(conn, tenant, segment_id)
    found = await contacts(conn, registry, tenant.partner_id)
    kind = f"segment:{segment.id}"
    after = decode_cursor(cursor, kind, 1)
    after_seq = after[0] if after else 0
    if not isinstance(after_seq, int) or not 0 <= after_seq < 2**63:
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    compiler = Compiler(conn.dialect, FIRST_ARG)
    predicate = (compiler.predicate(segment.conditions, found.fields), compiler.args)
    door = SegmentRecords(conn, tenant.id, found.schema.id)
    rows, total = await door.members(predicate, after_seq=after_seq, limit=limit + 1)
    has_next = len(rows) > limit
    rows = rows[:limit]
    return MemberPage(
        results=[_record(tenant, row) for row in rows],
        has_next_page=has_next,
        total=total,
        cursor=encode_cursor(kind, [int(rows[-1]["seq"])]) if has_next else None,
    )


async def of_user(
    conn: Connection, registry: SchemaRegistry, tenant: Tenant, external_id: str
) -> list[Segment]:
    """The tenant's segments the contact ``external_id`` belongs to, in one statement."""
    found = await contacts(conn, registry, tenant.partner_id)
    door = SegmentRecords(conn, tenant.id, found.schema.id)
    every = [Segment.from_row(row) for row in await TenantSegments(conn, tenant.id).all()]
    if not every:
        if not await door.exists(external_id):
            raise NotFound(f"User {external_id!r} not found")
        return []
    compiler = Compiler(conn.dialect, FIRST_ARG)
    predicates: list[Predicate] = [
        (compiler.predicate(s.conditions, found.fields), []) for s in every
    ]
    predicates[0] = (predicates[0][0], compiler.args)  # the arguments, numbered across all
    matched = await door.matching(external_id, predicates)
    if not matched:
        raise NotFound(f"User {external_id!r} not found")
    return [segment for segment, hit in zip(every, matched, strict=True) if hit]


def _record(tenant: Tenant, row: Row) -> Record:
    return Record(
        id=str(row["id"]),
        schema_id=str(row["schema_id"]),
        partner_id=tenant.partner_id,
        tenant_id=tenant.id,
        external_id=row["external_id"],
        data=orjson.Fragment(row["data"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        version=int(row["version"]),
    )
