"""A SQLite file migrated to a given revision, and plain SQL on it or on a PostgreSQL
database, for the tests of one migration (what the database holds before and after it)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from reach.storage import migrate

T = TypeVar("T")


@contextmanager
def sqlite_at(path: Path, revision: str) -> Iterator[tuple[str, sa.Engine]]:
    """The database URL of ``path`` migrated to ``revision``, and an engine on it."""
    url = f"sqlite:///{path}"
    migrate.upgrade(url, revision)
    made = sa.create_engine(migrate.sqlalchemy_url(url))
    try:
        yield url, made
    finally:
        made.dispose()


def run_sql(
    engine: sa.Engine, statement: str, *, foreign_keys: bool = False
) -> list[tuple[object, ...]]:
    """One statement in its own transaction; its rows as tuples."""
    with engine.begin() as conn:
        if foreign_keys:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
        result = conn.exec_driver_sql(statement)
        return [tuple(row) for row in result] if result.returns_rows else []


def on_postgres(url: str, use: Callable[[sa.Connection], T]) -> T:
    """``use`` run on a connection to the PostgreSQL database at ``url``, in one transaction."""

    async def run() -> T:
        engine = create_async_engine(migrate.sqlalchemy_url(url))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(use)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def run_postgres(url: str, statement: str) -> list[tuple[object, ...]]:
    """One statement in its own transaction on PostgreSQL; its rows as tuples."""

    def go(conn: sa.Connection) -> list[tuple[object, ...]]:
        result = conn.exec_driver_sql(statement)
        return [tuple(row) for row in result] if result.returns_rows else []

    return on_postgres(url, go)
