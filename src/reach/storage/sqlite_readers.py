"""Long reads on SQLite, off the request's connection and off the event loop.

The process's one SQLite connection serves one transaction at a time from the event loop
thread, which suits statements of tens of microseconds. A segment's member scan reads every
contact (a second or two at a million): run there, it would hold the connection and the loop,
and every other request would wait behind it. So such reads run here instead: on read-only
connections of their own, one per worker thread. WAL lets them read beside the writer, and the
sqlite3 module releases the GIL while SQLite steps, so several run at once on several CPUs.

Each query is a statement of its own in autocommit: its own snapshot, taken when it starts.
A query that is cancelled (its request timed out) is interrupted, so it stops using a CPU.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from reach.storage.database import Query


class _Job:
    """One query: the connection running it, while it runs, so a cancel can interrupt it."""

    __slots__ = ("args", "cancelled", "conn", "lock", "sql")

    def __init__(self, sql: str, args: Sequence[Any]) -> None:
        self.sql = sql
        self.args = args
        self.lock = threading.Lock()
        self.conn: sqlite3.Connection | None = None
        self.cancelled = False

    def cancel(self) -> None:
        with self.lock:
            self.cancelled = True
            if self.conn is not None:
                self.conn.interrupt()


class Readers:
    """``threads`` read-only connections to ``path``, each owned by one worker thread, opened
    on first use. ``configure`` prepares each (pragmas, functions) as the main connection."""

    def __init__(
        self, path: str, threads: int, configure: Callable[[sqlite3.Connection], None]
    ) -> None:
        self.threads = threads
        self._path = path
        self._configure = configure
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            self._configure(conn)
            conn.execute("PRAGMA query_only = ON")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._opened_lock:
                self._opened.append(conn)
        return conn

    def _run(self, job: _Job) -> list[sqlite3.Row]:
        conn = self._connection()
        with job.lock:
            if job.cancelled:
                raise sqlite3.OperationalError("interrupted")
            job.conn = conn
        try:
            return conn.execute(job.sql, job.args).fetchall()
        finally:
            with job.lock:
                job.conn = None

    async def fetch(self, queries: Sequence[Query]) -> list[list[sqlite3.Row]]:
        """Each query's rows, in the order given; the queries run side by side, at most
        ``threads`` at a time."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="reach-sqlite-read")
        loop = asyncio.get_running_loop()
        jobs = [_Job(sql, args) for sql, args in queries]
        try:
            return list(
                await asyncio.gather(
                    *(loop.run_in_executor(self._pool, self._run, j) for j in jobs)
                )
            )
        except BaseException:
            # Cancelled (the request's deadline) or one query failed: the others stop too.
            for job in jobs:
                job.cancel()
            raise

    def close(self) -> None:
        with self._opened_lock:
            for conn in self._opened:
                conn.interrupt()  # a scan still running stops now, not at its end
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._opened_lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
