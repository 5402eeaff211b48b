"""One storage interface, two engines.

Every query is written once with PostgreSQL-style ``$1`` placeholders; the SQLite engine
rewrites them to its numbered ``?1`` form. Where the dialects really differ, the caller picks
SQL by :attr:`Database.dialect`. Rows support access by column name on both engines.

The transaction belongs to the request: routes open one with :meth:`Database.transaction`
and hand the connection to domain code, which never commits by itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol


class Row(Protocol):
    def __getitem__(self, key: str | int, /) -> Any: ...


class Connection(Protocol):
    """The subset of asyncpg's connection API that storage code uses."""

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]: ...

    async def fetchrow(self, query: str, *args: Any) -> Row | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> Any: ...

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> Any: ...


class Database(Protocol):
    dialect: str

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Connection]:
        """A connection inside one transaction; committed on success, rolled back on error.

        ``write=True`` takes the write lock up front on SQLite (``BEGIN IMMEDIATE``) so a
        read-merge-write can never lose an update to another process.
        """
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


class DuplicateKey(Exception):
    """A write met a unique index; the domain decides what that means (usually a 409)."""


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is either engine's unique-index violation (SQLSTATE 23505)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return str(exc).startswith("UNIQUE constraint failed")
    return getattr(exc, "sqlstate", None) == "23505"


async def open_database(url: str, *, pool_size: int = 10) -> Database:
    if url.startswith(("postgresql:", "postgres:")):
        from reach.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(url, pool_size=pool_size)
    if url.startswith("sqlite:"):
        from reach.storage.sqlite import SqliteDatabase

        return SqliteDatabase.open(url)
    from reach.errors import ConfigError

    raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
