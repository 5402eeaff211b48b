"""The embedded engine: stdlib ``sqlite3`` in WAL mode.

One connection per process, used from the event loop thread. SQLite statements on a warm
cache take tens of microseconds, less than a hop to a thread pool would cost, so they run
inline; an ``asyncio.Lock`` keeps one transaction at a time on the connection. Between
processes, ``BEGIN IMMEDIATE`` plus ``busy_timeout`` serialise writers.

WAL checkpoints are taken off the request path: automatic checkpoints are disabled on the
request connection and a background thread checkpoints once a second.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from reach.errors import ServiceUnavailable

_PLACEHOLDER = re.compile(r"\$(\d+)")
_BUSY_TIMEOUT_MS = 10_000
_WAL_RESTART_BYTES = 16 * 1024 * 1024


def sqlite_path(url: str) -> str:
    """``sqlite:///./reach.db`` → ``./reach.db``; ``sqlite:////abs.db`` → ``/abs.db``."""
    path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/")
    return path or "reach.db"


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


class SqliteConnection:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._sql: dict[str, str] = {}

    def _q(self, query: str) -> str:
        sql = self._sql.get(query)
        if sql is None:
            sql = self._sql[query] = _PLACEHOLDER.sub(r"?\1", query)
        return sql

    async def fetch(self, query: str, *args: Any) -> Sequence[sqlite3.Row]:
        return self._conn.execute(self._q(query), args).fetchall()

    async def fetchrow(self, query: str, *args: Any) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(self._q(query), args).fetchone()
        return row

    async def fetchval(self, query: str, *args: Any) -> Any:
        row = self._conn.execute(self._q(query), args).fetchone()
        return None if row is None else row[0]

    async def execute(self, query: str, *args: Any) -> int:
        return self._conn.execute(self._q(query), args).rowcount

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> int:
        return self._conn.executemany(self._q(query), args).rowcount


class _Transaction:
    """``async with db.transaction():`` — a plain class, because on this hot path the
    generator machinery of ``asynccontextmanager`` costs more than the SQL it wraps."""

    __slots__ = ("_begin", "_db")

    def __init__(self, db: SqliteDatabase, begin: str) -> None:
        self._db = db
        self._begin = begin

    async def __aenter__(self) -> SqliteConnection:
        db = self._db
        await db._lock.acquire()
        try:
            await db._begin(self._begin)
        except BaseException:
            db._lock.release()
            raise
        return db._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        db = self._db
        try:
            db._raw.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            db._lock.release()


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        configure(conn)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        # SQLite's own busy handler sleeps 1, 2, 5, 10… ms inside the call, stalling the event
        # loop; this connection fails fast instead and _begin retries without blocking.
        conn.execute("PRAGMA busy_timeout = 0")
        conn.row_factory = sqlite3.Row
        self._raw = conn
        self._conn = SqliteConnection(conn)
        self._lock = asyncio.Lock()
        self._stop = threading.Event()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="reach-sqlite-checkpoint", daemon=True
        )
        self._checkpointer.start()

    @classmethod
    def open(cls, url: str) -> SqliteDatabase:
        path = sqlite_path(url)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(path)

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

    async def _begin(self, statement: str) -> None:
        """Start a transaction; while another process holds the write lock, yield to the event
        loop and retry (from 100 µs, doubling to 5 ms) for up to the busy timeout."""
        delay = 0.0001
        deadline = 0.0
        while True:
            try:
                self._raw.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                now = time.monotonic()
                deadline = deadline or now + _BUSY_TIMEOUT_MS / 1000
                if now >= deadline:
                    # Another process held the write lock all this time: the caller may retry
                    # (503), it did nothing wrong (not a 500).
                    raise ServiceUnavailable(
                        "The database is busy; retry shortly", headers={"Retry-After": "1"}
                    ) from exc
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.005)

    def transaction(self, *, write: bool = True) -> _Transaction:
        return _Transaction(self, "BEGIN IMMEDIATE" if write else "BEGIN")

    async def ping(self) -> None:
        async with self._lock:
            self._raw.execute("SELECT 1").fetchone()

    async def close(self) -> None:
        self._stop.set()
        self._checkpointer.join(timeout=5)
        async with self._lock:
            self._raw.close()
