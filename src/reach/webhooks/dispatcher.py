"""Events → deliveries: the dispatcher reads the event log after its cursor and queues one
delivery per matching enabled endpoint, moving the cursor in the same transaction.

Positions in the event log are final and commit-ordered (``reach.storage.events``), so a
cursor never skips an event; queuing and moving the cursor commit together, so every event
is fanned out exactly once however often workers die. One dispatcher works at a time: on
PostgreSQL the cursor row is locked ``SKIP LOCKED`` (another worker skips its turn), on SQLite
the write transaction serialises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from reach import clock
from reach.domain.ordered_ids import new_ordered_id
from reach.storage import webhook_deliveries as outbox
from reach.storage import webhooks as endpoints
from reach.storage.database import Connection, Database, Row
from reach.storage.events import read_all_after

CHUNK = 1000


class Event(Protocol):
    """What the dispatcher needs of a stored event (``reach.storage.events.StoredEvent``)."""

    @property
    def id(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def tenant_id(self) -> str | None: ...
    @property
    def partner_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def occurred_at(self) -> str: ...
    @property
    def body(self) -> dict[str, Any]: ...


def payload(event: Event) -> str:
    """The body posted for ``event``: the Standard Webhooks envelope around the served event."""
    return orjson.dumps(
        {"type": event.type, "timestamp": event.occurred_at, "data": event.body}
    ).decode()


def _schema_of(event: Event) -> str | None:
    """The schema definition an event is about: a resource event names it at the top, a
    batch's in its data, a schema definition's event is its own."""
    data = event.body.get("data")
    data = data if isinstance(data, dict) else {}
    value = event.body.get("schemaDefinitionId") or data.get("schemaDefinitionId")
    if value is None and event.type.startswith("schema_definition."):
        value = data.get("id")
    return None if value is None else str(value)


def tenant_of(event: Event) -> str | None:
    """The tenant an event is about; None for a partner's own (stored under its partner id)."""
    if not event.tenant_id or event.tenant_id == event.partner_id:
        return None
    return event.tenant_id


def _listed(value: Any) -> frozenset[str] | None:
    return None if value is None else frozenset(orjson.loads(value))


class _Filter:
    __slots__ = ("created_at", "events", "id", "partner_id", "schemas", "tenants")

    def __init__(self, row: Row) -> None:
        self.id = str(row["id"])
        self.partner_id = str(row["partner_id"])
        self.created_at: str = row["created_at"]
        self.events = _listed(row["event_types"])
        self.tenants = _listed(row["tenant_ids"])
        self.schemas = _listed(row["schema_ids"])

    def wants(self, event: Event) -> bool:
        # An endpoint hears of what happened after it was made, not the log before it.
        if event.occurred_at < self.created_at:
            return False
        if self.events is not None and event.type not in self.events:
            return False
        tenant = tenant_of(event)
        if self.tenants is not None and tenant is not None and tenant not in self.tenants:
            return False
        schema = _schema_of(event)
        return self.schemas is None or schema is None or schema in self.schemas


async def fan_out(conn: Connection, events: Sequence[Event]) -> int:
    """Queue the deliveries of ``events`` in the caller's transaction; how many."""
    partners = sorted({e.partner_id for e in events})
    by_partner: dict[str, list[_Filter]] = {}
    for row in await endpoints.enabled_for(conn, partners):
        found = _Filter(row)
        by_partner.setdefault(found.partner_id, []).append(found)
    if not by_partner:
        return 0
    now = clock.now()
    queued: list[outbox.NewDelivery] = []
    for event in events:
        body: str | None = None
        for endpoint in by_partner.get(event.partner_id, ()):
            if not endpoint.wants(event):
                continue
            body = body or payload(event)
            queued.append(
                outbox.NewDelivery(
                    new_ordered_id(),
                    endpoint.id,
                    event.partner_id,
                    tenant_of(event),
                    event.id,
                    event.type,
                    event.position,
                    body,
                    now,
                )
            )
    await outbox.insert_many(conn, queued)
    return len(queued)


async def dispatch_once(db: Database, limit: int = CHUNK) -> int:
    """One chunk of the log after the cursor; how many events it read (0: caught up, or
    another dispatcher is at work)."""
    # A read first: an idle poll must not take SQLite's write lock.
    async with db.transaction(write=False) as conn:
        if not await read_all_after(conn, await outbox.cursor_position(conn) or 0, 1):
            return 0
    async with db.transaction(write=True) as conn:
        position = await outbox.lock_cursor(conn, clock.now())
        if position is None:
            return 0
        events = await read_all_after(conn, position, limit)
        if not events:
            return 0
        await fan_out(conn, events)
        await outbox.move_cursor(conn, events[-1].position, clock.now())
        return len(events)
