"""Schema definitions: validation of the definitions themselves, versioning, lookup, caching.

Decisions (see docs/decisions.md): names and plural names are URL-safe, unique per partner
ignoring case across both name and plural; ``name``, ``pluralName``, ``category`` and
``externalIdField`` are fixed at creation (the Create page says so; an update that changes them
is a 400); every successful update bumps ``versionNumber``. Stored records are never rewritten
by a schema update: reads return them as stored, and the next write to a record validates the
merged document against the new version.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.cache import TTLCache
from reach.domain import schema_rules as rules
from reach.domain.compiled import CompiledSchema
from reach.domain.default_schemas import DEFAULT_SCHEMAS
from reach.domain.schema_rules import CATEGORIES as CATEGORIES
from reach.domain.schema_safety import SchemaLimits
from reach.errors import BadRequest, Conflict, NotFound
from reach.storage import schemas as store
from reach.storage.database import Connection, Row, on_replica

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
UNSET: Any = msgspec.UNSET


class SchemaInput(msgspec.Struct, kw_only=True):
    """What a partner may send; UNSET means "not given" (updates keep the stored value)."""

    name: str | msgspec.UnsetType = UNSET
    plural_name: str | msgspec.UnsetType = UNSET
    description: str | msgspec.UnsetType | None = UNSET
    category: str | msgspec.UnsetType = UNSET
    json_schema: dict[str, Any] | msgspec.UnsetType = UNSET
    external_id_field: str | msgspec.UnsetType = UNSET
    fields_to_expose: list[dict[str, Any]] | msgspec.UnsetType | None = UNSET
    expose_name_json_path: str | msgspec.UnsetType | None = UNSET


class SchemaDefinition(msgspec.Struct, frozen=True):
    id: str
    partner_id: str
    name: str
    plural_name: str
    description: str | None
    category: str
    external_id_field: str
    json_schema: dict[str, Any]
    options: dict[str, Any]
    version_number: int
    created_at: str
    updated_at: str
    deactivated_at: str | None

    @property
    def references(self) -> dict[str, str]:
        """Top-level field → id of the schema its ``$ref`` points at."""
        refs: dict[str, str] = self.options.get("references", {})
        return refs

    @classmethod
    def from_row(cls, row: Row) -> SchemaDefinition:
        return cls(
            id=str(row["id"]),
            partner_id=str(row["partner_id"]),
            name=row["name"],
            plural_name=row["plural_name"],
            description=row["description"],
            category=row["category"],
            external_id_field=row["external_id_field"],
            json_schema=orjson.loads(row["json_schema"]),
            options=orjson.loads(row["options"]),
            version_number=int(row["version_number"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deactivated_at=row["deactivated_at"],
        )


class SchemaRegistry:
    """Per-process lookups by name or id, and compiled validators per schema version."""

    def __init__(self, ttl: float, limits: SchemaLimits | None = None) -> None:
        self.limits = limits or SchemaLimits()
        self._lookups: TTLCache[tuple[str, str], SchemaDefinition] = TTLCache(ttl)
        self._compiled: dict[tuple[str, int], CompiledSchema] = {}
        # Bumped by forget(): a lookup that straddles a forget() may have read the old row,
        # so it is served but not cached.
        self._generations: dict[str, int] = {}
        self._epoch = 0  # bumped by forget_all(), which counts as a forget() of every partner

    async def resolve(self, conn: Connection, partner_id: str, name_or_id: str) -> SchemaDefinition:
        key = (partner_id, name_or_id.lower())
        found = self._lookups.get(key)
        if found is None:
            generation = (self._epoch, self._generations.get(partner_id, 0))
            found = await find(conn, partner_id, name_or_id)
            if found is None or found.deactivated_at is not None:
                raise NotFound(f"Schema definition {name_or_id!r} not found")
            # A replica may still show a definition changed since: cached, it would outlive
            # the change's notification for the whole TTL (reads only fill from the primary).
            current = (self._epoch, self._generations.get(partner_id, 0)) == generation
            if current and not on_replica(conn):
                self._lookups.put(key, found)
        return found

    def compiled(self, definition: SchemaDefinition) -> CompiledSchema:
        key = (definition.id, definition.version_number)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = CompiledSchema(definition.json_schema, definition.references)
            self._compiled[key] = compiled
        return compiled

    def forget(self, partner_id: str) -> None:
        """A definition of this partner changed: drop every lookup of the partner's schemas."""
        self._generations[partner_id] = self._generations.get(partner_id, 0) + 1
        self._lookups.drop_if(lambda key, _: key[0] == partner_id)

    def forget_all(self) -> None:
        """Changes may have been missed (another process's, while no notification arrived)."""
        self._epoch += 1
        self._lookups.clear()


