"""Change events: appended with the write they describe, stamped after commit, read in order.

A write appends its events with ``position`` NULL, in its own transaction (so a rolled-back
write leaves none). :func:`stamp` — one stamper at a time, serialised by the row lock on
``event_stamp`` — gives every committed, unstamped event the next positions in ``seq`` order.
SQLite, whose single writer makes ``seq`` commit-ordered already, gives each event its ``seq``
(the rowid, migration 0016) as its position at insert, and needs no stamper.
Readers only see stamped events, ordered by ``position``; a cursor is a position. Why this is
exactly-once although PostgreSQL sequences are not commit-ordered: docs/events.md.

Tenant reads (:func:`feed_page`, :func:`history_page`) filter by tenant in every statement;
:func:`read_all_after` is the one cross-tenant read, for the webhook dispatcher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from reach.storage import event_chain as chain
from reach.storage.database import Connection, Row

_INSERT_COLUMNS = (
    "id, tenant_id, partner_id, type, schema_id, external_id, version, occurred_at, body"
)
_READ_COLUMNS = (
    "seq, id, tenant_id, partner_id, position, type, schema_id, external_id, version, "
    "occurred_at, body"
)
# What a feed or history page serves: the seq a history cursor names, the position, and the
# event as served (``served``), spliced by the database: the stored body with ``sequence`` put
# first, so a page of 1000 is neither parsed nor rebuilt row by row in Python. The same SQL
# on both engines.
_PAGE_COLUMNS = (
    "seq, position, '{\"sequence\":' || coalesce(CAST(position AS TEXT), 'null') || ',' "
    "|| substr(body, 2) AS served"
)

# SQLite: the seq (the rowid since migration 0016) and the position, which is the same number.
# SQLite has one writer at a time, so the order in which events take their seq is their commit
# order: every event committed later gets a larger one, and a reader never has to wait for a
# stamper (docs/events.md). The number is one above the highest seq in the table and above
# ``event_stamp.last_position``, the high-water mark retention raises before it deletes (the
# newest event may go, and its number must never come again: a cursor may hold it). Both are
# reads of one B-tree edge; AUTOINCREMENT would instead write ``sqlite_sequence`` every time.
# A ``VALUES`` row with the number as a scalar subquery, twice: ``INSERT … SELECT`` from a
# query that reads ``events`` itself is copied through a temporary table first (dearer).
_SQLITE_NEXT = (
    "(SELECT max(coalesce((SELECT max(seq) FROM events), 0), "
    "coalesce((SELECT last_position FROM event_stamp WHERE id = 1), 0)) + 1)"
)
_SQLITE_INSERT = (
    f"INSERT INTO events (seq, position, {_INSERT_COLUMNS}) VALUES ({_SQLITE_NEXT}, "
    f"{_SQLITE_NEXT}, $1, $2, $3, $4, $5, $6, $7, $8, $9)"
)
# SQLite keeps no history index (migration 0020): each event of a record names the record's
# previous one (``prev``, the chain's head before it: reach.storage.event_chain).
_SQLITE_INSERT_CHAINED = (
    f"INSERT INTO events (seq, position, {_INSERT_COLUMNS}, prev) VALUES ({_SQLITE_NEXT}, "
    f"{_SQLITE_NEXT}, $1, $2, $3, $4, $5, $6, $7, $8, $9, "
    f"{chain.HEAD.format(t='$2', s='$5', x='$6')})"
)
# The global order the webhook dispatcher and retention walk: ``position``, on PostgreSQL by
# ``ix_events_stamp``; on SQLite, where position = seq, the rowid itself (no index to pay).
_ORDER = {"postgresql": "position", "sqlite": "seq"}

# (id, tenant id, partner id, type, schema id, external id, version, occurred at, body text)
EventRow = tuple[str, str, str, str, str | None, str | None, int | None, str, str]


@dataclass(frozen=True)
class StoredEvent:
    """A stamped event as the webhook dispatcher reads it: ``body`` is the served event,
    parsed from ``text`` when first asked for. The dispatcher reads every event whether or
    not any endpoint wants it; with none (the common case) no body is ever parsed."""

    id: str
    position: int
    tenant_id: str
    partner_id: str
    type: str
    occurred_at: str
    text: bytes

    @cached_property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = orjson.loads(self.text)
        return parsed


def served_text(row: Row) -> bytes:
    """The event as served: the stored body with its ``sequence`` (the position) put first,
    spliced as text so a page of events is never parsed and dumped again."""
    position = row["position"]
    sequence = b"null" if position is None else str(int(position)).encode()
    body: str = row["body"]
    return b'{"sequence":' + sequence + b"," + body[1:].encode()


def served(row: Row) -> orjson.Fragment:
    """A feed or history row (``_PAGE_COLUMNS``) as it goes into the response."""
    return orjson.Fragment(row["served"])


async def append(conn: Connection, rows: Sequence[EventRow]) -> None:
    """Append events in the caller's transaction (an ordinary statement: it begins it)."""
    if not rows:
        return
    if conn.dialect == "postgresql":
        await conn.execute(
            f"INSERT INTO events ({_INSERT_COLUMNS}) SELECT * FROM unnest($1::uuid[], "
            "$2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::text[], $7::int[], "
            "$8::timestamptz[], $9::text[])",
            *[list(column) for column in zip(*rows, strict=True)],
        )
        return
    for row in rows:
        # One at a time, in order: an event's ``prev`` is the head its predecessor (of the same
        # record, maybe in this very call) left.
        schema_id, external_id = row[4], row[5]
        if schema_id is None or external_id is None:  # not a record's: no history to chain
            await conn.execute(_SQLITE_INSERT, *row)
            continue
        await conn.execute(_SQLITE_INSERT_CHAINED, *row)
        key = (row[1], schema_id, external_id)
        if not await conn.execute(chain.MOVE_HEAD, *key):
            await conn.execute(chain.MOVE_DELETED_HEAD, *key)


