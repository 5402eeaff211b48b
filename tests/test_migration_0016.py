"""Migration 0016 on a SQLite database with events, both ways.

The rowid becomes the events' ``seq`` and equals the position for every row (renumbered where
0015 had left them apart), the feed order and every position survive, the high-water mark
moves into ``event_stamp`` so that a new event numbers above every position ever given (even
one whose event was pruned), and an older release's insert still gets a position. Going down
brings back the composite key, the stamp index and the ``sequences`` mark. PostgreSQL is not
touched by 0016 (tests/test_migrations.py checks its head for drift).
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

TENANT = "'00000000-0000-4000-8000-000000000002'"
PARTNER = "'00000000-0000-4000-8000-000000000001'"
AT = "'2026-01-01T00:00:00.000Z'"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    with sqlite_at(tmp_path / "events.db", "0015") as made:
        yield made


def _run(engine: sa.Engine, statement: str) -> list[tuple[object, ...]]:
    return run_sql(engine, statement)


def _old_insert(engine: sa.Engine, n: int, position: str = "NULL") -> None:
    """An event as the release of 0015 inserted it: its seq the next from ``sequences``."""
    _run(
        engine,
        "INSERT INTO events (seq, position, id, tenant_id, partner_id, type, external_id, "
        "version, occurred_at, body) VALUES ((SELECT last + 1 FROM sequences WHERE name = "
        f"'events'), {position}, '00000000-0000-4000-8000-0000000001{n:02d}', {TENANT}, "
        f"{PARTNER}, 'resource.updated', 'c-{n}', 1, {AT}, '{{\"n\": {n}}}')",
    )


def _append(url: str, n: int) -> None:
    async def work() -> None:
        db = SqliteDatabase.open(url)
        try:
            async with db.transaction() as conn:
                row = (
                    f"00000000-0000-4000-8000-0000000001{n:02d}",
                    TENANT.strip("'"),
                    PARTNER.strip("'"),
                    "resource.updated",
                    None,
                    f"c-{n}",
                    1,
                    AT.strip("'"),
                    f'{{"n":{n}}}',
                )
                await store.append(conn, [row])
        finally:
            await db.close()

    asyncio.run(work())


def _feed(engine: sa.Engine) -> list[tuple[object, ...]]:
    return _run(engine, "SELECT substr(id, 34), position FROM events ORDER BY position")


def test_seq_becomes_the_rowid_and_the_position_and_no_number_comes_again(
    engine: tuple[str, sa.Engine],
) -> None:
    url, db = engine
    # 0015 left seq and position apart by a constant for the events it stamped as it ran.
    _run(db, "UPDATE sequences SET last = 20 WHERE name = 'events'")
    _old_insert(db, 1, "24")
    _old_insert(db, 2, "25")
    _old_insert(db, 3)  # given its seq as position by 0015's trigger: 23
    _run(db, "UPDATE events SET position = 26 WHERE seq = 23")
    _run(db, "UPDATE event_stamp SET last_position = 30 WHERE id = 1")  # 27..30: pruned
    before = _feed(db)
    assert before == [("101", 24), ("102", 25), ("103", 26)]

    migrate.upgrade(url, "0016")
    assert _feed(db) == before
    assert _run(db, "SELECT count(*) FROM events WHERE seq != position") == [(0,)]
    pk = _run(db, "SELECT name, pk FROM pragma_table_info('events') WHERE pk > 0")
    assert pk == [("seq", 1)]
    indexes = {r[0] for r in _run(db, "SELECT name FROM pragma_index_list('events')")}
    assert indexes == {"ix_events_feed", "ix_events_history"}
    assert _run(db, "SELECT name FROM sequences") == []
    assert _run(db, "SELECT last_position FROM event_stamp") == [(30,)]

    _append(url, 4)  # above the pruned 30, not just above the highest row
    _old_insert(db, 5)  # an older process: no sequences row, so the rowid and the trigger
    assert _feed(db)[3:] == [("104", 31), ("105", 32)]

    migrate.downgrade(url, "0015")
    assert _feed(db) == [("101", 24), ("102", 25), ("103", 26), ("104", 31), ("105", 32)]
    indexes = {r[0] for r in _run(db, "SELECT name FROM pragma_index_list('events')")}
    assert "ix_events_stamp" in indexes
    _old_insert(db, 6)
    assert _feed(db)[-1] == ("106", 33)

    migrate.upgrade(url)
    _append(url, 7)
    assert _feed(db)[-1] == ("107", 34)
