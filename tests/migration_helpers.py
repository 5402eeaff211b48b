"""A SQLite file migrated to a given revision, and plain SQL on it, for the tests of one
SQLite-only migration (what the file holds before and after it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from reach.storage import migrate


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