def update_with_event(update: str, first_arg: int) -> str:
    """PostgreSQL: the resource compare-and-set ``update`` and its event's insert as one
    statement (a data-modifying CTE: no second round trip). The insert happens only if the
    update changed the row. The event's id, partner id, type, schema id, external id and body
    are ``$first_arg`` onwards; its version and time are the update's ``$4`` and ``$5``."""
    return f"WITH changed AS ({update} RETURNING tenant_id) {insert_for_changed(first_arg)}"


def insert_for_changed(first_arg: int) -> str:
    """The event insert of :func:`update_with_event`, for a statement whose CTE ``changed``
    returns the updated row's ``tenant_id`` (also reach.storage.idempotency)."""
    n = first_arg
    return (
        f"INSERT INTO events ({_INSERT_COLUMNS}) SELECT ${n}::uuid, tenant_id, ${n + 1}::uuid, "
        f"${n + 2}::text, ${n + 3}::uuid, ${n + 4}::text, $4, $5, ${n + 5}::text FROM changed"
    )


async def stamp(conn: Connection, limit: int = 5000) -> int:
    """Give up to ``limit`` committed, unstamped events their positions, in ``seq`` order; run
    in a transaction of its own and commit at once. Returns how many were stamped.

    The counter row's lock makes stampers take turns: a stamper starts only after the last one
    committed, so every position it gives is above every position a reader could have seen.
    """
    last = await conn.fetchval(
        "UPDATE event_stamp SET last_position = last_position WHERE id = 1 RETURNING last_position"
    )
    if last is None:
        return 0
    rows = await conn.fetch(
        # Matched on the whole primary key (tenant first): a join on ``seq`` alone finds no
        # index and reads the whole table for every stamp.
        "UPDATE events SET position = $1 + todo.n FROM (SELECT tenant_id, seq, "
        "row_number() OVER (ORDER BY seq) AS n FROM events WHERE position IS NULL "
        f"ORDER BY seq LIMIT {int(limit)}) AS todo "
        "WHERE events.tenant_id = todo.tenant_id AND events.seq = todo.seq "
        "RETURNING events.position",
        int(last),
    )
    if not rows:
        return 0
    top = max(int(r["position"]) for r in rows)
    await conn.execute("UPDATE event_stamp SET last_position = $1 WHERE id = 1", top)
    return len(rows)


async def unstamped(conn: Connection) -> bool:
    """Whether any committed event still waits for its position. Never on SQLite, where an
    event has it from its insert (and the table has no index to find a NULL one by)."""
    if conn.dialect == "sqlite":
        return False
    found = await conn.fetchval("SELECT 1 FROM events WHERE position IS NULL LIMIT 1")
    return found is not None


async def read_all_after(conn: Connection, position: int, limit: int) -> list[StoredEvent]:
    """Stamped events of every tenant with a position above ``position``, in position order:
    the webhook dispatcher's read. Positions are final once seen, so ``position`` of the last
    event returned is a cursor that never skips one."""
    order = _ORDER[conn.dialect]
    rows = await conn.fetch(
        f"SELECT {_READ_COLUMNS} FROM events WHERE {order} > $1 ORDER BY {order} "
        f"LIMIT {int(limit)}",
        int(position),
    )
    return [
        StoredEvent(
            id=str(r["id"]),
            position=int(r["position"]),
            tenant_id=str(r["tenant_id"]),
            partner_id=str(r["partner_id"]),
            type=r["type"],
            occurred_at=r["occurred_at"],
            text=served_text(r),
        )
        for r in rows
    ]


async def last_position(conn: Connection) -> int:
    """The highest position given so far (0 before the first event is stamped)."""
    value = await conn.fetchval(f"SELECT max({_ORDER[conn.dialect]}) FROM events")
    return 0 if value is None else int(value)


