"""The scale-out engine: PostgreSQL through an asyncpg pool with prepared statements.

Ids travel as text and timestamps as RFC 3339 text, so rows look the same as SQLite's and the
domain code never branches on the engine for values.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg


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


def asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


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
            server_settings={"timezone": "UTC", "application_name": "reach-server"},
        )
        return cls(pool)

    @asynccontextmanager
    async def transaction(
        self, *, write: bool = True
    ) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[Any]]:
        async with self._pool.acquire() as conn, conn.transaction(readonly=not write):
            yield conn

    async def ping(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._pool.close()

    @property
    def pool(self) -> asyncpg.Pool[Any]:
        return self._pool