async def find(conn: Connection, partner_id: str, name_or_id: str) -> SchemaDefinition | None:
    row = await store.find(conn, partner_id, name_or_id, by_id=clock.is_uuid(name_or_id))
    return None if row is None else SchemaDefinition.from_row(row)


async def get(conn: Connection, partner_id: str, name_or_id: str) -> SchemaDefinition:
    found = await find(conn, partner_id, name_or_id)
    if found is None or found.deactivated_at is not None:
        raise NotFound(f"Schema definition {name_or_id!r} not found")
    return found


async def list_active(conn: Connection, partner_id: str) -> list[SchemaDefinition]:
    return [SchemaDefinition.from_row(row) for row in await store.list_active(conn, partner_id)]


async def active_versions(conn: Connection, partner_id: str) -> list[tuple[str, int]]:
    """(id, version) of the partner's active definitions, without their JSON Schemas: what a
    document built from them depends on."""
    rows = await store.active_versions(conn, partner_id)
    return [(str(row["id"]), int(row["version_number"])) for row in rows]


async def list_active_plain(conn: Connection, partner_id: str) -> list[dict[str, Any]]:
    """The active definitions as plain column dicts: picklable, for a builder in another
    process (the partner's OpenAPI document)."""
    rows = await store.list_active(conn, partner_id)
    return [{name: row[name] for name in store.COLUMNS} for row in rows]


async def install_defaults(conn: Connection, partner_id: str, at: str) -> None:
    for spec in DEFAULT_SCHEMAS:
        await create(
            conn,
            partner_id,
            SchemaInput(
                name=spec["name"],
                plural_name=spec["pluralName"],
                description=spec["description"],
                category=spec["category"],
                json_schema=spec["schema"],
                external_id_field=spec["externalIdField"],
            ),
            at=at,
        )


async def create(
    conn: Connection,
    partner_id: str,
    given: SchemaInput,
    *,
    at: str | None = None,
    limits: SchemaLimits | None = None,
) -> SchemaDefinition:
    name, plural = given.name, given.plural_name
    json_schema, id_field = given.json_schema, given.external_id_field
    if isinstance(plural, msgspec.UnsetType):
        plural = name
    category = given.category if isinstance(given.category, str) else "custom_schema"
    if (
        isinstance(name, msgspec.UnsetType)
        or isinstance(plural, msgspec.UnsetType)
        or isinstance(json_schema, msgspec.UnsetType)
        or isinstance(id_field, msgspec.UnsetType)
    ):
        missing = [
            f"{wire}: required"
            for wire, value in (
                ("name", name),
                ("schema", json_schema),
                ("externalIdField", id_field),
            )
            if isinstance(value, msgspec.UnsetType)
        ]
        raise BadRequest("Invalid schema definition", errors=missing)
    bad_names = [
        f"{wire}: must be 1-100 characters of letters, digits, '-' or '_'"
        for wire, value in (("name", name), ("pluralName", plural))
        if not NAME_PATTERN.match(value)
    ]
    if bad_names:
        raise BadRequest("Invalid schema definition", errors=bad_names)
    keys = [name] if plural.lower() == name.lower() else [name, plural]
    await store.lock_partner(conn, partner_id)
    taken = await store.names_in_use(conn, partner_id, keys)
    if taken:
        raise _name_taken(taken)
    schema_id = clock.new_id()
    references = await _check(
        conn,
        partner_id,
        category,
        json_schema,
        id_field,
        self_names=(name, plural, schema_id),
        limits=limits,
    )
    at = at or clock.now()
    definition = SchemaDefinition(
        id=schema_id,
        partner_id=partner_id,
        name=name,
        plural_name=plural,
        description=None if isinstance(given.description, msgspec.UnsetType) else given.description,
        category=category,
        external_id_field=id_field,
        json_schema=json_schema,
        options=_options(given, {}, references),
        version_number=1,
        created_at=at,
        updated_at=at,
        deactivated_at=None,
    )
    if not await store.insert(conn, _values(definition)):
        raise _name_taken(keys)
    return definition


def _name_taken(keys: list[str]) -> Conflict:
    return Conflict(
        "Schema name already in use",
        errors=[f"{k}: already used by another schema (names ignore case)" for k in keys],
    )