async def feed_page(
    conn: Connection,
    tenant_id: str,
    *,
    after: int,
    limit: int,
    types: Sequence[str] = (),
    schema_id: str | None = None,
) -> list[Row]:
    """One tenant's stamped events after position ``after``, oldest first."""
    where = ""
    args: list[Any] = [tenant_id, after]
    if types:
        if conn.dialect == "postgresql":
            where += f" AND type = ANY(${len(args) + 1}::text[])"
            args.append(list(types))
        else:
            where += f" AND type IN (SELECT value FROM json_each(${len(args) + 1}))"
            args.append(orjson.dumps(list(types)).decode())
    if schema_id is not None:
        where += f" AND schema_id = ${len(args) + 1}"
        args.append(schema_id)
    return list(
        await conn.fetch(
            f"SELECT {_PAGE_COLUMNS} FROM events WHERE tenant_id = $1 AND position > $2{where} "
            f"ORDER BY position LIMIT {int(limit)}",
            *args,
        )
    )


# A chain step stays on the record: a cursor is the client's to send, and one naming another
# record's (or tenant's) event must lead nowhere.
_SQLITE_CHAIN = (
    "WITH RECURSIVE chain(seq, prev) AS (SELECT seq, prev FROM events WHERE seq = {start} "
    "AND tenant_id = $1 AND schema_id = $2 AND external_id = $3 "
    "UNION ALL SELECT e.seq, e.prev FROM chain JOIN events AS e ON e.seq = chain.prev "
    "WHERE e.tenant_id = $1 AND e.schema_id = $2 AND e.external_id = $3 LIMIT {limit}) "
)
_SQLITE_CHAIN_PAGE = f"SELECT {_PAGE_COLUMNS} FROM chain JOIN events USING (seq) ORDER BY seq DESC"
_SQLITE_AFTER = (
    "(SELECT prev FROM events WHERE seq = $4 AND tenant_id = $1 AND schema_id = $2 "
    "AND external_id = $3)"
)


async def history_page(
    conn: Connection,
    tenant_id: str,
    schema_id: str,
    external_id: str,
    *,
    before: int | None,
    limit: int,
) -> list[Row]:
    """One record's events, newest first (``seq`` order is the record's version order: a
    record's writes hold its row lock, so each appends after the previous one committed),
    after ``before`` (the ``seq`` of the last event of the previous page). PostgreSQL reads
    its history index; SQLite walks the record's chain (:mod:`reach.storage.event_chain`)."""
    if conn.dialect == "sqlite":
        if before is None:
            start = chain.HEAD.format(t="$1", s="$2", x="$3")
            args: tuple[Any, ...] = (tenant_id, schema_id, external_id)
        else:
            start, args = _SQLITE_AFTER, (tenant_id, schema_id, external_id, before)
        sql = _SQLITE_CHAIN.format(start=start, limit=int(limit)) + _SQLITE_CHAIN_PAGE
        return list(await conn.fetch(sql, *args))
    return list(
        await conn.fetch(
            f"SELECT {_PAGE_COLUMNS} FROM events WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND external_id = $3 AND seq < $4 ORDER BY seq DESC LIMIT {int(limit)}",
            tenant_id,
            schema_id,
            external_id,
            before if before is not None else 2**62,
        )
    )


async def prune(conn: Connection, before: str, limit: int) -> int:
    """Delete up to ``limit`` stamped events that occurred before ``before``, oldest first;
    how many went. Walks ``position`` (which follows time: an event's time is taken right
    before it is inserted, its position given after it committed) on the index the dispatcher
    reads, so no index on the time is paid by every write; and deletes by the whole key (no
    index leads with ``seq``, which would make each chunk read the whole table). On SQLite the
    walk is the rowid (position = seq), and the high-water mark new events number above is
    raised first, in case the newest event is among those deleted; the run's last chunk also
    drops the ``event_heads`` left pointing at pruned events."""
    if conn.dialect == "postgresql":
        rows = await conn.fetch(
            "DELETE FROM events WHERE (tenant_id, seq) IN (SELECT tenant_id, seq FROM events "
            f"WHERE position > 0 ORDER BY position LIMIT {int(limit)}) "
            "AND occurred_at < $1::timestamptz RETURNING seq",
            before,
        )
        return len(rows)
    await conn.execute(
        "UPDATE event_stamp SET last_position = max(last_position, "
        "coalesce((SELECT max(seq) FROM events), 0)) WHERE id = 1"
    )
    rows = await conn.fetch(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events "
        f"ORDER BY seq LIMIT {int(limit)}) AND occurred_at < $1 RETURNING seq",
        before,
    )
    if len(rows) < limit:
        # The run's last chunk: the heads of deleted records whose whole history is gone lead
        # nowhere now (the oldest events go first, so a pruned head means a pruned chain).
        await conn.execute(
            "DELETE FROM event_heads WHERE NOT EXISTS "
            "(SELECT 1 FROM events WHERE events.seq = event_heads.seq)"
        )
    return len(rows)
