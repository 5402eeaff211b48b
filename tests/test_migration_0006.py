"""Migration 0006: schema names unique among active definitions only, on a database with data.

On SQLite the table is rebuilt (a constraint cannot be dropped in place): the rows, and the
records that point at them, must come through unchanged.
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from reach.storage import migrate

AT = "'2026-01-01T00:00:00.000Z'"
PARTNER = "'00000000-0000-4000-8000-000000000001'"
TENANT = "'00000000-0000-4000-8000-000000000002'"
OLD = "'00000000-0000-4000-8000-000000000003'"
NEW = "'00000000-0000-4000-8000-000000000004'"
THIRD = "'00000000-0000-4000-8000-000000000005'"
RECORD = "'00000000-0000-4000-8000-000000000006'"


def _definition(schema_id: str, deactivated: str = "NULL") -> str:
    return (
        "INSERT INTO schema_definitions (id, partner_id, name, name_key, plural_name, plural_key, "
        "description, category, external_id_field, json_schema, options, version_number, "
        "created_at, updated_at, deactivated_at) VALUES "
        f"({schema_id}, {PARTNER}, 'Customer', 'customer', 'Customers', 'customers', NULL, "
        f"'contacts_schema', 'customerId', '{{}}', '{{}}', 1, {AT}, {AT}, {deactivated})"
    )


SEED = [
    f"INSERT INTO partners (id, name, created_at, updated_at) VALUES ({PARTNER}, 'p', {AT}, {AT})",
    "INSERT INTO tenants (id, partner_id, external_id, name, attributes, created_at, updated_at) "
    f"VALUES ({TENANT}, {PARTNER}, 't', 't', '{{}}', {AT}, {AT})",
    _definition(OLD),
    "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, created_at, "
    f"updated_at) VALUES ({RECORD}, {TENANT}, {OLD}, 'c-1', '{{\"customerId\": \"c-1\"}}', 1, "
    f"{AT}, {AT})",
]

Run = Callable[[str], list[tuple[object, ...]]]


def _check_after_upgrade(run: Run) -> None:
    records = run("SELECT external_id, CAST(schema_id AS TEXT) FROM resources")
    assert records == [("c-1", OLD.strip("'"))]
    assert run("SELECT name, deactivated_at FROM schema_definitions") == [("Customer", None)]
    with pytest.raises(sa.exc.IntegrityError):
        run(_definition(NEW))  # two active definitions may not share a name
    run(f"UPDATE schema_definitions SET deactivated_at = {AT} WHERE id = {OLD}")
    run(_definition(NEW))  # the deactivated one no longer holds it
    with pytest.raises(sa.exc.IntegrityError):
        run(_definition(THIRD))
    rows = run("SELECT count(*) FROM schema_definitions WHERE name_key = 'customer'")
    assert rows == [(2,)]


def test_sqlite_upgrade_keeps_rows_and_frees_deactivated_names(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    migrate.upgrade(url, "0004")
    engine = sa.create_engine(migrate.sqlalchemy_url(url))

    def run(statement: str) -> list[tuple[object, ...]]:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            result = conn.exec_driver_sql(statement)
            return [tuple(row) for row in result] if result.returns_rows else []

    try:
        for statement in SEED:
            run(statement)
        migrate.upgrade(url)
        assert run("PRAGMA foreign_key_check") == []
        _check_after_upgrade(run)
    finally:
        engine.dispose()


def test_postgresql_upgrade_keeps_rows_and_frees_deactivated_names(scratch_postgres: str) -> None:
    migrate.upgrade(scratch_postgres, "0004")

    def run(statement: str) -> list[tuple[object, ...]]:
        async def go() -> list[tuple[object, ...]]:
            engine = create_async_engine(migrate.sqlalchemy_url(scratch_postgres))
            try:
                async with engine.begin() as conn:
                    result = await conn.exec_driver_sql(statement)
                    if not result.returns_rows:
                        return []
                    return [tuple(row) for row in result]
            finally:
                await engine.dispose()

        return asyncio.run(go())

    for statement in SEED:
        run(statement)
    migrate.upgrade(scratch_postgres)
    _check_after_upgrade(run)
