"""Applying a chunk of upload or patch items: the batch worker's hot loop.

The semantics are the single-record writes' (see :mod:`reach.domain.resources`): unknown
fields refused or dropped, ``null`` removes a field (never a required one), RFC 7396 merge,
defaults on create only, the merged document validated, ``$ref`` targets checked, no write and
no new version when nothing changes. What differs is the cost: one query loads (and locks) every
record the chunk touches, one checks every reference target, one inserts and one updates —
instead of a few statements per item. Items are applied in order against an in-memory copy of
their records, so several items for one record see each other's changes, and a bad item is
simply left out of the writes: it never fails the others.
"""

from __future__ import annotations

import os
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import orjson

from reach import clock
from reach.batches.model import (
    INGEST,
    PATCH,
    SUCCEEDED,
    WAITING,
    ItemError,
    Options,
    Outcome,
    Reason,
    failed,
)
from reach.domain.compiled import json_type
from reach.domain.documents import (
    checked_fields,
    merge_patch,
    refuse_required_nulls,
)
from reach.domain.resources import (
    CONTROL_CHARACTER_RULE,
    Scope,
    check_external_id,
    has_control_character,
    later_than,
)
from reach.errors import BadRequest


def new_id() -> str:
    """A random (version 4) UUID, as :func:`reach.clock.new_id` makes, in half the time."""
    digits = os.urandom(16).hex()
    variant = "89ab"[int(digits[16], 16) & 3]
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"


class ConcurrentCreate(Exception):
    """Another writer created a key this chunk was inserting: roll back and retry the chunk
    (the retry finds the record and merges into it)."""


class Item:
    __slots__ = ("expires_at", "external_id", "payload", "pending_at", "position")

    def __init__(
        self,
        position: int,
        payload: Any,
        external_id: str | None,
        *,
        pending_at: str | None = None,
        expires_at: str | None = None,
    ) -> None:
        self.position = position
        self.payload = payload
        self.external_id = external_id
        self.pending_at = pending_at  # set when the item already waits for a dependency
        self.expires_at = expires_at


class _Current:
    """A record as this chunk sees it; ``seq`` is None for one this chunk creates."""

    __slots__ = ("dirty", "doc", "id", "seq", "updated_at", "version")

    def __init__(
        self, doc: dict[str, Any], version: int, seq: int | None, id_: str, updated_at: str
    ) -> None:
        self.doc = doc
        self.version = version
        self.seq = seq
        self.id = id_
        self.updated_at = updated_at
        self.dirty = False


def prepare(
    item: Item, scope: Scope, options: Options, declared: frozenset[str] | None
) -> tuple[str, dict[str, Any]]:
    """The item's external id and checked fields, or :class:`ItemError`. ``declared`` is the
    schema's closed top-level properties (None when it admits extra fields)."""
    payload = item.payload
    if not isinstance(payload, dict):
        raise ItemError(Reason.INVALID_ITEM, [f"data: expected object, got {json_type(payload)}"])
    if declared is not None and _plain(payload, declared):
        fields = payload  # the common case, with nothing to drop or refuse
    else:
        try:
            fields = checked_fields(payload, scope.compiled, ignore_unknown=options.ignore_unknown)
        except BadRequest as exc:
            reason = (
                Reason.UNKNOWN_FIELDS
                if exc.message.startswith("Unknown field")
                else Reason.VALIDATION_FAILED
            )
            raise ItemError(reason, exc.errors or [exc.message]) from None
    key_field = scope.schema.external_id_field
    raw = fields.get(key_field)
    try:
        if raw is None:
            raise BadRequest(
                "Validation failed", errors=[f"data.{key_field}: required field missing"]
            )
        external_id = check_external_id(raw, f"data.{key_field}")
    except BadRequest as exc:
        raise ItemError(Reason.INVALID_EXTERNAL_ID, exc.errors or [exc.message]) from None
    if None in fields.values():
        try:
            refuse_required_nulls(fields, scope.compiled)
        except BadRequest as exc:
            raise ItemError(Reason.VALIDATION_FAILED, exc.errors or [exc.message]) from None
    return external_id, fields


