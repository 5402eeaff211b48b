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

from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.domain import references, write_rule
from reach.domain.compiled import CompiledSchema, json_type
from reach.domain.conditions import Conditions
from reach.domain.events import CREATED, UPDATED, Actor, EventLog, record_deletions
from reach.domain.ordered_ids import new_ordered_id
from reach.domain.recent import RecentRecords, snapshot
from reach.domain.schemas import SchemaDefinition, SchemaRegistry
from reach.domain.tenants import Tenant
from reach.domain.write_rule import Written
from reach.errors import Conflict, InvalidDocument, InvalidExternalId, NotFound
from reach.storage.database import Connection, Row
from reach.storage.idempotency import KeyRow
from reach.storage.resources import TenantResources

MAX_EXTERNAL_ID_LENGTH = 255
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
        tenant: Tenant,
        schema: SchemaDefinition,
        registry: SchemaRegistry,
        recent: RecentRecords | None = None,
        actor: Actor | None = None,
    ) -> None:
        self.conn = conn
        self.tenant = tenant
        self.schema = schema
        self.registry = registry
        # Every write through this scope appends its change events; None: events are off.
        self.events = (
            None
            if actor is None
            else EventLog(tenant.id, tenant.partner_id, schema.id, schema.name, actor)
        )
        self.compiled: CompiledSchema = registry.compiled(schema)
        # Writes land only while the tenant is live and this version is current: the caches
        # that produced ``tenant`` and ``schema`` may be behind another node's change.
        self.rows = TenantResources(conn, tenant.id, (schema.id, schema.version_number))
        # Hints only where a merge needs nothing else read: a reference check would begin
        # the transaction anyway, and its outcome must not rest on a possibly stale document.
        self.recent = recent if not self.compiled.references else None
        # A keyed PATCH on PostgreSQL (reach.web.idempotency): the answer a merge would give,
        # stored by the merge's own write statement.
        self.answer: Callable[[Record], KeyRow] | None = None

    def hint(self, external_id: str) -> dict[str, Any] | None:
        """What this process last saw of the record (see :mod:`reach.domain.recent`)."""
        if self.recent is None:
            return None
        return self.recent.get((self.tenant.id, self.schema.id, external_id))

    def remember(self, row: Row | dict[str, Any]) -> None:
        if self.recent is not None:
            key = (self.tenant.id, self.schema.id, row["external_id"])
            # Only once committed: a hint of a version that rolls back could match the same
            # version number written later, by another process, with another document, and a
            # merge from it would pass the compare-and-set and undo that write.
            self.conn.when_committed(partial(self.recent.put, key, snapshot(row)))

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
        raise InvalidExternalId([f"{field}: expected string, got {json_type(external_id)}"])
    if not external_id or len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise InvalidExternalId([f"{field}: must be 1 to {MAX_EXTERNAL_ID_LENGTH} characters"])
    if "\x00" in external_id:
        # Neither engine's text column can hold U+0000 alike; refuse it up front.
        raise InvalidExternalId([f"{field}: must not contain the NUL character (U+0000)"])
    return external_id


def external_id_in(fields: dict[str, Any], key_field: str) -> str:
    """The external id a change names in its ``key_field`` (a create, or a batch item)."""
    raw = fields.get(key_field)
    if raw is None:
        raise InvalidExternalId([f"data.{key_field}: required field missing"])
    return check_external_id(raw, f"data.{key_field}")


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
    conditions: Conditions | None = None,
) -> tuple[Record, bool]:
    """Create the record, or merge into it (``upsert``) / refuse (``reject``). Returns
    the record and whether it was created. ``conditions`` (``If-Match``, ``If-None-Match``)
    are checked against the record as read, and the write lands only on that version."""
    key_field = _key_field(scope)
    body_key = fields.get(key_field)
    if path_external_id is not None:
        id_field = "externalId"
        external_id = check_external_id(path_external_id, id_field)
        if key_field in fields and body_key != external_id:
            raise InvalidDocument([f"data.{key_field}: must equal the externalId in the path"])
        fields = {**fields, key_field: external_id}
    else:
        id_field = f"data.{key_field}"
        external_id = external_id_in(fields, key_field)
    write_rule.check_change(fields, scope.compiled)
    # A hint says the record existed, not that it still does: "reject" must read to refuse.
    hint = scope.hint(external_id) if on_conflict == "upsert" else None
    for attempt in range(_OPTIMISTIC_ATTEMPTS + 1):
        row = hint or await _read(scope, external_id, locked=attempt == _OPTIMISTIC_ATTEMPTS)
        if conditions is not None and not _holds(conditions, row, hinted=hint is not None):
            hint = None
            continue
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
        write_rule.check_new_key(external_id, id_field)
        written = _write(scope, None, fields)
        await _check_references(scope, written)
        document = written.document
        at = clock.now()
        record_id = new_ordered_id()
        text = orjson.dumps(document).decode()
        # An ordinary statement: it begins the transaction, so the count moves with the row.
        seq = await scope.rows.insert(record_id, scope.schema.id, external_id, text, at)
        if seq is not None:
            if scope.events is not None:
                event = scope.events.resource(
                    CREATED, external_id, 1, None, document, at, document=text
                )
                await scope.events.append(scope.conn, [event])
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


