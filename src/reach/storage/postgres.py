"""The scale-out engine: PostgreSQL through an asyncpg pool with prepared statements.

Ids travel as text and timestamps as RFC 3339 text, so rows look the same as SQLite's and the
domain code never branches on the engine for values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from reach.storage.database import BEGUN, CLOSED, IDLE, SEALED, Usage, misuse

_BEGIN_WRITE = "BEGIN"


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


class PgConnection:
    """One transaction on a pooled connection: begins it at the first ordinary statement
    (see :class:`reach.storage.database.Connection`). asyncpg still prepares and caches
    each query text per connection, so a statement is one round trip."""

    __slots__ = ("_begin", "_conn", "state")

    def __init__(self, conn: PoolConnectionProxy[Any], begin: str) -> None:
        self._conn = conn
        self._begin = begin
        self.state = IDLE

    async def _start(self) -> None:
        if self.state != IDLE:
            raise misuse(self.state)
        await self._conn.execute(self._begin)
        self.state = BEGUN

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


class _Transaction:
    """``async with db.transaction():`` — a plain class, as on SQLite: the generator machinery
    of ``asynccontextmanager`` costs more than the bookkeeping it wraps."""

    __slots__ = ("_begin", "_conn", "_pool")
    _conn: PgConnection  # set by __aenter__

    def __init__(self, pool: asyncpg.Pool[Any], begin: str) -> None:
        self._pool = pool
        self._begin = begin

    async def __aenter__(self) -> PgConnection:
        self._conn = PgConnection(await self._pool.acquire(), self._begin)
        return self._conn

    async def __aexit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn = self._conn
        try:
            if conn.state & BEGUN:
                await conn._conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            conn.state = CLOSED
            # Shielded by the pool, and it rolls back whatever a failed ROLLBACK left open.
            await self._pool.release(conn._conn)


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, *, pool_size: int = 10) -> PostgresDatabase:
        pool = await asyncpg.create_pool(
            asyncpg_dsn(url),
            min_size=1,
            max_size=pool_size,
            init=_init_connection,
            reset=_keep_session,
            server_settings={"timezone": "UTC", "application_name": "reach-server"},
        )
        return cls(pool)

    def transaction(self, *, write: bool = True) -> _Transaction:
        return _Transaction(self._pool, _BEGIN_WRITE if write else "BEGIN READ ONLY")

    def usage(self) -> Usage:
        pool = self._pool
        idle = pool.get_idle_size()
        return Usage(in_use=pool.get_size() - idle, idle=idle, limit=pool.get_max_size(), waiting=0)

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()