def _plain(payload: dict[str, Any], declared: frozenset[str]) -> bool:
    """Every field declared at the top level, holding a scalar without U+0000: then
    :func:`checked_fields` would return the payload unchanged, and it can be skipped."""
    if not declared.issuperset(payload):
        return False
    for value in payload.values():
        kind = type(value)
        if kind is dict or kind is list or (kind is str and "\x00" in value):
            return False
    return True


def _declared(scope: Scope) -> frozenset[str] | None:
    """The schema's top-level property names, if it admits no others."""
    schema = scope.compiled.json_schema
    properties = schema.get("properties")
    extra = schema.get("additionalProperties", False)
    if not isinstance(properties, dict) or extra is True or isinstance(extra, dict):
        return None
    return frozenset(properties)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """:func:`merge_patch` for an object patch, without a call per scalar field."""
    result = dict(target)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            result[key] = merge_patch(result.get(key), value)
        else:
            result[key] = value
    return result


async def apply_items(
    scope: Scope, batch_type: str, options: Options, items: list[Item], now: datetime
) -> list[Outcome]:
    """Apply ``items`` in order inside the caller's transaction; one outcome per item."""
    outcomes: dict[int, Outcome] = {}
    prepared: list[tuple[Item, str, dict[str, Any]]] = []
    declared = _declared(scope)
    for item in items:
        try:
            external_id, fields = prepare(item, scope, options, declared)
        except ItemError as exc:
            outcomes[item.position] = failed(
                item.position, item.external_id, exc.reason, exc.errors
            )
            continue
        prepared.append((item, external_id, fields))

    keys = list(dict.fromkeys(external_id for _, external_id, _ in prepared))
    rows = await scope.rows.load_many(scope.schema.id, keys, for_update=True)
    chunk = _Chunk(scope, batch_type, options, now)
    chunk.state = {
        row["external_id"]: _Current(
            orjson.loads(row["data"]),
            int(row["version"]),
            int(row["seq"]),
            str(row["id"]),
            row["updated_at"],
        )
        for row in rows
    }
    await chunk.load_targets(prepared)
    for item, external_id, fields in prepared:
        outcomes[item.position] = chunk.apply(item, external_id, fields)
    await _write(scope, chunk.state, chunk.at)
    return [outcomes[item.position] for item in items]