async def update(
    conn: Connection, registry: SchemaRegistry, partner_id: str, name_or_id: str, given: SchemaInput
) -> SchemaDefinition:
    """Update a definition; its new JSON Schema is held to ``registry.limits``."""
    await store.lock_partner(conn, partner_id)
    current = await get(conn, partner_id, name_or_id)
    errors = [
        f"{field}: cannot be changed once the schema is created"
        for field, new, old in (
            ("name", given.name, current.name),
            ("pluralName", given.plural_name, current.plural_name),
            ("category", given.category, current.category),
            ("externalIdField", given.external_id_field, current.external_id_field),
        )
        if not isinstance(new, msgspec.UnsetType) and new != old
    ]
    if errors:
        raise BadRequest("Invalid schema definition update", errors=errors)
    json_schema = (
        current.json_schema
        if isinstance(given.json_schema, msgspec.UnsetType)
        else given.json_schema
    )
    references = await _check(
        conn,
        partner_id,
        current.category,
        json_schema,
        current.external_id_field,
        self_names=(current.name, current.plural_name, current.id),
        limits=registry.limits,
    )
    updated = msgspec.structs.replace(
        current,
        description=current.description
        if isinstance(given.description, msgspec.UnsetType)
        else given.description,
        json_schema=json_schema,
        options=_options(given, current.options, references),
        version_number=current.version_number + 1,
        updated_at=clock.now(),
    )
    await store.update(conn, partner_id, current.id, _values(updated))
    return updated


async def deactivate(conn: Connection, partner_id: str, name_or_id: str) -> SchemaDefinition:
    """Deactivate a definition nothing depends on; its name and plural name are then free.

    In use (409): records in any of the partner's live tenants (a deleted tenant's records are
    unreachable and stay as they are), an unfinished batch writing to it, or another active
    definition whose ``reach:schemas/`` reference points at it. The version is bumped, so a
    write validated against the last version is recognisably stale.
    """
    await store.lock_partner(conn, partner_id)
    current = await get(conn, partner_id, name_or_id)
    await store.hold_against_new_records(conn, current.id)
    in_use: list[str] = []
    records = await store.live_record_count(conn, partner_id, current.id)
    if records:
        in_use.append(f"{records} record(s) in the partner's tenants; delete them first")
    batches = await store.unfinished_batches(conn, partner_id, current.id)
    if batches:
        in_use.append(f"{batches} unfinished batch(es) write to it; wait for them to finish")
    in_use.extend(
        f"schema {other.name!r} references it ($ref); change or delete that schema first"
        for other in await list_active(conn, partner_id)
        if other.id != current.id and current.id in other.references.values()
    )
    if in_use:
        raise Conflict(f"Schema definition {current.name!r} is in use", errors=in_use)
    at = clock.now()
    deactivated = msgspec.structs.replace(
        current, version_number=current.version_number + 1, updated_at=at, deactivated_at=at
    )
    await store.deactivate(conn, partner_id, current.id, deactivated.version_number, at)
    return deactivated


def _options(given: SchemaInput, current: dict[str, Any], refs: dict[str, str]) -> dict[str, Any]:
    options = {**current, "references": refs}
    if not isinstance(given.fields_to_expose, msgspec.UnsetType):
        options["fieldsToExpose"] = given.fields_to_expose
    if not isinstance(given.expose_name_json_path, msgspec.UnsetType):
        options["exposeNameJsonPath"] = given.expose_name_json_path
    return options


def _values(definition: SchemaDefinition) -> dict[str, Any]:
    return {
        "id": definition.id,
        "partner_id": definition.partner_id,
        "name": definition.name,
        "plural_name": definition.plural_name,
        "description": definition.description,
        "category": definition.category,
        "external_id_field": definition.external_id_field,
        "json_schema": orjson.dumps(definition.json_schema).decode(),
        "options": orjson.dumps(definition.options).decode(),
        "version_number": definition.version_number,
        "created_at": definition.created_at,
        "updated_at": definition.updated_at,
    }


async def _check(
    conn: Connection,
    partner_id: str,
    category: str,
    json_schema: dict[str, Any],
    external_id_field: str,
    *,
    self_names: tuple[str, str, str],
    limits: SchemaLimits | None,
) -> dict[str, str]:
    """Validate a JSON Schema as this partner's resource schema; returns its references."""

    async def target_id(name_or_id: str) -> str | None:
        found = await find(conn, partner_id, name_or_id)
        return None if found is None else found.id

    return await rules.check(
        category,
        json_schema,
        external_id_field,
        self_names=self_names,
        find_target=target_id,
        limits=limits or SchemaLimits(),
    )
