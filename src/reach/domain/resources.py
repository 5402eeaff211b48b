"""Resources: single-record create/upsert, patch, get (with includes) and delete.

A merge (PATCH, upsert into an existing record) is optimistic: read the record without
beginning the transaction, merge and validate, then write it back only if its version is still
the one read (compare-and-set, the request's final write). When nothing else begins the
transaction that is one read and one autocommit write. A lost race reads again; after
:data:`_OPTIMISTIC_ATTEMPTS` the record is locked first (``SELECT ... FOR UPDATE`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), which cannot lose. Either way concurrent patches
never lose an update. Reference checks and inserts are ordinary statements: they begin the
transaction, and the write joins it.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.domain import references
from reach.domain.compiled import CompiledSchema, json_type
from reach.domain.documents import merge_patch, refuse_required_nulls, strip_nulls
from reach.domain.recent import RecentRecords, snapshot
from reach.domain.schemas import SchemaDefinition, SchemaRegistry
from reach.domain.tenants import Tenant
from reach.errors import BadRequest, Conflict, NotFound
from reach.storage.database import Connection, Row
from reach.storage.resources import TenantResources

MAX_EXTERNAL_ID_LENGTH = 255
# Unicode's control characters (category Cc): C0, DEL and C1.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER_RULE = (
    "must not contain control characters (U+0000-U+001F, U+007F-U+009F) in a new record's "
    "external id"
)
# Compare-and-set attempts before the record is locked; the locked attempt always lands.
_OPTIMISTIC_ATTEMPTS = 3


class Record(msgspec.Struct, frozen=True):
    id: str
    schema_id: str
    partner_id: str
    tenant_id: str
    external_id: str
    data: Any  # a dict, or an orjson.Fragment holding the stored JSON text untouched
    created_at: str
    updated_at: str
    version: int


class Scope:
    """What a resource call works on: one tenant, one schema, through the one door."""

    def __init__(
        self,
        conn: Connection,
        dialect: str,
        tenant: Tenant,
        schema: SchemaDefinition,
        registry: SchemaRegistry,
        recent: RecentRecords | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.schema = schema
        self.registry = registry
        self.compiled: CompiledSchema = registry.compiled(schema)
        # Writes land only while the tenant is live and this version is current: the caches
        # that produced ``tenant`` and ``schema`` may be behind another node's change.
        self.rows = TenantResources(conn, dialect, tenant.id, (schema.id, schema.version_number))
        # Hints only where a merge needs nothing else read: a reference check would begin
        # the transaction anyway, and its outcome must not rest on a possibly stale document.
        self.recent = recent if not self.compiled.references else None

    def hint(self, external_id: str) -> dict[str, Any] | None:
        """What this process last saw of the record (see :mod:`reach.domain.recent`)."""
        if self.recent is None:
            return None
        return self.recent.get((self.tenant.id, self.schema.id, external_id))

    def remember(self, row: Row | dict[str, Any]) -> None:
        if self.recent is not None:
            key = (self.tenant.id, self.schema.id, row["external_id"])
            self.recent.put(key, snapshot(row))

    def forget(self, external_id: str) -> None:
        if self.recent is not None:
            self.recent.forget((self.tenant.id, self.schema.id, external_id))

    def record(
        self, row: Row | dict[str, Any], data: Any = None, schema_id: str | None = None
    ) -> Record:
        return Record(
            id=str(row["id"]),
            schema_id=schema_id or str(row["schema_id"]),
            partner_id=self.tenant.partner_id,
            tenant_id=self.tenant.id,
            external_id=row["external_id"],
            data=orjson.Fragment(row["data"]) if data is None else data,
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            version=int(row["version"]),
        )


def check_external_id(external_id: Any, field: str) -> str:
    if not isinstance(external_id, str):
        raise BadRequest(
            "Validation failed", errors=[f"{field}: expected string, got {json_type(external_id)}"]
        )
    if not external_id or len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise BadRequest(
            "Validation failed",
            errors=[f"{field}: must be 1 to {MAX_EXTERNAL_ID_LENGTH} characters"],
        )
    if "\x00" in external_id:
        # Neither engine's text column can hold U+0000 alike; refuse it up front.
        raise BadRequest(
            "Validation failed", errors=[f"{field}: must not contain the NUL character (U+0000)"]
        )
    return external_id


def refuse_control_characters(external_id: str, field: str) -> None:
    """A record is never created under an external id holding a control character (a line
    feed, a tab, an escape...): such an id is almost always a client bug, and one that is
    stored must still be typed into URLs, logs and CSV files. Records stored before this rule
    stay addressable and writable; see docs/decisions.md."""
    if has_control_character(external_id):
        raise BadRequest("Validation failed", errors=[f"{field}: {CONTROL_CHARACTER_RULE}"])


def has_control_character(external_id: str) -> bool:
    return _CONTROL_CHARACTER.search(external_id) is not None


def later_than(previous: str) -> str:
    """Now, or one millisecond after ``previous`` if the clock has not passed it yet: every
    change moves ``updatedAt`` forward even when two land in the same millisecond."""
    at = clock.now()
    if at > previous:
        return at
    return clock.format_timestamp(clock.parse_timestamp(previous) + timedelta(milliseconds=1))


def _key_field(scope: Scope) -> str:
    return scope.schema.external_id_field


async def upsert(
    scope: Scope,
    fields: dict[str, Any],
    *,
    path_external_id: str | None,
    on_conflict: str,
) -> tuple[Record, bool]:
    """Create the record, or merge into it (``upsert``) / refuse (``reject``). Returns
    the record and whether it was created."""
    key_field = _key_field(scope)
    body_key = fields.get(key_field)
    if path_external_id is not None:
        id_field = "externalId"
        external_id = check_external_id(path_external_id, id_field)
        if key_field in fields and body_key != external_id:
            raise BadRequest(
                "Validation failed",
                errors=[f"data.{key_field}: must equal the externalId in the path"],
            )
        fields = {**fields, key_field: external_id}
    else:
        if body_key is None:
            raise BadRequest(
                "Validation failed", errors=[f"data.{key_field}: required field missing"]
            )
        id_field = f"data.{key_field}"
        external_id = check_external_id(body_key, id_field)
    refuse_required_nulls(fields, scope.compiled)
    # A hint says the record existed, not that it still does: "reject" must read to refuse.
    hint = scope.hint(external_id) if on_conflict == "upsert" else None
    for attempt in range(_OPTIMISTIC_ATTEMPTS + 1):
        row = hint or await _read(scope, external_id, locked=attempt == _OPTIMISTIC_ATTEMPTS)
        if row is not None:
            if on_conflict == "reject":
                raise Conflict(
                    f"A {scope.schema.name} record with external id {external_id!r} already exists"
                )
            merged = await _merge_into(scope, row, fields, hinted=hint is not None)
            if merged is not None:
                return merged, False
            hint = None
            continue  # another write came first (or the hint was stale): read again
        refuse_control_characters(external_id, id_field)
        defaults = {k: v for k, v in scope.compiled.defaults.items() if k not in fields}
        document = strip_nulls({**fields, **defaults})
        await _validate(scope, document, fields)
        at = clock.now()
        record_id = clock.new_id()
        text = orjson.dumps(document).decode()
        # An ordinary statement: it begins the transaction, so the count moves with the row.
        seq = await scope.rows.insert(record_id, scope.schema.id, external_id, text, at)
        if seq is not None:
            created = {
                "seq": seq,
                "id": record_id,
                "schema_id": scope.schema.id,
                "external_id": external_id,
                "data": text,
                "version": 1,
                "created_at": at,
                "updated_at": at,
            }
            scope.remember(created)
            return scope.record(created, document), True
        # Another transaction created the key between our read and insert: merge into it.
    raise Conflict("The record is being written concurrently; retry the request")


async def patch(scope: Scope, external_id: str, fields: dict[str, Any]) -> Record:
    check_external_id(external_id, "externalId")
    key_field = _key_field(scope)
    if key_field in fields and fields[key_field] != external_id:
        raise BadRequest(
            "Validation failed",
            errors=[f"data.{key_field}: must equal the externalId in the path"],
        )
    refuse_required_nulls(fields, scope.compiled)
    hint = scope.hint(external_id)
    for attempt in range(_OPTIMISTIC_ATTEMPTS + 1):
        row = hint or await _read(scope, external_id, locked=attempt == _OPTIMISTIC_ATTEMPTS)
        if row is None:
            # Also when a concurrent delete won the race: the record is gone.
            raise NotFound(f"{scope.schema.name} record {external_id!r} not found")
        merged = await _merge_into(scope, row, fields, hinted=hint is not None)
        if merged is not None:
            return merged
        hint = None
    # Unreachable: the locked attempt holds the row (or SQLite's write lock), so it lands.
    raise Conflict("The record is being written concurrently; retry the request")


async def _read(scope: Scope, external_id: str, *, locked: bool) -> Row | None:
    if locked:
        return await scope.rows.get(scope.schema.id, external_id, for_update=True)
    return await scope.rows.get_standalone(scope.schema.id, external_id)


async def _merge_into(
    scope: Scope, row: Row | dict[str, Any], fields: dict[str, Any], *, hinted: bool = False
) -> Record | None:
    """Merge ``fields`` into the record as ``row`` read it and store the result if the record
    is still that version; None when another write came first (the caller reads again).
    ``hinted``: ``row`` is this process's last sight of the record, not a read, so an answer
    that would rest on it being current (invalid, or unchanged) waits for a read instead."""
    current = orjson.loads(row["data"])
    merged = merge_patch(current, fields)
    # Validated even when nothing changes: after a schema update, a record stored under an
    # older version must satisfy the new one at its next write, no-op or not.
    errors = scope.compiled.errors(merged)
    if errors:
        if hinted:
            return None
        raise BadRequest("Validation failed", errors=errors)
    if merged == current:
        if hinted:
            return None
        # Nothing changes: no write, no new version, updatedAt stays (idempotent PATCH).
        scope.remember(row)
        return scope.record(row, current)
    # Ordinary reads that begin the transaction (on PostgreSQL they hold key-share locks on
    # the targets until commit), so the write below joins it rather than running alone.
    await _check_references(scope, merged, fields)
    at = later_than(row["updated_at"])
    version = int(row["version"])
    seq = int(row["seq"])
    text = orjson.dumps(merged).decode()
    if not await scope.rows.update_if_version(seq, text, at, version):
        return None
    written = {**snapshot(row), "data": text, "version": version + 1, "updated_at": at}
    scope.remember(written)
    return scope.record(written, merged)


async def _validate(scope: Scope, document: dict[str, Any], changed: dict[str, Any]) -> None:
    errors = scope.compiled.errors(document)
    if errors:
        raise BadRequest("Validation failed", errors=errors)
    await _check_references(scope, document, changed)


async def _check_references(
    scope: Scope, document: dict[str, Any], changed: dict[str, Any]
) -> None:
    missing = await references.missing(scope, document, changed)
    if missing:
        raise BadRequest(
            "Referenced records do not exist",
            errors=[
                f"data.{m.field}: no {m.schema_name} record {m.external_id!r}" for m in missing
            ],
        )


async def get(scope: Scope, external_id: str, include: list[str]) -> tuple[Record, list[Record]]:
    check_external_id(external_id, "externalId")
    # One statement, begun by nothing: a GET without includes sends no BEGIN/COMMIT at all.
    row = await scope.rows.get_standalone(scope.schema.id, external_id)
    if row is None:
        raise NotFound(f"{scope.schema.name} record {external_id!r} not found")
    scope.remember(row)
    record = scope.record(row)
    if not include:
        return record, []
    return record, await references.included(scope, [orjson.loads(row["data"])], include)


async def delete(scope: Scope, external_id: str, *, cascade: bool) -> tuple[Record, int]:
    """Delete one record. Records that reference it block the delete (409) unless
    ``cascade``, which deletes them too; returns the record and how many went with it."""
    check_external_id(external_id, "externalId")
    row = await scope.rows.get(scope.schema.id, external_id, for_update=True)
    if row is None:
        raise NotFound(f"{scope.schema.name} record {external_id!r} not found")
    if not cascade:
        referrers = await references.referencing(scope, [external_id])
        if referrers:
            counts = ", ".join(f"{n} {name}" for name, n in references.count_by_schema(referrers))
            raise Conflict(
                f"Record is referenced by other records ({counts}); "
                "delete with cascade=true to delete them too"
            )
    taken = await references.cascade(scope, external_id, int(row["seq"])) if cascade else []
    cascaded = await scope.rows.delete_many([r.seq for r in taken])
    await scope.rows.delete(scope.schema.id, external_id)
    scope.forget(external_id)
    return scope.record(row), cascaded
