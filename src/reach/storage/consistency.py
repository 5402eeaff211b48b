"""The ``Reach-Consistency`` token and the clock that gives write answers their position.

A write answers with the primary's WAL position after its commit, as an opaque token; a read
that sends it back is served by a replica that has replayed that far (:mod:`.replicas`).
"""

from __future__ import annotations

import asyncio
import logging

from reach.storage import faults
from reach.storage.postgres import PostgresDatabase

log = logging.getLogger("reach.replicas")

_TOKEN_PREFIX = "1-"  # noqa: S105 - a format version, not a secret
_TOKEN_LENGTH = len(_TOKEN_PREFIX) + 16

_PAGE = 8192  # XLOG_BLCKSZ
_SHORT_PAGE_HEADER = 24  # SizeOfXLogShortPHD

PRIMARY_POSITION = "SELECT pg_current_wal_insert_lsn()"


def as_replayed(position: int) -> int:
    """pg_current_wal_insert_lsn() at a page boundary points past the page header, where the
    replay position of the same byte is the boundary: without this a replica that holds
    everything would look one header short until more WAL arrives. (A segment's first page
    has a longer header; that rarer case only costs a wait.)"""
    if position % _PAGE == _SHORT_PAGE_HEADER:
        return position - _SHORT_PAGE_HEADER
    return position


def token(position: int) -> str:
    """The ``Reach-Consistency`` value for a WAL position: fixed width, so the later of two
    tokens is the greater string (the client keeps the greatest it saw)."""
    return f"{_TOKEN_PREFIX}{as_replayed(position):016x}"


def parse_token(value: str | None) -> int | None:
    """The position a token names; None for none, or one this server does not understand
    (then the primary serves the read: the strongest answer is always a correct one)."""
    if value is None or len(value) != _TOKEN_LENGTH or not value.startswith(_TOKEN_PREFIX):
        return None
    try:
        return int(value[len(_TOKEN_PREFIX) :], 16)
    except ValueError:
        return None


class PositionClock:
    """The primary's WAL position for write answers, one query for many writes.

    A write's token must be a position read after its commit. Reading it on the write's own
    connection is one more round trip *and* one more statement for every write; here every
    write that committed while a read of the position was in flight waits for the next one,
    which all of them share (the way group commit shares a flush). A lone write still waits
    one round trip; under load the primary answers one query per round trip, not per write,
    and the request's connection goes back to the pool before it.

    The insert position, not the write position (pg_current_wal_lsn): with synchronous_commit
    off a commit record may not be written out when COMMIT returns, but it is inserted.
    """

    def __init__(self, primary: PostgresDatabase) -> None:
        self._primary = primary
        self._next: asyncio.Future[int | None] | None = None  # for writes committed by now
        self._reading: asyncio.Task[None] | None = None
        self.reads = 0  # queries sent (for tests and benchmarks: reads per write)

    async def after_now(self) -> int | None:
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
        if self._reading is None:
            self._reading = asyncio.get_running_loop().create_task(self._read())
        # Shielded: a request cancelled while waiting must not cancel the others' answer.
        return await asyncio.shield(waiting)

    async def _read(self) -> None:
        try:
            while self._next is not None:
                # Every waiter of this future called after_now() before the query goes out.
                waiting, self._next = self._next, None
                self.reads += 1
                try:
                    conn = await self._primary.acquire()
                    try:
                        found: int | None = await conn.fetchval(PRIMARY_POSITION)
                    finally:
                        await self._primary.release(conn)
                except Exception as exc:
                    log.debug("reading the primary's WAL position failed: %s", faults.cause(exc))
                    found = None
                waiting.set_result(found)
        finally:
            self._reading = None
