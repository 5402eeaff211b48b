"""The tenant feed's moving parts in a process: stamping, waking long polls, retention.

* :func:`stamp_pending` stamps committed events (:func:`reach.storage.events.stamp`) in a short
  transaction of its own, after a read that finds there is something to stamp (an idle check
  takes no write lock). It runs inline before a feed or history read, and in the
  :func:`keep` loop the batch worker starts, so events reach the webhook dispatcher's read
  whether or not anyone tails a feed.
* :class:`Signal` wakes this process's long polls: a write request of this process nudges it
  after its commit, a stamp nudges it, and on PostgreSQL a stamp announces itself
  (``reach.storage.notify``) so the long polls of other processes wake too.
* A long poll (:func:`read_feed`) holds no database connection while it waits: every look
  is its own short transaction, and between looks it waits on the signal (or one second,
  whichever is first, so a lost wake-up costs a second, never the whole wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from reach import clock
from reach.domain import events
from reach.domain.events import EventPage
from reach.storage import events as store
from reach.storage import faults, notify
from reach.storage.database import Database

log = logging.getLogger("reach.events")

EVENTS_TOPIC = "events"
_LOOK_AGAIN_SECONDS = 1.0
PRUNE_CHUNK = 1000
_PRUNE_EVERY_SECONDS = 3600.0


class Signal:
    """Wakes waiters when events may have become readable. A waiter takes :meth:`token`
    *before* it reads, then waits on it: a nudge between its read and its wait is not lost."""

    __slots__ = ("_event", "_waiting")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._waiting = 0  # long polls between token() and the end of their wait

    def token(self) -> asyncio.Event:
        """What to wait on; give it back with :meth:`release` when done (waited or not)."""
        self._waiting += 1
        return self._event

    def release(self) -> None:
        self._waiting -= 1

    def nudge(self) -> None:
        if self._waiting:  # on the write path: with nobody waiting it costs one comparison
            event = self._event
            self._event = asyncio.Event()
            event.set()


async def stamp_pending(db: Database, signal: Signal | None = None) -> int:
    """Stamp what is committed and unstamped; how many were stamped."""
    async with db.transaction(write=False) as conn:
        if not await store.unstamped(conn):
            return 0
    total = 0
    async with db.transaction(write=True) as conn:
        total = await store.stamp(conn)
        if total:
            await notify.announce(conn, EVENTS_TOPIC, "")
    if total and signal is not None:
        signal.nudge()
    return total


async def read_feed(
    db: Database,
    signal: Signal,
    tenant_id: str,
    *,
    cursor: str | None,
    limit: int,
    types: list[str],
    schema_id: str | None,
    wait: float,
) -> EventPage:
    """A page of the tenant's feed; with ``wait``, when nothing is new, looks again as events
    become readable until one is or ``wait`` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        token = signal.token()
        try:
            await stamp_pending(db, signal)
            async with db.transaction(write=False) as conn:
                page = await events.feed(
                    conn,
                    tenant_id,
                    cursor=cursor,
                    limit=limit,
                    types=types,
                    schema_id=schema_id,
                )
            left = deadline - time.monotonic()
            if page.results or left <= 0:
                return page
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(token.wait(), min(left, _LOOK_AGAIN_SECONDS))
        finally:
            signal.release()


def retention_cutoff(days: int, now: datetime | None = None) -> str:
    return clock.format_timestamp((now or datetime.now(UTC)) - timedelta(days=days))


async def prune(db: Database, days: int, *, chunk: int = PRUNE_CHUNK) -> int:
    """Delete events older than ``days`` in chunks, each its own short transaction."""
    if days <= 0:
        return 0
    before = retention_cutoff(days)
    total = 0
    while True:
        async with db.transaction(write=True) as conn:
            pruned = await store.prune(conn, before, chunk)
        total += pruned
        if pruned < chunk:
            return total


async def keep(
    db: Database, signal: Signal, retention_days: int, stopping: asyncio.Event, poll: float
) -> None:
    """Stamp committed events as they appear and prune old ones, until ``stopping``."""
    prune_due = 0.0
    failing = False
    while not stopping.is_set():
        try:
            await stamp_pending(db, signal)
            if time.monotonic() >= prune_due:
                prune_due = time.monotonic() + _PRUNE_EVERY_SECONDS
                pruned = await prune(db, retention_days)
                if pruned:
                    log.info("pruned %d event(s) older than %d day(s)", pruned, retention_days)
            failing = False
        except Exception as exc:
            if not faults.is_transient(exc):
                log.exception("event stamping failed")
            elif not failing:
                log.warning("event stamping cannot reach the database: %s", faults.cause(exc))
            failing = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), poll)
