"""The scale-out engine: PostgreSQL through an asyncpg pool with prepared statements.

Ids travel as text and timestamps as RFC 3339 text, so rows look the same as SQLite's and the
domain code never branches on the engine for values.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from reach.errors import DatabaseUnavailable
from reach.storage import faults, guard
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

log = logging.getLogger("reach.storage")


class _OneLine(logging.Filter):
    """asyncpg logs each failed attempt to refill its pool with a full traceback — during an
    outage, one a second for a fault the requests already name. Keep the line, name the
    error, drop the trace."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            record.msg = f"{record.getMessage()}: {faults.cause(record.exc_info[1])}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_OneLine())

_BEGIN_WRITE = "BEGIN"
BEGIN_READ = "BEGIN READ ONLY"


def pg_timestamp_to_rfc3339(text: str) -> str:
    """``2026-01-02 03:04:05.6+00`` (session time zone UTC) → ``2026-01-02T03:04:05.600Z``."""
    stamp = text.removesuffix("+00")
    date, _, time = stamp.partition(" ")
    whole, _, frac = time.partition(".")
    return f"{date}T{whole}.{(frac + '000')[:3]}Z"


async def _init_connection(conn: asyncpg.Connection[Any]) -> None:
    await conn.set_type_codec("uuid", encoder=str, decoder=str, schema="pg_catalog", format="text")
    await conn.set_type_codec(
        "timestamptz",
        encoder=str,
        decoder=pg_timestamp_to_rfc3339,
        schema="pg_catalog",
        format="text",
    )


async def _keep_session(conn: asyncpg.Connection[Any]) -> None:
    """Nothing to undo when a connection goes back to the pool: the Connection protocol is the
    only way to a pooled connection, and no code sets session state through it (no ``SET``
    outside ``SET LOCAL``, session advisory locks, ``LISTEN`` or ``WITH HOLD`` cursors). asyncpg
    still rolls back a transaction left open; skipping its reset query (``RESET ALL``,
    ``UNLISTEN *``, …) saves a round trip per request."""


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _changed(status: str) -> int:
    """Rows a command changed, from its tag: ``UPDATE 3``, ``DELETE 0``, ``INSERT 0 1``."""
    return int(status.rpartition(" ")[2] or 0)


class PgConnection(CommitHooks):
    """One transaction on a pooled connection: begins it at the first ordinary statement
    (see :class:`reach.storage.database.Connection`). asyncpg still prepares and caches
    each query text per connection, so a statement is one round trip."""

    __slots__ = ("_begin", "_conn", "state")

    dialect = "postgresql"
    on_replica = False  # a hot standby's connection (reach.storage.replicas) says True

    def __init__(self, conn: PoolConnectionProxy[Any], begin: str) -> None:
        self._conn = conn
        self._begin = begin
        self.state = IDLE
        super().__init__()

    async def _start(self) -> None:
        if self.state != IDLE:
            raise misuse(self.state)
        await self._conn.execute(self._begin)
        self.state = BEGUN

    async def begin(self) -> None:
        if self.state != BEGUN:
            await self._start()

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        if self.state != BEGUN:
            await self._start()
        return await self._conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        if self.state != BEGUN:
            await self._start()
        return await self._conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        if self.state != BEGUN:
            await self._start()
        return await self._conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        if self.state != BEGUN:
            await self._start()
        return await self._conn.execute(query, *args)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        if self.state != BEGUN:
            await self._start()
        await self._conn.executemany(query, args)

    async def fetchrow_standalone(self, query: str, *args: Any) -> asyncpg.Record | None:
        if self.state & ~BEGUN:
            raise misuse(self.state)
        return await self._conn.fetchrow(query, *args)

    async def execute_final(self, query: str, *args: Any) -> int:
        if self.state & ~BEGUN:
            raise misuse(self.state)
        if self._begin != _BEGIN_WRITE:
            raise RuntimeError("execute_final() in a read transaction (write=False)")
        # Unbegun, this is an implicit transaction of one statement, committed (and flushed,
        # with synchronous_commit on) before the reply arrives.
        changed = _changed(await self._conn.execute(query, *args))
        if changed:
            self.state |= SEALED
        return changed

    async def execute_after_final(self, query: str, *args: Any) -> int:
        if not self.state & BEGUN or self.state & CLOSED:
            raise RuntimeError("execute_after_final() outside a begun transaction")
        return _changed(await self._conn.execute(query, *args))

    scan_split = 1  # PostgreSQL parallelises a scan itself (parallel workers)

    async def fetch_apart(self, queries: Sequence[Query]) -> list[list[asyncpg.Record]]:
        LONG_READS.now += 1
        try:
            return [await self.fetch(sql, *args) for sql, args in queries]
        finally:
            LONG_READS.now -= 1


