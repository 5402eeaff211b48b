"""The embedded engine: stdlib ``sqlite3`` in WAL mode.

One connection per process, used from the event loop thread. SQLite statements on a warm
cache take tens of microseconds, less than a hop to a thread pool would cost, so they run
inline; an ``asyncio.Lock`` keeps one transaction at a time on the connection. Between
processes, ``BEGIN IMMEDIATE`` plus ``busy_timeout`` serialise writers. Long reads (segment
member scans) are the exception: ``fetch_apart`` runs them on reader connections in threads
(reach.storage.sqlite_readers) and lets other requests have the connection meanwhile.

WAL checkpoints are taken off the request path: automatic checkpoints are disabled on the
request connection and a background thread checkpoints once a second.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from reach.errors import DatabaseUnavailable
from reach.storage import faults
from reach.storage.database import (
    BEGUN,
    CLOSED,
    IDLE,
    LONG_READS,
    SEALED,
    CommitHooks,
    Query,
    Usage,
    deliver_changes,
    ignore_changes,
    misuse,
    run_committed,
)
from reach.storage.sqlite_files import prepare_file, sqlite_path
from reach.storage.sqlite_memstatus import memstatus_off
from reach.storage.sqlite_readers import Readers
from reach.storage.utc import utc_text

log = logging.getLogger("reach.storage")

_PLACEHOLDER = re.compile(r"\$(\d+)")
_BUSY_TIMEOUT_MS = 10_000
_WAL_RESTART_BYTES = 16 * 1024 * 1024
_BEGIN_WRITE = "BEGIN IMMEDIATE"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def configure(conn: sqlite3.Connection) -> None:
    conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    # Once a checkpoint has copied the WAL back, a busy server would otherwise keep a WAL as
    # large as its biggest burst forever.
    conn.execute("PRAGMA journal_size_limit = 67108864")
    # Segment conditions compare date-times in SQL; PostgreSQL has the same function (0007).
    conn.create_function("reach_utc", 1, utc_text, deterministic=True)


class SqliteConnection(CommitHooks):
    """One transaction's view of the process's connection: begins it at the first ordinary
    statement (see :class:`reach.storage.database.Connection`)."""

    __slots__ = ("_begin", "_db", "_held", "_raw", "_sql", "state")

    dialect = "sqlite"

    def __init__(self, db: SqliteDatabase, begin: str) -> None:
        self._db = db
        self._raw = db._raw
        self._sql = db._sql
        self._begin = begin
        self._held = False  # whether this transaction holds the process's connection
        self.state = IDLE
        super().__init__()

    @property
    def scan_split(self) -> int:
        """Parts worth splitting a long scan into for ``fetch_apart``: its reader threads, or
        1 in a write transaction (whose reads must see its own writes: they run inline)."""
        readers = self._db._readers
        return 1 if readers is None or self._begin == _BEGIN_WRITE else readers.threads

    async def _hold(self) -> None:
        """Take the connection back after ``fetch_apart`` gave it away."""
        await self._db.acquire()
        self._held = True

    def _q(self, query: str) -> str:
        sql = self._sql.get(query)
        if sql is None:
            sql = self._sql[query] = _PLACEHOLDER.sub(r"?\1", query)
        return sql

    async def _start(self) -> None:
        if self.state != IDLE:
            raise misuse(self.state)
        if not self._held:
            await self._hold()
        await self._db._execute_waiting(self._begin)
        self.state = BEGUN

    async def begin(self) -> None:
        if self.state != BEGUN:
            await self._start()

    async def fetch(self, query: str, *args: Any) -> Sequence[sqlite3.Row]:
        if self.state != BEGUN:
            await self._start()
        return self._raw.execute(self._q(query), args).fetchall()

    async def fetchrow(self, query: str, *args: Any) -> sqlite3.Row | None:
        if self.state != BEGUN:
            await self._start()
        row: sqlite3.Row | None = self._raw.execute(self._q(query), args).fetchone()
        return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        if self.state != BEGUN:
            await self._start()
        row = self._raw.execute(self._q(query), args).fetchone()
        return None if row is None else row[0]

    async def execute(self, query: str, *args: Any) -> int:
        if self.state != BEGUN:
            await self._start()
        return self._raw.execute(self._q(query), args).rowcount

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> int:
        if self.state != BEGUN:
            await self._start()
        return self._raw.executemany(self._q(query), args).rowcount

    async def fetchrow_standalone(self, query: str, *args: Any) -> sqlite3.Row | None:
        if self.state & ~BEGUN:
            raise misuse(self.state)
        if not self._held:
            await self._hold()
        # Outside a transaction this is an autocommit read: a snapshot of its own and no lock
        # beyond it (WAL readers never wait for writers).
        row: sqlite3.Row | None = self._raw.execute(self._q(query), args).fetchone()
        return row

    async def fetch_apart(self, queries: Sequence[Query]) -> list[list[sqlite3.Row]]:
        if self.state & ~BEGUN:
            raise misuse(self.state)
        LONG_READS.now += 1
        try:
            readers = self._db._readers
            if readers is None or self._begin == _BEGIN_WRITE:
                return [list(await self.fetch(sql, *args)) for sql, args in queries]
            if self.state == BEGUN:
                # A read transaction: nothing to commit. Its snapshot ends here; a statement
                # after this begins a new one (PostgreSQL's READ COMMITTED: one per statement).
                self._raw.execute("COMMIT")
                self.state = IDLE
            if self._held:
                self._held = False
                self._db._lock.release()
            return await readers.fetch([(self._q(sql), args) for sql, args in queries])
        finally:
            LONG_READS.now -= 1

    async def execute_final(self, query: str, *args: Any) -> int:
        if self.state & ~BEGUN:
            raise misuse(self.state)
        if self._begin != _BEGIN_WRITE:
            raise RuntimeError("execute_final() in a read transaction (write=False)")
        if self.state == BEGUN:
            changed = self._raw.execute(self._q(query), args).rowcount
        else:
            # Autocommit: the statement takes the write lock itself, so another process
            # holding it is waited out the way BEGIN IMMEDIATE is.
            changed = (await self._db._execute_waiting(self._q(query), args)).rowcount
        if changed:
            self.state |= SEALED
        return changed

    async def execute_after_final(self, query: str, *args: Any) -> int:
        if not self.state & BEGUN or self.state & CLOSED:
            raise RuntimeError("execute_after_final() outside a begun transaction")
        return self._raw.execute(self._q(query), args).rowcount


class _Transaction:
    """``async with db.transaction():`` — a plain class, because on this hot path the
    generator machinery of ``asynccontextmanager`` costs more than the SQL it wraps."""

    __slots__ = ("_conn", "_db")

    def __init__(self, db: SqliteDatabase, begin: str) -> None:
        self._db = db
        self._conn = SqliteConnection(db, begin)

    async def __aenter__(self) -> SqliteConnection:
        # Held whether or not the transaction begins: the connection serves one at a time
        # (unless ``fetch_apart`` hands it to others while its reads run elsewhere).
        await self._db.acquire()
        self._conn._held = True
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn = self._conn
        raw = self._db._raw
        try:
            if conn.state & BEGUN:
                if exc_type is None:
                    raw.execute("COMMIT")
                    if conn.changes is not None:
                        # Still holding the connection: no transaction of this process can
                        # read and cache the old rows between the commit and the forgetting.
                        deliver_changes(self._db.on_change, conn.changes)
                    run_committed(conn.committed)
                elif raw.in_transaction:
                    # SQLite may have rolled back by itself (some I/O and full-disk errors do);
                    # a ROLLBACK then fails, and must not replace the error that ended the block.
                    try:
                        raw.execute("ROLLBACK")
                    except sqlite3.Error as exc:
                        log.debug("ROLLBACK failed after an error (%r); the original stands", exc)
            else:
                run_committed(conn.committed)  # only single-statement commits ran, if any
        finally:
            conn.state = CLOSED
            if conn._held:
                conn._held = False
                self._db._lock.release()


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        acquire_timeout: float = 5.0,
        lock_timeout: float = 5.0,
        scan_threads: int = 2,
    ) -> None:
        self.path = path
        self.on_change: Callable[[str], None] = ignore_changes
        self._acquire_timeout = acquire_timeout
        self._lock_timeout = lock_timeout
        memstatus_off()  # before the first connection: scans on several threads scale
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        configure(conn)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # SQLite's own busy handler sleeps 1, 2, 5, 10… ms inside the call, stalling the event
        # loop; this connection fails fast instead and _begin retries without blocking.
        conn.execute("PRAGMA busy_timeout = 0")
        conn.row_factory = sqlite3.Row
        self._raw = conn
        self._sql: dict[str, str] = {}
        self._readers = Readers(path, scan_threads, configure) if scan_threads > 0 else None
        self._lock = asyncio.Lock()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="reach-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    @classmethod
    def open(
        cls,
        url: str,
        *,
        acquire_timeout: float = 5.0,
        lock_timeout: float = 5.0,
        scan_threads: int = 2,
    ) -> SqliteDatabase:
        path = sqlite_path(url)
        prepare_file(path)
        return cls(
            path,
            acquire_timeout=acquire_timeout,
            lock_timeout=lock_timeout,
            scan_threads=scan_threads,
        )

    async def acquire(self, within: float | None = None) -> None:
        """Take the process's connection within ``within`` seconds (default: the acquire
        timeout), or raise :class:`DatabaseUnavailable`: a request queued behind one that waits
        out another process's write lock gives up in bounded time instead of waiting with it."""
        lock = self._lock
        if not lock.locked():
            await lock.acquire()  # free: no wait, so no timer on the hot path
            return
        limit = self._acquire_timeout if within is None else within
        try:
            async with asyncio.timeout(limit):
                await lock.acquire()
        except TimeoutError:
            raise DatabaseUnavailable(
                f"The database connection did not come free within {limit:g} s; retry shortly"
            ) from None

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        wal = Path(f"{self.path}-wal")
        try:
            while not self._stop.wait(1.0):
                # PASSIVE never blocks writers; it copies what it can and returns. Under
                # steady writes it never catches up, though, and the WAL is only rewound by a
                # writer after a checkpoint that finished: so once the WAL passes the limit,
                # RESTART holds new writers off (they retry without blocking their event
                # loop) for the few milliseconds it takes to finish and rewind it.
                mode = "RESTART" if _size(wal) > _WAL_RESTART_BYTES else "PASSIVE"
                conn.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            conn.close()

    async def _execute_waiting(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run a statement that takes the write lock (``BEGIN IMMEDIATE``, an autocommit write);
        while another process holds it, yield to the event loop and retry (from 100 µs,
        doubling to 5 ms) for up to the lock timeout. A busy statement did nothing, so the
        retry is safe."""
        delay = 0.0001
        deadline = 0.0
        while True:
            try:
                return self._raw.execute(sql, args)
            except sqlite3.OperationalError as exc:
                if not faults.is_transient(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + self._lock_timeout
                if now >= deadline:
                    # Another process held the write lock all this time: the caller may retry
                    # (503), it did nothing wrong (not a 500).
                    raise DatabaseUnavailable("The database is busy; retry shortly") from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.005)

    def transaction(self, *, write: bool = True) -> _Transaction:
        return _Transaction(self, _BEGIN_WRITE if write else "BEGIN")

    def usage(self) -> Usage:
        """One connection, busy while a request's block holds it; the others queue."""
        lock = self._lock
        busy = int(lock.locked())
        # asyncio keeps a lock's queue private; read it defensively (a metric, never an error).
        waiting = len(getattr(lock, "_waiters", None) or ())
        return Usage(in_use=busy, idle=1 - busy, limit=1, waiting=waiting)

    async def ping(self, within: float = 1.0) -> None:
        await self.acquire(within)
        try:
            self._raw.execute("SELECT 1").fetchone()
        finally:
            self._lock.release()

    async def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(timeout=5)
        if self._readers is not None:
            await asyncio.to_thread(self._readers.close)
        async with self._lock:
            self._raw.close()
