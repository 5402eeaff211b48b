"""Applying a chunk of upload or patch items: the batch worker's hot loop.

The semantics are the single-record writes', because the rule is the same code
(:mod:`reach.domain.write_rule`): unknown fields refused or dropped, ``null`` removes a field
(never a required one), RFC 7396 merge, defaults on create only, the merged document validated,
``$ref`` targets checked, no write and no new version when nothing changes. An item's failure
reason follows from the type of the rule's refusal (:func:`reason_of`). What differs is the
cost: one query loads (and locks) every record the chunk touches, one checks every reference
target, one inserts and one updates — instead of a few statements per item. Items are applied
in order against an in-memory copy of their records, so several items for one record see each
other's changes, and a bad item is simply left out of the writes: it never fails the others.
"""

from __future__ import annotations

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
from reach.domain import write_rule
from reach.domain.compiled import json_type
from reach.domain.documents import checked_fields
from reach.domain.events import CREATED, UPDATED, Actor
from reach.domain.ordered_ids import new_ordered_id
from reach.domain.resources import Scope, external_id_in, later_than
from reach.domain.write_rule import Missing
from reach.errors import (
    BadRequest,
    InvalidDocument,
    InvalidExternalId,
    MissingReferences,
    UnknownFields,
)
from reach.storage.events import EventRow


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
    try:
        if declared is not None and _plain(payload, declared):
            fields = payload  # the common case, with nothing to drop or refuse
        else:
            fields = checked_fields(payload, scope.compiled, ignore_unknown=options.ignore_unknown)
        external_id = external_id_in(fields, scope.schema.external_id_field)
        write_rule.check_change(fields, scope.compiled)
    except BadRequest as exc:
        raise ItemError(reason_of(exc), exc.errors or [exc.message]) from None
    return external_id, fields


def reason_of(refusal: BadRequest) -> str:
    """The batch failure reason for one of the write rule's refusals, by its type."""
    if isinstance(refusal, UnknownFields):
        return Reason.UNKNOWN_FIELDS
    if isinstance(refusal, InvalidExternalId):
        return Reason.INVALID_EXTERNAL_ID
    if isinstance(refusal, MissingReferences):
        return Reason.MISSING_DEPENDENCY
    return Reason.VALIDATION_FAILED


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


async def apply_items(
    scope: Scope,
    batch_type: str,
    options: Options,
    items: list[Item],
    now: datetime,
    *,
    waited: bool = False,
) -> list[Outcome]:
    """Apply ``items`` in order inside the caller's transaction; one outcome per item.
    ``waited``: the items waited for a dependency (their events say ``via: pending``)."""
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
    chunk = _Chunk(scope, batch_type, options, now, waited=waited)
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
    if scope.events is not None and chunk.events:
        await scope.events.append(scope.conn, chunk.events)
    return [outcomes[item.position] for item in items]


class _Chunk:
    """What applying one chunk knows: its records as they stand, and which reference targets
    exist. Everything async (the queries) happens before the per-item loop, which is plain
    Python — no coroutine per item."""

    def __init__(
        self, scope: Scope, batch_type: str, options: Options, now: datetime, *, waited: bool
    ) -> None:
        self.scope = scope
        # One change event per item that changes a record, in item order (so versions rise).
        self.events: list[EventRow] = []
        self.actor: Actor | None = None
        if scope.events is not None and waited:
            self.actor = scope.events.actor.via_("pending")
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
        scope = self.scope
        current = self.state.get(external_id)
        if current is None and self.batch_type == PATCH:
            return failed(
                item.position,
                external_id,
                Reason.NOT_FOUND,
                [
                    f"data.{scope.schema.external_id_field}: no {scope.schema.name} record "
                    f"{external_id!r}"
                ],
            )
        if (
            current is not None
            and self.batch_type == INGEST
            and self.options.on_conflict == "reject"
        ):
            return failed(
                item.position,
                external_id,
                Reason.ALREADY_EXISTS,
                [f"A {scope.schema.name} record with external id {external_id!r} already exists"],
            )
        try:
            if current is None:
                write_rule.check_new_key(external_id, f"data.{scope.schema.external_id_field}")
            written = write_rule.write(
                None if current is None else current.doc,
                fields,
                scope.compiled,
                schema_id=scope.schema.id,
                key_field=scope.schema.external_id_field,
            )
        except InvalidDocument as exc:  # InvalidExternalId too
            return failed(item.position, external_id, reason_of(exc), exc.errors or [])
        if not written.changed:
            return Outcome(position=item.position, status=SUCCEEDED, external_id=external_id)
        if written.references:
            missing = self.missing(written.references)
            if missing:
                return _unresolved(
                    self.batch_type, self.options, item, external_id, missing, self.now, self.at
                )
        before = None if current is None else current.doc
        if current is None:
            current = _Current(written.document, 1, None, new_ordered_id(), self.at)
            self.state[external_id] = current
        else:
            current.doc = written.document
            current.version += 1
        current.dirty = True
        log = scope.events
        if log is not None:
            self.events.append(
                log.resource(
                    CREATED if before is None else UPDATED,
                    external_id,
                    current.version,
                    before,
                    current.doc,
                    self.at,
                    actor=self.actor,
                )
            )
        return Outcome(position=item.position, status=SUCCEEDED, external_id=external_id)

    def missing(self, wanted: list[tuple[str, str, str]]) -> list[Missing]:
        """Of the references an item sets (:func:`reach.domain.write_rule.write`), those whose
        target does not exist, as :func:`reach.domain.references.missing` decides it but
        against the bulk-loaded keys and this chunk's own records."""
        schema_id = self.scope.schema.id
        return [
            Missing(field, target_id, self.target_names[target_id], value)
            for field, target_id, value in wanted
            if not (target_id == schema_id and value in self.state)
            and value not in self.known.get(target_id, ())
        ]


def _unresolved(
    batch_type: str,
    options: Options,
    item: Item,
    external_id: str,
    missing: list[Missing],
    now: datetime,
    at: str,
) -> Outcome:
    """An item whose dependencies do not exist: it waits, or fails at once, or has waited
    long enough."""
    refusal = write_rule.missing_references(missing)
    named = refusal.errors or []
    if batch_type != INGEST or options.wait_seconds <= 0:
        return failed(item.position, external_id, reason_of(refusal), named)
    if item.expires_at is not None and at >= item.expires_at:
        return timed_out(item.position, external_id, missing, options)
    expires_at = item.expires_at or clock.format_timestamp(
        now + timedelta(seconds=options.wait_seconds)
    )
    return Outcome(
        position=item.position,
        status=WAITING,
        external_id=external_id,
        missing=[m.wire() for m in missing],
        pending_at=item.pending_at or at,
        expires_at=expires_at,
    )


def timed_out(
    position: int, external_id: str | None, missing: list[Missing], options: Options
) -> Outcome:
    """An item that waited for its dependencies as long as it was allowed to."""
    return failed(
        position,
        external_id,
        Reason.DEPENDENCY_TIMEOUT,
        [
            f"{m.text()} (still missing after dependencyWaitTimeout={options.wait_seconds}s)"
            for m in missing
        ],
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
