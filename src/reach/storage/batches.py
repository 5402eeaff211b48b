"""Batch jobs and their items: hand-written SQL for both engines.

Reads that a caller makes are scoped by tenant (:func:`get`, :func:`page`); item rows are only
reached through a batch row found that way, or by the worker through the batch it claimed.

Claiming: a batch is claimable when its ``wake_at`` has come and nobody holds an unexpired
lease. PostgreSQL picks one with ``FOR UPDATE SKIP LOCKED``; SQLite runs the same
``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, which already serialises writers across
processes. Timestamps are RFC 3339 text on both engines (text sorts correctly in SQLite, and
PostgreSQL parses it as ``timestamptz``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson

from reach.storage.database import Connection, Row

COLUMNS = (
    "seq, id, partner_id, tenant_id, schema_id, schema_name, batch_type, status, options, "
    "state, total_records, processed_records, successful_records, failed_records, "
    "pending_records, cascaded_records, created_at, started_at, completed_at, wake_at, "
    "claimed_by, lease_until"
)
ITEM_COLUMNS = (
    "position, external_id, payload, status, reason, errors, missing, pending_at, expires_at"
)


class BatchRef(NamedTuple):
    """A batch as the worker addresses it. Every statement by batch id also names the tenant:
    on a database distributed by tenant each is then a router query to one shard instead of a
    broadcast (docs/scaling.md), and on one database it costs nothing (the unique key is
    ``(id, tenant_id)``; item keys end in ``tenant_id``)."""

    tenant_id: str
    id: str

    @classmethod
    def of(cls, row: Row) -> BatchRef:
        return cls(str(row["tenant_id"]), str(row["id"]))


def _ids(dialect: str, n: int) -> str:
    if dialect == "postgresql":
        return f"= ANY(${n}::int[])"
    return f"IN (SELECT value FROM json_each(${n}))"


def _list(dialect: str, values: Sequence[Any]) -> Any:
    return list(values) if dialect == "postgresql" else orjson.dumps(list(values)).decode()


async def insert(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO batches (id, partner_id, tenant_id, schema_id, schema_name, "
        "batch_type, status, options, state, total_records, processed_records, "
        "successful_records, failed_records, pending_records, cascaded_records, created_at, "
        "wake_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $9, 0, 0, 0, 0, "
        "0, $10, $10)",
        values["id"],
        values["partner_id"],
        values["tenant_id"],
        values["schema_id"],
        values["schema_name"],
        values["batch_type"],
        values["options"],
        values["state"],
        values["total_records"],
        values["created_at"],
    )


async def insert_items(
    conn: Connection,
    batch_id: str,
    tenant_id: str,
    items: Sequence[tuple[int, str | None, str | None]],
) -> None:
    """Queue (position, external id, payload JSON text) items."""
    if not items:
        return
    if conn.dialect == "postgresql":
        await conn.execute(
            "INSERT INTO batch_items (batch_id, tenant_id, position, external_id, payload, "
            "status) SELECT $1, $2, u.position, u.eid, u.payload::jsonb, 'queued' "
            "FROM unnest($3::int[], $4::text[], $5::text[]) AS u(position, eid, payload)",
            batch_id,
            tenant_id,
            [i[0] for i in items],
            [i[1] for i in items],
            [i[2] for i in items],
        )
        return
    await conn.executemany(
        "INSERT INTO batch_items (batch_id, tenant_id, position, external_id, payload, status) "
        "VALUES ($1, $2, $3, $4, $5, 'queued')",
        [(batch_id, tenant_id, i[0], i[1], i[2]) for i in items],
    )


async def insert_failures(
    conn: Connection,
    batch_id: str,
    tenant_id: str,
    items: Sequence[tuple[int, str | None, str, str]],
) -> None:
    """Record (position, external id, reason, errors JSON) items that were never queued
    (a delete-all batch discovers its items as it goes)."""
    await conn.executemany(
        "INSERT INTO batch_items (batch_id, tenant_id, position, external_id, status, reason, "
        "errors) VALUES ($1, $2, $3, $4, 'failed', $5, $6)",
        [(batch_id, tenant_id, *item) for item in items],
    )


# -- reads for callers (tenant-scoped)


async def get(conn: Connection, tenant_id: str, batch_id: str) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM batches WHERE tenant_id = $1 AND id = $2", tenant_id, batch_id
    )


async def page(
    conn: Connection,
    tenant_id: str,
    *,
    batch_type: str | None,
    after_seq: int | None,
    descending: bool,
    limit: int,
) -> tuple[list[Row], int]:
    where = "tenant_id = $1"
    args: list[Any] = [tenant_id]
    if batch_type is not None:
        args.append(batch_type)
        where += f" AND batch_type = ${len(args)}"
    total = int(await conn.fetchval(f"SELECT count(*) FROM batches WHERE {where}", *args))
    if after_seq is not None:
        args.append(after_seq)
        where += f" AND seq {'<' if descending else '>'} ${len(args)}"
    direction = "DESC" if descending else "ASC"
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM batches WHERE {where} ORDER BY seq {direction} LIMIT {int(limit)}",
        *args,
    )
    return list(rows), total


async def failure_summaries(
    conn: Connection, tenant_id: str, batch_ids: Sequence[str]
) -> list[Row]:
    dialect = conn.dialect
    if not batch_ids:
        return []
    cond = (
        "batch_id = ANY($1::uuid[])"
        if dialect == "postgresql"
        else "batch_id IN (SELECT value FROM json_each($1))"
    )
    return list(
        await conn.fetch(
            "SELECT batch_id, reason, count(*) AS n FROM batch_items "
            f"WHERE {cond} AND tenant_id = $2 AND status = 'failed' GROUP BY batch_id, reason",
            _list(dialect, batch_ids),
            tenant_id,
        )
    )


async def items_with_status(
    conn: Connection, batch: BatchRef, status: str, limit: int | None = None
) -> list[Row]:
    bound = f" LIMIT {int(limit)}" if limit is not None else ""
    return list(
        await conn.fetch(
            f"SELECT {ITEM_COLUMNS} FROM batch_items WHERE batch_id = $1 AND tenant_id = $3 "
            f"AND status = $2 ORDER BY position{bound}",
            batch.id,
            status,
            batch.tenant_id,
        )
    )


# -- the worker


async def wake(conn: Connection, batches: Sequence[BatchRef], now: str) -> None:
    await conn.executemany(
        "UPDATE batches SET wake_at = $1 WHERE wake_at > $1 AND id = $2 AND tenant_id = $3",
        [(now, batch.id, batch.tenant_id) for batch in batches],
    )


async def add_waits(
    conn: Connection, batch: BatchRef, waits: Sequence[tuple[int, str, str]]
) -> None:
    """Record (position, schema id, external id) dependencies pending items wait for."""
    if waits:
        await conn.executemany(
            "INSERT INTO batch_waits (batch_id, position, schema_id, external_id, tenant_id) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            [(batch.id, *wait, batch.tenant_id) for wait in waits],
        )


async def clear_waits(conn: Connection, batch: BatchRef) -> None:
    await conn.execute(
        "DELETE FROM batch_waits WHERE batch_id = $1 AND tenant_id = $2", batch.id, batch.tenant_id
    )


async def has_work(conn: Connection, now: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM batches WHERE wake_at <= $1 "
        "AND (lease_until IS NULL OR lease_until < $1) LIMIT 1",
        now,
    )
    return found is not None


async def claim(conn: Connection, worker: str, now: str, lease_until: str) -> Row | None:
    skip_locked = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    return await conn.fetchrow(
        "UPDATE batches SET claimed_by = $2, lease_until = $3, "
        "status = CASE WHEN status = 'pending' THEN 'processing' ELSE status END, "
        "started_at = coalesce(started_at, $1) "
        "WHERE id = (SELECT id FROM batches WHERE wake_at <= $1 "
        "AND (lease_until IS NULL OR lease_until < $1) "
        f"ORDER BY wake_at, seq LIMIT 1{skip_locked}) "
        f"RETURNING {COLUMNS}",
        now,
        worker,
        lease_until,
    )


async def renew(conn: Connection, batch: BatchRef, worker: str, lease_until: str) -> Row | None:
    """Extend our lease; None when it is no longer ours. Run first in every chunk's
    transaction, it also locks the batch row until that transaction ends."""
    return await conn.fetchrow(
        "UPDATE batches SET lease_until = $3 WHERE id = $1 AND tenant_id = $4 "
        f"AND claimed_by = $2 RETURNING {COLUMNS}",
        batch.id,
        worker,
        lease_until,
        batch.tenant_id,
    )


async def release(conn: Connection, batch: BatchRef, worker: str, wake_at: str | None) -> None:
    await conn.execute(
        "UPDATE batches SET claimed_by = NULL, lease_until = NULL, wake_at = $3 "
        "WHERE id = $1 AND tenant_id = $4 AND claimed_by = $2",
        batch.id,
        worker,
        wake_at,
        batch.tenant_id,
    )


async def queued_items(conn: Connection, batch: BatchRef, limit: int) -> list[Row]:
    return await items_with_status(conn, batch, "queued", limit)


async def mark_succeeded(conn: Connection, batch: BatchRef, positions: Sequence[int]) -> None:
    dialect = conn.dialect
    if not positions:
        return
    await conn.execute(
        "UPDATE batch_items SET status = 'succeeded', reason = NULL, errors = NULL, "
        f"missing = NULL WHERE batch_id = $1 AND tenant_id = $3 AND position {_ids(dialect, 2)}",
        batch.id,
        _list(dialect, positions),
        batch.tenant_id,
    )


async def mark_items(
    conn: Connection,
    batch: BatchRef,
    items: Sequence[tuple[int, str, str | None, str | None, str | None, str | None, str | None]],
) -> None:
    """Set (position, status, reason, errors, missing, pending_at, expires_at) of items."""
    if not items:
        return
    await conn.executemany(
        "UPDATE batch_items SET status = $3, reason = $4, errors = $5, missing = $6, "
        "pending_at = $7, expires_at = $8 WHERE batch_id = $1 AND position = $2 "
        "AND tenant_id = $9",
        [(batch.id, *item, batch.tenant_id) for item in items],
    )


async def add_progress(
    conn: Connection,
    batch: BatchRef,
    *,
    processed: int,
    successful: int,
    failed: int,
    pending: int,
    cascaded: int,
    state: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "UPDATE batches SET processed_records = processed_records + $2, "
        "successful_records = successful_records + $3, failed_records = failed_records + $4, "
        "pending_records = pending_records + $5, cascaded_records = cascaded_records + $6, "
        "state = coalesce($7, state) WHERE id = $1 AND tenant_id = $8",
        batch.id,
        processed,
        successful,
        failed,
        pending,
        cascaded,
        None if state is None else orjson.dumps(state).decode(),
        batch.tenant_id,
    )


async def finish(
    conn: Connection, batch: BatchRef, *, status: str, at: str, total: int | None
) -> None:
    """Complete the batch and give up its lease; nothing will wake it again."""
    await conn.execute(
        "UPDATE batches SET status = $2, completed_at = $3, wake_at = NULL, claimed_by = NULL, "
        "lease_until = NULL, total_records = coalesce($4, total_records) "
        "WHERE id = $1 AND tenant_id = $5",
        batch.id,
        status,
        at,
        total,
        batch.tenant_id,
    )


async def fail_remaining(conn: Connection, batch: BatchRef, reason: str, errors: str) -> int:
    """Fail every item that is queued or waiting; returns how many."""
    rows = await conn.fetch(
        "UPDATE batch_items SET status = 'failed', reason = $2, errors = $3 "
        "WHERE batch_id = $1 AND tenant_id = $4 AND status IN ('queued', 'pending') "
        "RETURNING position",
        batch.id,
        reason,
        errors,
        batch.tenant_id,
    )
    return len(rows)


async def counts(conn: Connection, batch: BatchRef) -> Row | None:
    return await conn.fetchrow(
        "SELECT total_records, processed_records, successful_records, failed_records, "
        "pending_records, cascaded_records FROM batches WHERE id = $1 AND tenant_id = $2",
        batch.id,
        batch.tenant_id,
    )


async def wait_until(conn: Connection, batch: BatchRef, wake_at: str) -> None:
    """Give up the lease; the batch is due again at ``wake_at`` (or when a write wakes it)."""
    await conn.execute(
        "UPDATE batches SET claimed_by = NULL, lease_until = NULL, wake_at = $2 "
        "WHERE id = $1 AND tenant_id = $3",
        batch.id,
        wake_at,
        batch.tenant_id,
    )


async def mark_rest_succeeded(conn: Connection, batch: BatchRef, first: int, last: int) -> None:
    """After a chunk's other outcomes are stored: every item of the chunk (positions
    ``first``..``last``) still queued succeeded. One range update instead of a list."""
    await conn.execute(
        "UPDATE batch_items SET status = 'succeeded' WHERE batch_id = $1 AND tenant_id = $4 "
        "AND position >= $2 AND position <= $3 AND status = 'queued'",
        batch.id,
        first,
        last,
        batch.tenant_id,
    )