class _Chunk:
    """What applying one chunk knows: its records as they stand, and which reference targets
    exist. Everything async (the queries) happens before the per-item loop, which is plain
    Python — no coroutine per item."""

    def __init__(self, scope: Scope, batch_type: str, options: Options, now: datetime) -> None:
        self.scope = scope
        self.batch_type = batch_type
        self.options = options
        self.now = now
        self.at = clock.format_timestamp(now)
        self.state: dict[str, _Current] = {}
        self.known: dict[str, set[str]] = {}
        self.target_names: dict[str, str] = {}

    async def load_targets(self, prepared: list[tuple[Item, str, dict[str, Any]]]) -> None:
        """For every schema the chunk's reference fields point at: which of the named
        records exist (key-share locked, as a single write does), and the schema's name."""
        scope = self.scope
        wanted: dict[str, set[str]] = defaultdict(set)
        for field, target_id in scope.compiled.references.items():
            for _, _, fields in prepared:
                value = fields.get(field)
                if isinstance(value, str):
                    wanted[target_id].add(value)
        for target_id, values in wanted.items():
            self.known[target_id] = await scope.rows.existing_keys(
                target_id, sorted(values), share=True
            )
            target = await scope.registry.resolve(scope.conn, scope.tenant.partner_id, target_id)
            self.target_names[target_id] = target.name

    def apply(self, item: Item, external_id: str, fields: dict[str, Any]) -> Outcome:
        scope, compiled = self.scope, self.scope.compiled
        current = self.state.get(external_id)
        if current is None:
            if self.batch_type == PATCH:
                return failed(
                    item.position,
                    external_id,
                    Reason.NOT_FOUND,
                    [
                        f"data.{scope.schema.external_id_field}: no {scope.schema.name} record "
                        f"{external_id!r}"
                    ],
                )
            if has_control_character(external_id):
                return failed(
                    item.position,
                    external_id,
                    Reason.INVALID_EXTERNAL_ID,
                    [f"data.{scope.schema.external_id_field}: {CONTROL_CHARACTER_RULE}"],
                )
            defaults = {k: v for k, v in compiled.defaults.items() if k not in fields}
            document = {**fields, **defaults}
            if None in document.values() or any(type(v) is dict for v in document.values()):
                document = _merge({}, document)  # strip_nulls
            errors = compiled.errors(document)
            if errors:
                return failed(item.position, external_id, Reason.VALIDATION_FAILED, errors)
        else:
            if self.batch_type == INGEST and self.options.on_conflict == "reject":
                return failed(
                    item.position,
                    external_id,
                    Reason.ALREADY_EXISTS,
                    [
                        f"A {scope.schema.name} record with external id {external_id!r} "
                        "already exists"
                    ],
                )
            document = _merge(current.doc, fields)
            errors = compiled.errors(document)
            if errors:
                return failed(item.position, external_id, Reason.VALIDATION_FAILED, errors)
            if document == current.doc:
                return Outcome(position=item.position, status=SUCCEEDED, external_id=external_id)
        if compiled.references:
            missing = self.missing(document, fields)
            if missing:
                return _unresolved(
                    self.batch_type, self.options, item, external_id, missing, self.now, self.at
                )
        if current is None:
            current = _Current(document, 1, None, new_id(), self.at)
            self.state[external_id] = current
        else:
            current.doc = document
            current.version += 1
        current.dirty = True
        return Outcome(position=item.position, status=SUCCEEDED, external_id=external_id)

    def missing(self, document: dict[str, Any], fields: dict[str, Any]) -> list[dict[str, Any]]:
        """References set by this item whose target does not exist (as
        :func:`reach.domain.references.missing` decides it, against the bulk-loaded keys)."""
        found: list[dict[str, Any]] = []
        schema = self.scope.schema
        for field, target_id in self.scope.compiled.references.items():
            value = document.get(field)
            if field not in fields or not isinstance(value, str):
                continue
            if target_id == schema.id and (
                value == document.get(schema.external_id_field) or value in self.state
            ):
                continue  # itself, or a record of this schema that exists or this chunk created
            if value in self.known.get(target_id, ()):
                continue
            found.append(
                {
                    "field": field,
                    "schemaDefinitionId": target_id,
                    "schemaName": self.target_names[target_id],
                    "externalId": value,
                }
            )
        return found


def _unresolved(
    batch_type: str,
    options: Options,
    item: Item,
    external_id: str,
    missing: list[dict[str, Any]],
    now: datetime,
    at: str,
) -> Outcome:
    """An item whose dependencies do not exist: it waits, or fails at once, or has waited
    long enough."""
    named = [f"data.{m['field']}: no {m['schemaName']} record {m['externalId']!r}" for m in missing]
    if batch_type != INGEST or options.wait_seconds <= 0:
        return failed(item.position, external_id, Reason.MISSING_DEPENDENCY, named)
    if item.expires_at is not None and at >= item.expires_at:
        return failed(
            item.position,
            external_id,
            Reason.DEPENDENCY_TIMEOUT,
            [
                f"{text} (still missing after dependencyWaitTimeout={options.wait_seconds}s)"
                for text in named
            ],
        )
    expires_at = item.expires_at or clock.format_timestamp(
        now + timedelta(seconds=options.wait_seconds)
    )
    return Outcome(
        position=item.position,
        status=WAITING,
        external_id=external_id,
        missing=missing,
        pending_at=item.pending_at or at,
        expires_at=expires_at,
    )


async def _write(scope: Scope, state: dict[str, _Current], at: str) -> None:
    inserts: list[tuple[str, str, str, int]] = []
    updates: list[tuple[int, str, int, str]] = []
    for external_id, current in state.items():
        if not current.dirty:
            continue
        data = orjson.dumps(current.doc).decode()
        if current.seq is None:
            inserts.append((current.id, external_id, data, current.version))
        else:
            # updatedAt moves forward even when the clock has not passed the stored value.
            stamp = at if at > current.updated_at else later_than(current.updated_at)
            updates.append((current.seq, data, current.version, stamp))
    if inserts and await scope.rows.insert_many(scope.schema.id, inserts, at) != len(inserts):
        raise ConcurrentCreate
    await scope.rows.update_many(updates)
