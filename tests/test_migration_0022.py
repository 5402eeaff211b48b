"""Migration 0022: idempotency keys lose their foreign key to ``tenants``, both ways, on a
database with keys.

The keys come through unchanged (on SQLite, whose table is rebuilt, with their rowids: pruning
walks them oldest first); afterwards a key no longer needs its tenant's row, and going back
drops the keys whose tenant's row is gone before the foreign key returns.
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from reach.storage import migrate
from tests.migration_helpers import on_postgres, run_postgres, run_sql

PREVIOUS = str(
    ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    .get_revision("0022")
    .down_revision
)

AT = "'2026-01-01T00:00:00.000Z'"
LATER = "'2026-01-02T00:00:00.000Z'"
PARTNER = "'00000000-0000-4000-8000-000000000001'"
TENANT = "'00000000-0000-4000-8000-000000000002'"
GONE = "'00000000-0000-4000-8000-000000000009'"  # a tenant whose row is not there

Run = Callable[[str], list[tuple[object, ...]]]
Keys = Callable[[], list[str]]  # the tables the keys' foreign keys refer to


def _key(tenant: str, key: str) -> str:
    return (
        "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, status, headers, "
        f"body, created_at, expires_at) VALUES ({tenant}, '{key}', 'h-{key}', 200, '[]', "
        f'\'{{"key":"{key}"}}\', {AT}, {LATER})'
    )


ROWS = "SELECT idem_key, request_hash, status, body FROM idempotency_keys ORDER BY idem_key"
BEFORE = [(k, f"h-{k}", 200, f'{{"key":"{k}"}}') for k in ("a", "b", "c")]


def _referred(conn: sa.Connection) -> list[str]:
    return [
        str(fk["referred_table"]) for fk in sa.inspect(conn).get_foreign_keys("idempotency_keys")
    ]


def _round_trip(run: Run, foreign_keys: Keys, url: str) -> None:
    run(
        "INSERT INTO partners (id, name, created_at, updated_at) "
        f"VALUES ({PARTNER}, 'p', {AT}, {AT})"
    )
    run(
        "INSERT INTO tenants (id, partner_id, external_id, name, attributes, created_at, "
        f"updated_at) VALUES ({TENANT}, {PARTNER}, 't', 't', '{{}}', {AT}, {AT})"
    )
    for key in ("c", "a", "b"):  # stored in this order: the rowids are not the keys' order
        run(_key(TENANT, key))
    assert foreign_keys() == ["tenants"]
    with pytest.raises(sa.exc.IntegrityError):
        run(_key(GONE, "x"))

    migrate.upgrade(url, "0022")
    assert run(ROWS) == BEFORE
    assert foreign_keys() == []
    run(_key(GONE, "x"))  # a key no longer needs its tenant's row

    migrate.downgrade(url, PREVIOUS)
    assert run(ROWS) == BEFORE  # the orphan went; the others stayed
    assert foreign_keys() == ["tenants"]
    migrate.upgrade(url, "0022")
    assert run(ROWS) == BEFORE


def test_sqlite_keys_keep_rows_and_rowids_both_ways(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    migrate.upgrade(url, PREVIOUS)
    engine = sa.create_engine(migrate.sqlalchemy_url(url))

    def run(statement: str) -> list[tuple[object, ...]]:
        return run_sql(engine, statement, foreign_keys=True)

    def foreign_keys() -> list[str]:
        with engine.connect() as conn:
            return _referred(conn)

    try:
        order = "SELECT idem_key FROM idempotency_keys ORDER BY rowid"
        _round_trip(run, foreign_keys, url)
        assert run(order) == [("c",), ("a",), ("b",)]  # pruning's order (0021) is kept
        assert run("PRAGMA foreign_key_check") == []
        assert {row[1] for row in run("PRAGMA index_list(idempotency_keys)")} == {
            "sqlite_autoindex_idempotency_keys_1"
        }
    finally:
        engine.dispose()


def test_postgresql_keys_keep_rows_both_ways(scratch_postgres: str) -> None:
    migrate.upgrade(scratch_postgres, PREVIOUS)
    _round_trip(
        lambda statement: run_postgres(scratch_postgres, statement),
        lambda: on_postgres(scratch_postgres, _referred),
        scratch_postgres,
    )
