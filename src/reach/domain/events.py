"""Change events: what a write appends, and the two ways to read them back.

Every resource write appends ``resource.created|updated|deleted`` through :class:`EventLog`,
which the write path (:mod:`reach.domain.resources`, :mod:`reach.batches.apply`) holds in its
scope: the event is built here, stored by :mod:`reach.storage.events` in the write's own
transaction (a delete's, cascades included, through :func:`record_deletions`). Tenants,
schema definitions and finished batches append theirs with :func:`append_other`. Reading:
:func:`feed` (a tenant's events, oldest first, by position) and :func:`history` (one
record's, newest first). docs/events.md has the design.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import orjson

from reach import clock
from reach.cursors import decode_cursor, encode_cursor
from reach.errors import BadRequest, NotFound
from reach.storage import events as store
from reach.storage.database import Connection, Row
from reach.storage.events import EventRow

if TYPE_CHECKING:
    from reach.domain.resources import Scope

CREATED = "resource.created"
UPDATED = "resource.updated"
DELETED = "resource.deleted"
RESOURCE_TYPES = (CREATED, UPDATED, DELETED)
OTHER_TYPES = (
    "batch.completed",
    "tenant.created",
    "tenant.updated",
    "tenant.deleted",
    "schema_definition.created",
    "schema_definition.updated",
    "schema_definition.deleted",
)
TYPES = RESOURCE_TYPES + OTHER_TYPES

_INT63 = 2**62


class Actor(msgspec.Struct, frozen=True):
    """Who made a change and how: ``via`` is ``api``, ``batch``, ``cascade`` or ``pending``."""

    partner_id: str
    tenant_token: bool
    via: str
    batch_id: str | None = None
    request_id: str | None = None

    def wire(self) -> dict[str, Any]:
        return {
            "partnerId": self.partner_id,
            "tenantToken": self.tenant_token,
            "via": self.via,
            "batchId": self.batch_id,
            "requestId": self.request_id,
        }

    def via_(self, via: str) -> Actor:
        return msgspec.structs.replace(self, via=via)


def changes(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any]:
    """Each changed top-level field as ``{"from": old, "to": new}`` (absent is null), the
    fields of ``before`` first. Written for the write path (every event, every batch item):
    a create or a delete is one comprehension, an update one pass over each side."""
    if not before:
        return {key: {"from": None, "to": now} for key, now in (after or {}).items()}
    if not after:
        return {key: {"from": was, "to": None} for key, was in before.items()}
    out: dict[str, Any] = {}
    for key, was in before.items():
        if key not in after:
            out[key] = {"from": was, "to": None}
        elif was != (now := after[key]):
            out[key] = {"from": was, "to": now}
    for key, now in after.items():
        if key not in before:
            out[key] = {"from": None, "to": now}
    return out


class EventLog:
    """What a scope's writes append: events for one tenant and schema, by one actor."""

    __slots__ = ("actor", "partner_id", "schema_id", "schema_name", "tenant_id")

    def __init__(
        self,
        tenant_id: str,
        partner_id: str,
        schema_id: str,
        schema_name: str,
        actor: Actor,
    ) -> None:
        self.tenant_id = tenant_id
        self.partner_id = partner_id
        self.schema_id = schema_id
        self.schema_name = schema_name
        self.actor = actor

    def resource(
        self,
        kind: str,
        external_id: str,
        version: int,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        at: str,
        *,
        document: str | None = None,
        actor: Actor | None = None,
        schema: tuple[str, str] | None = None,
    ) -> EventRow:
        """One resource event as a storage row. ``document``: the record's document already
        dumped (the write has it), served as ``data`` without dumping it again."""
        schema_id, schema_name = schema or (self.schema_id, self.schema_name)
        event_id = clock.new_id()
        shown = after if kind != DELETED else before
        data: Any = orjson.Fragment(document) if document is not None else shown
        body = orjson.dumps(
            {
                "id": event_id,
                "type": kind,
                "occurredAt": at,
                "schemaDefinitionId": schema_id,
                "schemaName": schema_name,
                "resourceExternalId": external_id,
                "version": version,
                "changes": changes(before, after),
                "data": data,
                "actor": (actor or self.actor).wire(),
            }
        ).decode()
        return (
            event_id,
            self.tenant_id,
            self.partner_id,
            kind,
            schema_id,
            external_id,
            version,
            at,
            body,
        )

    async def append(self, conn: Connection, rows: list[EventRow]) -> None:
        await store.append(conn, rows)


