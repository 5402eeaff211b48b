"""Migration 0015 on a database with events, both ways: every position given after it (at
insert on SQLite, by the stamper on PostgreSQL) is above every position given before it, and
after a downgrade the older stamper's numbering still is."""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.script import ScriptDirectory

from reach.storage import events as store
from reach.storage import migrate
from reach.storage.database import Connection, Database
from reach.storage.postgres import PostgresDatabase
from reach.storage.sqlite import SqliteDatabase

TENANT = "00000000-0000-4000-8000-000000000002"
PARTNER = "00000000-0000-4000-8000-000000000001"
AT = "2026-01-01T00:00:00.000Z"
T = TypeVar("T")


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        yield request.getfixturevalue("scratch_postgres")
    else:
        yield f"sqlite:///{tmp_path / 'events.db'}"


def _before_0015(url: str) -> str:
    down = ScriptDirectory.from_config(migrate.alembic_config(url)).get_revision("0015")
    assert down is not None
    assert isinstance(down.down_revision, str)
    return down.down_revision


async def _open(url: str) -> Database:
    if url.startswith("sqlite"):
        return SqliteDatabase.open(url)
    return await PostgresDatabase.open(url)


async def _old_insert(conn: Connection, dialect: str, n: int, position: int | None) -> None:
    """An event as the release before 0015 inserted it (its own position, or none)."""
    seq = "(SELECT last + 1 FROM sequences WHERE name = 'events'), " if dialect == "sqlite" else ""
    cast = "::timestamptz" if dialect == "postgresql" else ""
    await conn.execute(
        f"INSERT INTO events ({'seq, ' if seq else ''}id, tenant_id, partner_id, position, "
        "type, schema_id, external_id, version, occurred_at, body) VALUES "
        f"({seq}$1, $2, $3, $4, 'resource.updated', NULL, $5, 1, $6{cast}, '{{\"n\": {n}}}')",
        f"00000000-0000-4000-8000-0000000001{n:02d}",
        TENANT,
        PARTNER,
        position,
        f"c-{n}",
        AT,
    )


Work = Callable[[Connection, str], Awaitable[T]]


async def _in(url: str, work: Work[T]) -> T:
    db = await _open(url)
    try:
        async with db.transaction() as conn:
            return await work(conn, db.dialect)
    finally:
        await db.close()


def _run(url: str, work: Work[T]) -> T:
    return asyncio.run(_in(url, work))


async def _stamp(conn: Connection, _dialect: str) -> int:
    return await store.stamp(conn)


async def _positions(conn: Connection, _dialect: str) -> list[tuple[str, int]]:
    found = await store.read_all_after(conn, 0, 100)
    return [(e.id[-3:], e.position) for e in found]


def test_positions_after_0015_follow_every_earlier_position_both_ways(url: str) -> None:
    before = _before_0015(url)
    migrate.upgrade(url, before)

    async def seed(conn: Connection, dialect: str) -> None:
        # Stamped at positions 7 and 8 (older events pruned), then two not yet stamped.
        await _old_insert(conn, dialect, 1, 7)
        await _old_insert(conn, dialect, 2, 8)
        await conn.execute("UPDATE event_stamp SET last_position = 8 WHERE id = 1")
        await _old_insert(conn, dialect, 3, None)
        await _old_insert(conn, dialect, 4, None)

    _run(url, seed)
    migrate.upgrade(url)
    sqlite = url.startswith("sqlite")
    # SQLite stamps what was waiting as it migrates; PostgreSQL's stamper still does it.
    assert _run(url, _stamp) == (0 if sqlite else 2)
    assert _run(url, _positions) == [("101", 7), ("102", 8), ("103", 9), ("104", 10)]

    async def write(conn: Connection, dialect: str) -> None:
        row = (
            "00000000-0000-4000-8000-000000000105",
            TENANT,
            PARTNER,
            "resource.updated",
            None,
            "c-5",
            1,
            AT,
            '{"n":5}',
        )
        await store.append(conn, [row])
        # A process of the older release still running on the file: no position given.
        await _old_insert(conn, dialect, 6, None)

    _run(url, write)
    # SQLite gave both their seq as position in the inserting statement: nothing to stamp.
    assert _run(url, _stamp) == (0 if sqlite else 2)
    after = _run(url, _positions)
    assert [name for name, _ in after] == ["101", "102", "103", "104", "105", "106"]
    numbers = [position for _, position in after]
    assert numbers == sorted(set(numbers))
    assert numbers[4] > 10

    migrate.downgrade(url, before)

    async def older(conn: Connection, dialect: str) -> None:
        await _old_insert(conn, dialect, 7, None)

    _run(url, older)
    assert _run(url, _stamp) == 1
    last = _run(url, _positions)
    assert last[-1][0] == "107"
    assert last[-1][1] > numbers[-1]
