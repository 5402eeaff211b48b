"""Migration 0017: SQLite's ``resources`` and ``batches`` take ``seq`` as the AUTOINCREMENT
rowid, on a database with data, both ways.

Rows come through unchanged, the batch tables' cascade still holds, and — the point of 0013
that this must keep — no ``seq`` ever given is given again: a row created after the upgrade
(or after going back down) numbers past the highest ever given, although the row that held it
was deleted. PostgreSQL is not touched by 0017 (its keys are judged by tests/test_shard_keys.py).
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from reach.storage import migrate
from tests.migration_helpers import run_sql, sqlite_at
from tests.test_migration_0012 import AT, BATCH, PARTNER, SCHEMA, TENANT
from tests.test_migration_0012 import SEED as SEED_0008

# 0012's seed, with the tenant that batch items and waits carry since then.
SEED = [
    statement.replace("(batch_id, position, external_id, status) VALUES (", "(tenant_id, "
                      "batch_id, position, external_id, status) VALUES (" + TENANT + ", ")
    for statement in SEED_0008
]  # fmt: skip


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[str, sa.Engine]]:
    with sqlite_at(tmp_path / "data.db", "0013") as made:
        yield made


def _run(engine: sa.Engine, statement: str) -> list[tuple[object, ...]]:
    return run_sql(engine, statement, foreign_keys=True)


def _new_resource(engine: sa.Engine, n: int) -> int:
    """Inserts as the server does after 0017 (no seq given) or before it (the next from
    ``sequences``, the statement of migration 0013), whichever shape the table has."""
    rowid = _run(engine, "SELECT name FROM pragma_table_info('resources') WHERE pk > 0")
    seq = ("", "") if rowid == [("seq",)] else (
        "seq, ", "(SELECT last + 1 FROM sequences WHERE name = 'resources'), "
    )  # fmt: skip
    rows = _run(
        engine,
        f"INSERT INTO resources ({seq[0]}id, tenant_id, schema_id, external_id, data, version, "
        f"created_at, updated_at) VALUES ({seq[1]}'00000000-0000-4000-8000-00000000020{n}', "
        f"{TENANT}, {SCHEMA}, 'new-{n}', '{{}}', 1, {AT}, {AT}) RETURNING seq",
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def _shape(engine: sa.Engine) -> list[tuple[object, ...]]:
    return [
        *_run(engine, "SELECT seq, external_id FROM resources ORDER BY seq"),
        *_run(engine, "SELECT seq, CAST(id AS TEXT) FROM batches"),
        *_run(engine, "SELECT position, status FROM batch_items ORDER BY position"),
    ]


def test_sqlite_seq_becomes_the_rowid_and_is_never_given_again(
    engine: tuple[str, sa.Engine],
) -> None:
    url, db = engine
    for statement in SEED:  # resources 3 and 7, batch 5 with two items, one wait
        _run(db, statement)
    assert _new_resource(db, 1) == 8
    _run(db, "DELETE FROM resources WHERE seq = 8")  # the newest is gone; 8 stays given
    before = _shape(db)

    migrate.upgrade(url, "0017")
    assert _run(db, "SELECT name FROM sequences") == [("events",)]
    assert _shape(db) == before
    pk = _run(db, "SELECT name, pk FROM pragma_table_info('resources') WHERE pk > 0")
    assert pk == [("seq", 1)]
    assert _new_resource(db, 2) == 9
    _run(db, "DELETE FROM resources WHERE seq = 9")

    migrate.downgrade(url, "0013")
    assert _shape(db) == before
    assert _new_resource(db, 3) == 10  # the trigger-kept mark was set from SQLite's own

    migrate.upgrade(url)
    assert _new_resource(db, 4) == 11
    _run(db, f"DELETE FROM batches WHERE id = {BATCH}")  # the cascade to the items still holds
    assert _run(db, "SELECT count(*) FROM batch_items") == [(0,)]
    assert _run(db, "SELECT count(*) FROM batch_waits") == [(0,)]
    assert _run(db, f"SELECT count(*) FROM partners WHERE id = {PARTNER}") == [(1,)]
    assert _run(db, "PRAGMA foreign_key_check") == []