class _Transaction:
    """``async with db.transaction():`` — a plain class, as on SQLite: the generator machinery
    of ``asynccontextmanager`` costs more than the bookkeeping it wraps."""

    __slots__ = ("_begin", "_conn", "_db", "_raw", "_type")
    _conn: PgConnection  # set by __aenter__

    def __init__(
        self,
        db: PostgresDatabase,
        begin: str,
        raw: PoolConnectionProxy[Any] | None = None,
        kind: type[PgConnection] = PgConnection,
    ) -> None:
        self._db = db
        self._begin = begin
        self._raw = raw  # a connection already acquired from ``db``, released at exit
        self._type = kind

    async def __aenter__(self) -> PgConnection:
        raw = self._raw if self._raw is not None else await self._db.acquire()
        self._conn = self._type(raw, self._begin)
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn = self._conn
        try:
            if conn.state & BEGUN:
                if exc_type is None:
                    await conn._conn.execute("COMMIT")
                    run_committed(conn.committed)
                    if conn.changes is not None:
                        deliver_changes(self._db.on_change, conn.changes)
                        if guard.changes_scope(conn.changes):
                            await guard.outlive_older_transactions(conn._conn, self._db.scope_wait)
                else:
                    await _rollback(conn._conn)
            else:
                run_committed(conn.committed)  # only single-statement commits ran, if any
        finally:
            conn.state = CLOSED
            await self._db.release(conn._conn)


async def _rollback(conn: PoolConnectionProxy[Any]) -> None:
    """Roll back after an error without ever replacing it: on a connection that died (the
    usual reason a ROLLBACK fails) the server has already rolled back, and the error that
    ended the block is the one that says what happened."""
    try:
        await conn.execute("ROLLBACK")
    except Exception as exc:  # the pool discards a connection that broke
        log.debug("ROLLBACK failed after an error (%r); the original error stands", exc)


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(
        self, pool: asyncpg.Pool[Any], *, acquire_timeout: float = 5.0, scope_wait: float = 5.0
    ) -> None:
        self._pool = pool
        # How long a committed tenant or schema change waits for older transactions before it
        # is acknowledged (reach.storage.guard): as long as a statement waits for a lock.
        self.scope_wait = scope_wait
        self.on_change: Callable[[str], None] = ignore_changes
        self._size = pool.get_max_size()
        self._acquire_timeout = acquire_timeout
        self._busy = 0  # connections handed out
        self._waiting = 0  # callers queued for one

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        pool_size: int = 10,
        acquire_timeout: float = 5.0,
        lock_timeout: float = 5.0,
        min_size: int = 1,
        application_name: str = "reach-server",
    ) -> PostgresDatabase:
        """``min_size=0`` opens no connection until one is needed: a replica that is down
        when the server starts must not stop it."""
        settings = {
            "timezone": "UTC",
            "application_name": application_name,
            # One row lock held too long must not hold a request (and its connection) for its
            # whole request timeout: past this the statement fails, and the request 503s.
            "lock_timeout": f"{max(1, round(lock_timeout * 1000))}ms",
        }
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=min_size,
            max_size=pool_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings=settings,
            timeout=acquire_timeout,  # opening a connection, when the pool needs a new one
        )
        return cls(pool, acquire_timeout=acquire_timeout, scope_wait=lock_timeout)

    async def acquire(self, within: float | None = None) -> PoolConnectionProxy[Any]:
        """A pooled connection within ``within`` seconds (default: the acquire timeout), or
        :class:`DatabaseUnavailable`: a request never queues unbounded for a connection, and
        a database that refuses new ones is a fault of the moment, not the request's."""
        limit = self._acquire_timeout if within is None else within
        try:
            if self._busy < self._size and within is None:
                # One is free: no wait, so no timer (arming one costs ~10 µs on the hot path).
                # Opening it, if it must be, is bounded by the pool's connect timeout.
                conn = await self._pool.acquire()
            else:
                self._waiting += 1
                try:
                    # asyncio.timeout arms one timer; the pool's own timeout= wraps the wait in
                    # wait_for, a task of its own per acquire (~10 µs more under saturation).
                    async with asyncio.timeout(limit):
                        conn = await self._pool.acquire()
                finally:
                    self._waiting -= 1
        except TimeoutError:
            raise DatabaseUnavailable(
                f"No database connection came free within {limit:g} s; retry shortly"
            ) from None
        except Exception as exc:
            raise DatabaseUnavailable() from exc
        self._busy += 1
        return conn

    def has_free(self) -> bool:
        """Whether a connection can be had without waiting for another caller to release one."""
        return self._busy < self._size

    async def release(self, conn: PoolConnectionProxy[Any]) -> None:
        self._busy -= 1
        # Shielded by the pool, which also rolls back whatever a failed ROLLBACK left open and
        # closes a connection that broke.
        await self._pool.release(conn)

    def transaction(self, *, write: bool = True) -> _Transaction:
        return _Transaction(self, _BEGIN_WRITE if write else BEGIN_READ)

    def transaction_on(
        self, raw: PoolConnectionProxy[Any], kind: type[PgConnection] = PgConnection
    ) -> _Transaction:
        """A read transaction on ``raw``, a connection already acquired from this pool (and
        released at exit): for a caller that had to ask the server something first."""
        return _Transaction(self, BEGIN_READ, raw, kind)

    def usage(self) -> Usage:
        pool = self._pool
        idle = pool.get_idle_size()
        return Usage(
            in_use=pool.get_size() - idle,
            idle=idle,
            limit=pool.get_max_size(),
            waiting=self._waiting,
        )

    async def ping(self, within: float = 1.0) -> None:
        try:
            async with asyncio.timeout(within):
                conn = await self.acquire(within)
                try:
                    await conn.fetchval("SELECT 1")
                finally:
                    await self.release(conn)
        except TimeoutError:
            raise DatabaseUnavailable(f"The database did not answer within {within:g} s") from None

    async def close(self) -> None:
        await self._pool.close()