async def patch(
    scope: Scope, external_id: str, fields: dict[str, Any], conditions: Conditions | None = None
) -> Record:
    check_external_id(external_id, "externalId")
    key_field = _key_field(scope)
    if key_field in fields and fields[key_field] != external_id:
        raise InvalidDocument([f"data.{key_field}: must equal the externalId in the path"])
    write_rule.check_change(fields, scope.compiled)
    hint = scope.hint(external_id)
    for attempt in range(_OPTIMISTIC_ATTEMPTS + 1):
        row = hint or await _read(scope, external_id, locked=attempt == _OPTIMISTIC_ATTEMPTS)
        if row is None:
            # Also when a concurrent delete won the race: the record is gone.
            raise NotFound(f"{scope.schema.name} record {external_id!r} not found")
        if conditions is not None and not _holds(conditions, row, hinted=hint is not None):
            hint = None
            continue
        merged = await _merge_into(scope, row, fields, hinted=hint is not None)
        if merged is not None:
            return merged
        hint = None
    # Unreachable: the locked attempt holds the row (or SQLite's write lock), so it lands.
    raise Conflict("The record is being written concurrently; retry the request")


def _holds(conditions: Conditions, row: Row | dict[str, Any] | None, *, hinted: bool) -> bool:
    """Whether the write may go on from ``row``: raises
    :class:`~reach.errors.PreconditionFailed` when the record as read fails the conditions;
    False when only a hint does (it may be stale, so the caller reads before refusing)."""
    if hinted:
        return conditions.holds(row)
    conditions.check(row)
    return True


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
    try:
        written = _write(scope, current, fields)
    except InvalidDocument:
        if hinted:
            return None
        raise
    if not written.changed:
        if hinted:
            return None
        # Nothing changes: no write, no new version, updatedAt stays (idempotent PATCH).
        scope.remember(row)
        return scope.record(row, current)
    # Ordinary reads that begin the transaction (on PostgreSQL they hold key-share locks on
    # the targets until commit), so the write below joins it rather than running alone.
    await _check_references(scope, written)
    merged = written.document
    at = later_than(row["updated_at"])
    version = int(row["version"])
    seq = int(row["seq"])
    text = orjson.dumps(merged).decode()
    event = None
    if scope.events is not None:
        event = scope.events.resource(
            UPDATED, row["external_id"], version + 1, current, merged, at, document=text
        )
    stored = {**snapshot(row), "data": text, "version": version + 1, "updated_at": at}
    record = scope.record(stored, merged)
    # The answer is rendered before the write, so the write's statement can store it.
    key = None if scope.answer is None else scope.answer(record)
    if not await scope.rows.update_if_version(seq, text, at, version, event, key):
        return None
    scope.remember(stored)
    return record


def _write(scope: Scope, current: dict[str, Any] | None, fields: dict[str, Any]) -> Written:
    return write_rule.write(
        current,
        fields,
        scope.compiled,
        schema_id=scope.schema.id,
        key_field=scope.schema.external_id_field,
    )


async def _check_references(scope: Scope, written: Written) -> None:
    if written.references:
        missing = await references.missing(scope, written.references)
        if missing:
            raise write_rule.missing_references(missing)


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


async def delete(
    scope: Scope, external_id: str, *, cascade: bool, conditions: Conditions | None = None
) -> tuple[Record, int]:
    """Delete one record. Records that reference it block the delete (409) unless
    ``cascade``, which deletes them too; returns the record and how many went with it.
    ``conditions`` are checked against the record as locked for the delete."""
    check_external_id(external_id, "externalId")
    row = await scope.rows.get(scope.schema.id, external_id, for_update=True)
    if row is None:
        raise NotFound(f"{scope.schema.name} record {external_id!r} not found")
    if conditions is not None:
        conditions.check(row)
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
    if scope.events is not None:
        await record_deletions(scope, [row], cascaded)
    return scope.record(row), len(cascaded)
