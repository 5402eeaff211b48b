"""Retention: finished batches and their items are deleted ``REACH_BATCH_RETENTION_DAYS`` after
they finished (they are the bulk of the database after a large import otherwise).

Deletion goes in bounded chunks, each its own short transaction, so pruning a backlog of
millions of items never holds the SQLite write lock, or PostgreSQL row locks, for longer than
one chunk: API writes and batch chunks interleave with it. The batch workers prune on their
own (:data:`PRUNE_INTERVAL_SECONDS`); ``reach prune`` does the same by hand.

Only finished batches (``completed_at`` set) go: a batch still pending, processing or waiting
for a dependency is kept however old it is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import msgspec

from reach import clock
from reach.storage.database import Database

PRUNE_INTERVAL_SECONDS = 3600.0
# At most 1000 items a batch: a chunk of 5 batches deletes at most ~5000 item rows.
BATCHES_PER_CHUNK = 5


class Pruned(msgspec.Struct, frozen=True):
    before: str
    batches: int
    items: int


def cutoff(days: int, now: datetime | None = None) -> str:
    return clock.format_timestamp((now or datetime.now(UTC)) - timedelta(days=days))


async def prune(
    db: Database,
    before: str,
    *,
    batches_per_chunk: int = BATCHES_PER_CHUNK,
    keep_going: Callable[[], bool] = lambda: True,
) -> Pruned:
    """Delete every batch that finished before ``before`` (with its items and waits), chunk by
    chunk until none is left or ``keep_going()`` says stop."""
    batches = items = 0
    while keep_going():
        # Found with a read first: an hourly look that finds nothing takes no write lock.
        async with db.transaction(write=False) as conn:
            rows = await conn.fetch(
                "SELECT id FROM batches WHERE completed_at IS NOT NULL AND completed_at < $1 "
                "ORDER BY completed_at LIMIT $2",
                before,
                batches_per_chunk,
            )
        ids = [(str(row["id"]),) for row in rows]
        if not ids:
            break
        async with db.transaction(write=True) as conn:
            for (batch_id,) in ids:
                items += await conn.fetchval(
                    "SELECT count(*) FROM batch_items WHERE batch_id = $1", batch_id
                )
            await conn.executemany("DELETE FROM batch_items WHERE batch_id = $1", ids)
            await conn.executemany("DELETE FROM batch_waits WHERE batch_id = $1", ids)
            await conn.executemany("DELETE FROM batches WHERE id = $1", ids)
        # Finished batches never change again: another pruner may have deleted some of these
        # meanwhile (then fewer rows went), never a batch that should stay.
        batches += len(ids)
        await asyncio.sleep(0)  # let requests waiting for the connection go first
    return Pruned(before=before, batches=batches, items=items)
