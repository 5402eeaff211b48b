"""The webhook outbox: deliveries, their attempts, and the dispatcher's cursor in the event log.

What a caller reads is scoped by partner and endpoint (:func:`page`, :func:`get`,
:func:`retry`); the sender reaches rows only through :func:`claim`.

Claiming moves a delivery's ``next_attempt_at`` one lease ahead and counts the attempt in the
same statement, so a sender that dies mid-attempt leaves it due again once the lease has
passed — no delivery is lost, and none is sent twice at once. PostgreSQL claims with
``FOR UPDATE SKIP LOCKED``; SQLite runs the same statement under ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from reach.storage.database import Connection, Row

COLUMNS = (
    "id, endpoint_id, partner_id, tenant_id, event_id, event_type, event_position, status, "
    "attempts, next_attempt_at, last_attempt_at, last_status_code, last_error, "
    "last_response_body, created_at, completed_at"
)
CURSOR_NAME = "events"
STATUSES = ("pending", "succeeded", "failed")


def _in_list(dialect: str, n: int, kind: str = "uuid") -> str:
    if dialect == "postgresql":
        return f"= ANY(${n}::{kind}[])"
    return f"IN (SELECT value FROM json_each(${n}))"


def _list(dialect: str, values: Sequence[Any]) -> Any:
    return list(values) if dialect == "postgresql" else orjson.dumps(list(values)).decode()


# -- the dispatcher's cursor


async def lock_cursor(conn: Connection, at: str) -> int | None:
    """The dispatcher's position, locked for this transaction; None while another dispatcher
    holds it (PostgreSQL: it is working, this one skips a turn)."""
    await conn.execute(
        "INSERT INTO webhook_dispatch (name, position, updated_at) VALUES ($1, 0, $2) "
        "ON CONFLICT (name) DO NOTHING",
        CURSOR_NAME,
        at,
    )
    skip = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    value = await conn.fetchval(
        f"SELECT position FROM webhook_dispatch WHERE name = $1{skip}", CURSOR_NAME
    )
    return None if value is None else int(value)


async def move_cursor(conn: Connection, position: int, at: str) -> None:
    await conn.execute(
        "UPDATE webhook_dispatch SET position = $2, updated_at = $3 WHERE name = $1",
        CURSOR_NAME,
        position,
        at,
    )


async def cursor_position(conn: Connection) -> int | None:
    value = await conn.fetchval(
        "SELECT position FROM webhook_dispatch WHERE name = $1", CURSOR_NAME
    )
    return None if value is None else int(value)


# -- the outbox


class NewDelivery(NamedTuple):
    id: str
    endpoint_id: str
    partner_id: str
    tenant_id: str | None
    event_id: str
    event_type: str
    event_position: int
    payload: str
    created_at: str


async def insert_many(conn: Connection, deliveries: Sequence[NewDelivery]) -> None:
    """Queue deliveries, due at once; an (endpoint, event) pair already queued is left as is."""
    if not deliveries:
        return
    await conn.executemany(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, tenant_id, event_id, "
        "event_type, event_position, payload, status, attempts, next_attempt_at, created_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9) "
        "ON CONFLICT (endpoint_id, event_id) DO NOTHING",
        [tuple(d) for d in deliveries],
    )


class Claimed(NamedTuple):
    id: str
    endpoint_id: str
    event_id: str
    payload: str
    attempts: int
    created_at: str


async def claim(
    conn: Connection,
    *,
    now: str,
    lease_until: str,
    limit: int,
    per_endpoint: int,
    busy: Sequence[str],
) -> list[Claimed]:
    """Claim up to ``limit`` due deliveries of enabled endpoints, at most ``per_endpoint`` of
    any one, none of the ``busy`` ones (this sender has enough in flight to them). Oldest due
    first, round-robin across endpoints; the scan is bounded, so a large backlog of one
    endpoint costs a claim no more than a small one."""
    dialect = conn.dialect
    skip = " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""
    busy_clause = f" AND NOT (endpoint_id {_in_list(dialect, 6)})" if busy else ""
    args: list[Any] = [now, lease_until, limit, per_endpoint, limit * 8]
    if busy:
        args.append(_list(dialect, busy))
    rows = await conn.fetch(
        "UPDATE webhook_deliveries SET next_attempt_at = $2, attempts = attempts + 1, "
        "last_attempt_at = $1 WHERE id IN ("
        " SELECT id FROM webhook_deliveries WHERE id IN ("
        "  SELECT id FROM ("
        "   SELECT id, next_attempt_at, row_number() OVER "
        "    (PARTITION BY endpoint_id ORDER BY next_attempt_at, id) AS n FROM ("
        "     SELECT id, endpoint_id, next_attempt_at FROM webhook_deliveries "
        "     WHERE status = 'pending' AND next_attempt_at <= $1"
        f"{busy_clause} AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE enabled) "
        "     ORDER BY next_attempt_at LIMIT $5) AS due"
        "  ) AS ranked WHERE n <= $4 ORDER BY n, next_attempt_at LIMIT $3"
        f" ) AND status = 'pending' AND next_attempt_at <= $1{skip}"
        ") RETURNING id, endpoint_id, event_id, payload, attempts, created_at",
        *args,
    )
    return [
        Claimed(
            str(r["id"]),
            str(r["endpoint_id"]),
            r["event_id"],
            r["payload"],
            int(r["attempts"]),
            r["created_at"],
        )
        for r in rows
    ]


async def endpoints_for_sending(conn: Connection, ids: Sequence[str]) -> list[Row]:
    dialect = conn.dialect
    rows = await conn.fetch(
        "SELECT id, partner_id, url, sealed_secret, sealed_previous_secret, "
        f"previous_secret_expires_at FROM webhook_endpoints WHERE id {_in_list(dialect, 1)}",
        _list(dialect, ids),
    )
    return list(rows)


class Outcome(NamedTuple):
    """What one attempt came to. ``status``: the delivery's status after it;
    ``next_attempt_at`` None unless it is still pending."""

    id: str
    attempts: int
    status: str
    next_attempt_at: str | None
    status_code: int | None
    error: str | None
    response_body: str | None
    at: str
    completed_at: str | None  # ``at``, unless it is still pending


async def record(conn: Connection, outcomes: Sequence[Outcome]) -> None:
    """Write the attempts' outcomes; one whose claim was since taken over (its lease ran out
    and another sender claimed it: ``attempts`` moved on) is left to that sender."""
    if not outcomes:
        return
    await conn.executemany(
        "UPDATE webhook_deliveries SET status = $3, next_attempt_at = $4, "
        "last_status_code = $5, last_error = $6, last_response_body = $7, last_attempt_at = $8, "
        "completed_at = $9 "
        "WHERE id = $1 AND attempts = $2 AND status = 'pending'",
        [tuple(o) for o in outcomes],
    )


async def endpoints_succeeded(conn: Connection, ids: Sequence[str]) -> None:
    dialect = conn.dialect
    if ids:
        await conn.execute(
            "UPDATE webhook_endpoints SET failing_since = NULL "
            f"WHERE id {_in_list(dialect, 1)} AND failing_since IS NOT NULL",
            _list(dialect, ids),
        )


async def endpoints_failed(
    conn: Connection, ids: Sequence[str], at: str, disable_before: str | None
) -> list[str]:
    """Mark endpoints failing (since ``at`` unless already); disable those failing since
    before ``disable_before``. Returns the ids disabled now."""
    dialect = conn.dialect
    if not ids:
        return []
    await conn.execute(
        f"UPDATE webhook_endpoints SET failing_since = $2 WHERE id {_in_list(dialect, 1)} "
        "AND failing_since IS NULL",
        _list(dialect, ids),
        at,
    )
    if disable_before is None:
        return []
    rows = await conn.fetch(
        "UPDATE webhook_endpoints SET enabled = false, updated_at = $2, disabled_reason = "
        "'Disabled automatically: every delivery attempt has failed since ' || $4 "
        f"WHERE id {_in_list(dialect, 1)} AND enabled AND failing_since <= $3 "
        "RETURNING id",
        _list(dialect, ids),
        at,
        disable_before,
        # The timestamp as text in the reason (PostgreSQL would print its own format).
        disable_before,
    )
    return [str(r["id"]) for r in rows]


# -- what partners read and do


async def page(
    conn: Connection,
    partner_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    before_id: str | None,
    limit: int,
) -> list[Row]:
    """Newest first (ids are time-ordered)."""
    clauses = ["partner_id = $1", "endpoint_id = $2"]
    args: list[Any] = [partner_id, endpoint_id]
    if status is not None:
        args.append(status)
        clauses.append(f"status = ${len(args)}")
    if before_id is not None:
        args.append(before_id)
        clauses.append(f"id < ${len(args)}")
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM webhook_deliveries WHERE {' AND '.join(clauses)} "
        f"ORDER BY id DESC LIMIT ${len(args)}",
        *args,
    )
    return list(rows)


async def get(conn: Connection, partner_id: str, endpoint_id: str, delivery_id: str) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM webhook_deliveries "
        "WHERE partner_id = $1 AND endpoint_id = $2 AND id = $3",
        partner_id,
        endpoint_id,
        delivery_id,
    )


async def retry(
    conn: Connection, partner_id: str, endpoint_id: str, delivery_id: str, now: str
) -> Row | None:
    """Make the delivery due now (again), whatever its status; None if it is not there."""
    return await conn.fetchrow(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $4, "
        "completed_at = NULL WHERE partner_id = $1 AND endpoint_id = $2 AND id = $3 "
        f"RETURNING {COLUMNS}",
        partner_id,
        endpoint_id,
        delivery_id,
        now,
    )


async def any_prunable(conn: Connection, before: str) -> bool:
    return (
        await conn.fetchval(
            "SELECT 1 FROM webhook_deliveries WHERE completed_at < $1 LIMIT 1", before
        )
        is not None
    )


async def prune(conn: Connection, before: str, limit: int) -> int:
    """Delete up to ``limit`` deliveries finished before ``before`` (one statement)."""
    return await conn.execute_final(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries "
        "WHERE completed_at < $1 LIMIT $2)",
        before,
        limit,
    )
