"""Migration 0020 on a SQLite database with events, both ways.

Each record's existing events are chained in ``seq`` order (``prev``), a live record's row
names its newest (``last_event``) and a deleted record's newest is in ``event_heads``; the
history index goes, and the trigger keeps a deleted row's head. The code then appends onto
the chains and reads history from them. Going down brings the index back and drops the rest.
PostgreSQL is not touched by 0020 (tests/test_migrations.py checks its head for drift).
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reach.storage import events as store
from reach.storage import migrate
from reach.storage.sqlite import SqliteDatabase
from tests.migration_helpers import run_sql, sqlite_at

TENANT = "00000000-0000-4000-8000-000000000002"
PARTNER = "00000000-0000-4000-8000-000000000001"
SCHEMA = "00000000-0000-4000-8000-000000000003"
AT = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    with sqlite_at(tmp_path / "events.db", "0021") as made:
        yield made


def _run(engine: sa.Engine, statement: str) -> list[tuple[object, ...]]:
    return run_sql(engine, statement)


def _record(engine: sa.Engine, seq: int, key: str) -> None:
    _run(
        engine,
        "INSERT INTO resources (seq, id, tenant_id, schema_id, external_id, data, version, "
        f"created_at, updated_at) VALUES ({seq}, '00000000-0000-4000-8000-00000000020{seq}', "
        f"'{TENANT}', '{SCHEMA}', '{key}', '{{}}', 1, '{AT}', '{AT}')",
    )


def _event(engine: sa.Engine, seq: int, key: str | None, kind: str = "resource.updated") -> None:
    schema, external = ("NULL", "NULL") if key is None else (f"'{SCHEMA}'", f"'{key}'")
    _run(
        engine,
        "INSERT INTO events (seq, position, id, tenant_id, partner_id, type, schema_id, "
        f"external_id, version, occurred_at, body) VALUES ({seq}, {seq}, "
        f"'00000000-0000-4000-8000-0000000001{seq:02d}', '{TENANT}', '{PARTNER}', '{kind}', "
        f"{schema}, {external}, 1, '{AT}', '{{\"n\":{seq}}}')",
    )


async def _append_and_read(url: str, key: str) -> list[int]:
    """Append one event to ``key`` with the code, then read its history (seqs, newest first)."""
    db = SqliteDatabase.open(url, scan_threads=0)
    try:
        async with db.transaction() as conn:
            row = (
                "00000000-0000-4000-8000-000000000199",
                TENANT,
                PARTNER,
                "resource.updated",
                SCHEMA,
                key,
                2,
                AT,
                '{"n":99}',
            )
            await store.append(conn, [row])
        async with db.transaction(write=False) as conn:
            page = await store.history_page(conn, TENANT, SCHEMA, key, before=None, limit=100)
            return [int(r["seq"]) for r in page]
    finally:
        await db.close()


async def _history(url: str, key: str, before: int | None = None) -> list[int]:
    db = SqliteDatabase.open(url, scan_threads=0)
    try:
        async with db.transaction(write=False) as conn:
            page = await store.history_page(conn, TENANT, SCHEMA, key, before=before, limit=100)
            return [int(r["seq"]) for r in page]
    finally:
        await db.close()


def test_existing_events_are_chained_and_the_history_index_goes(
    engine: tuple[str, sa.Engine],
) -> None:
    url, db = engine
    _record(db, 1, "a")  # live, two events
    _record(db, 2, "c")  # live again after a delete
    _event(db, 1, "a", "resource.created")
    _event(db, 2, "b", "resource.created")  # "b" was deleted: no row
    _event(db, 3, "a")
    _event(db, 4, "b", "resource.deleted")
    _event(db, 5, "c", "resource.created")
    _event(db, 6, "c", "resource.deleted")
    _event(db, 7, "c", "resource.created")
    _event(db, 8, None, "tenant.updated")

    migrate.upgrade(url, "0020")
    prev = _run(db, "SELECT seq, prev FROM events ORDER BY seq")
    # 0 for a record's first: none (no seq is 0); a tenant event is no record's.
    assert prev == [(1, 0), (2, 0), (3, 1), (4, 2), (5, 0), (6, 5), (7, 6), (8, None)]
    heads = _run(db, "SELECT external_id, last_event FROM resources ORDER BY external_id")
    assert heads == [("a", 3), ("c", 7)]
    assert _run(db, "SELECT external_id, seq FROM event_heads") == [("b", 4)]
    indexes = {r[0] for r in _run(db, "SELECT name FROM pragma_index_list('events')")}
    assert indexes == {"ix_events_feed"}

    # Read back and appended to by the code: both lives of "c", the deleted "b".
    assert asyncio.run(_history(url, "c")) == [7, 6, 5]
    assert asyncio.run(_history(url, "c", before=6)) == [5]
    assert asyncio.run(_history(url, "b")) == [4, 2]
    assert asyncio.run(_history(url, "a", before=7)) == []  # a cursor of another record
    assert asyncio.run(_append_and_read(url, "c")) == [9, 7, 6, 5]
    assert _run(db, "SELECT last_event FROM resources WHERE external_id = 'c'") == [(9,)]

    # A deleted row's head is kept by the trigger; its delete event then continues the chain.
    _run(db, "DELETE FROM resources WHERE external_id = 'a'")
    assert _run(db, "SELECT seq FROM event_heads WHERE external_id = 'a'") == [(3,)]
    assert asyncio.run(_append_and_read(url, "a")) == [10, 3, 1]
    assert _run(db, "SELECT seq FROM event_heads WHERE external_id = 'a'") == [(10,)]

    # A process of an older release inserts without ``prev``: the trigger chains its event.
    _event(db, 11, "c")
    _event(db, 12, "d", "resource.deleted")  # no row, no head yet
    assert _run(db, "SELECT seq, prev FROM events WHERE seq > 10") == [(11, 9), (12, 0)]
    assert _run(db, "SELECT last_event FROM resources WHERE external_id = 'c'") == [(11,)]
    assert _run(db, "SELECT seq FROM event_heads WHERE external_id = 'd'") == [(12,)]
    assert asyncio.run(_append_and_read(url, "c")) == [13, 11, 9, 7, 6, 5]

    migrate.downgrade(url, "0021")
    indexes = {r[0] for r in _run(db, "SELECT name FROM pragma_index_list('events')")}
    assert indexes == {"ix_events_feed", "ix_events_history"}
    columns = {r[0] for r in _run(db, "SELECT name FROM pragma_table_info('events')")}
    assert "prev" not in columns
    tables = {r[0] for r in _run(db, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "event_heads" not in tables