async def append_other(
    conn: Connection,
    *,
    tenant_id: str,
    partner_id: str,
    kind: str,
    data: dict[str, Any],
    actor: Actor | None = None,
    schema_id: str | None = None,
) -> None:
    """A ``tenant.*``, ``schema_definition.*`` or ``batch.completed`` event, in the caller's
    transaction. Schema definitions belong to a partner, not a tenant: their events are stored
    once, under the partner's own id as ``tenant_id`` (:func:`partner_scope`), which no
    tenant's feed shows and the webhook dispatcher's read does (docs/events.md)."""
    at = clock.now()
    event_id = clock.new_id()
    body = orjson.dumps(
        {
            "id": event_id,
            "type": kind,
            "occurredAt": at,
            "data": data,
            "actor": None if actor is None else actor.wire(),
        }
    ).decode()
    await store.append(
        conn,
        [(event_id, tenant_id, partner_id, kind, schema_id, None, None, at, body)],
    )


def partner_scope(partner_id: str) -> str:
    """The ``tenant_id`` partner-level events are stored under."""
    return partner_id


class EventPage(msgspec.Struct, frozen=True):
    results: list[Any]
    has_next_page: bool
    cursor: str | None


def _position(cursor: str | None, kind: str) -> int | None:
    found = decode_cursor(cursor, kind, 1)
    if found is None:
        return None
    value = found[0]
    if not isinstance(value, int) or not 0 <= value < _INT63:
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    return value


def parse_types(raw: list[str]) -> list[str]:
    """``types=a,b`` (repeatable) → known event types, or a 400 naming the unknown one."""
    names: list[str] = []
    for value in raw:
        names.extend(part.strip() for part in value.split(",") if part.strip())
    unknown = [name for name in names if name not in TYPES]
    if unknown:
        raise BadRequest(
            "Invalid query parameter",
            errors=[f"types: unknown event type {unknown[0]!r}; one of {', '.join(TYPES)}"],
        )
    return list(dict.fromkeys(names))


async def feed(
    conn: Connection,
    tenant_id: str,
    *,
    cursor: str | None,
    limit: int,
    types: list[str],
    schema_id: str | None,
) -> EventPage:
    """The tenant's stamped events after the cursor, oldest first. The cursor is the last
    position returned (or the one given, when nothing is new), so a tail resumes exactly."""
    after = _position(cursor, "events") or 0
    rows = await store.feed_page(
        conn, tenant_id, after=after, limit=limit + 1, types=types, schema_id=schema_id
    )
    has_next = len(rows) > limit
    rows = rows[:limit]
    last = int(rows[-1]["position"]) if rows else after
    return EventPage(
        results=[store.served(r) for r in rows],
        has_next_page=has_next,
        cursor=encode_cursor("events", [last]),
    )


async def history(
    conn: Connection,
    tenant_id: str,
    schema_id: str,
    external_id: str,
    *,
    cursor: str | None,
    limit: int,
) -> EventPage:
    kind = f"history:{schema_id}"
    before = _position(cursor, kind)
    rows = await store.history_page(
        conn, tenant_id, schema_id, external_id, before=before, limit=limit + 1
    )
    has_next = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(kind, [int(rows[-1]["seq"])]) if has_next else None
    return EventPage(
        results=[store.served(r) for r in rows], has_next_page=has_next, cursor=next_cursor
    )


def latest_position(rows: list[Row]) -> int:
    return max((int(r["position"]) for r in rows), default=0)


async def record_deletions(
    scope: Scope, deleted: list[Row], cascaded: list[Row], *, via: str | None = None
) -> None:
    """The ``resource.deleted`` events of a delete: ``deleted`` by the caller's actor
    (``via`` overrides how), ``cascaded`` by a cascade (rows of any schema of the tenant)."""
    log = scope.events
    if log is None:
        return
    at = clock.now()
    actor = log.actor if via is None else log.actor.via_(via)
    rows = [
        log.resource(
            DELETED,
            row["external_id"],
            int(row["version"]),
            orjson.loads(row["data"]),
            None,
            at,
            document=_text(row["data"]),
            actor=actor,
        )
        for row in deleted
    ]
    cascade = log.actor.via_("cascade")
    for row in cascaded:
        schema_id = str(row["schema_id"])
        rows.append(
            log.resource(
                DELETED,
                row["external_id"],
                int(row["version"]),
                orjson.loads(row["data"]),
                None,
                at,
                document=_text(row["data"]),
                actor=cascade,
                schema=(schema_id, await _schema_name(scope, schema_id)),
            )
        )
    await log.append(scope.conn, rows)


async def _schema_name(scope: Scope, schema_id: str) -> str:
    if schema_id == scope.schema.id:
        return scope.schema.name
    try:
        definition = await scope.registry.resolve(scope.conn, scope.tenant.partner_id, schema_id)
    except NotFound:
        return schema_id  # a deactivated schema's records still cascade
    return definition.name


def _text(data: Any) -> str:
    return data if isinstance(data, str) else orjson.dumps(data).decode()
