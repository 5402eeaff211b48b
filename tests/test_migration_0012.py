"""Migration 0012: the tenant joins every key of resources and the batch tables, on a database
with data, both ways.

On SQLite each table is rebuilt: rows must come through unchanged, batch items must learn
their tenant from their batch, and the cascade from a batch to its items must still hold. The
schema before 0012 must fail the shard-key rule (tests/test_shard_keys.py), and after it pass.
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from reach.storage import migrate
from tests.test_shard_keys import Shape, problems, shapes_of_database

AT = "'2026-01-01T00:00:00.000Z'"
PARTNER = "'00000000-0000-4000-8000-000000000001'"
TENANT = "'00000000-0000-4000-8000-000000000002'"
SCHEMA = "'00000000-0000-4000-8000-000000000003'"
BATCH = "'00000000-0000-4000-8000-000000000004'"

SEED = [
    f"INSERT INTO partners (id, name, created_at, updated_at) VALUES ({PARTNER}, 'p', {AT}, {AT})",
    "INSERT INTO tenants (id, partner_id, external_id, name, attributes, created_at, updated_at) "
    f"VALUES ({TENANT}, {PARTNER}, 't', 't', '{{}}', {AT}, {AT})",
    "INSERT INTO schema_definitions (id, partner_id, name, name_key, plural_name, plural_key, "
    "description, category, external_id_field, json_schema, options, version_number, "
    f"created_at, updated_at) VALUES ({SCHEMA}, {PARTNER}, 'Customer', 'customer', 'Customers', "
    f"'customers', NULL, 'contacts_schema', 'customerId', '{{}}', '{{}}', 1, {AT}, {AT})",
    *(
        "INSERT INTO resources (seq, id, tenant_id, schema_id, external_id, data, version, "
        f"created_at, updated_at) VALUES ({seq}, '00000000-0000-4000-8000-00000000010{seq}', "
        f"{TENANT}, {SCHEMA}, 'c-{seq}', '{{}}', 1, {AT}, {AT})"
        for seq in (3, 7)
    ),
    "INSERT INTO batches (seq, id, partner_id, tenant_id, schema_id, schema_name, batch_type, "
    "status, options, state, total_records, processed_records, successful_records, "
    "failed_records, pending_records, cascaded_records, created_at) VALUES "
    f"(5, {BATCH}, {PARTNER}, {TENANT}, {SCHEMA}, 'customer', 'ingest', 'pending', '{{}}', "
    f"'{{}}', 2, 0, 0, 0, 0, 0, {AT})",
    *(
        "INSERT INTO batch_items (batch_id, position, external_id, status) "
        f"VALUES ({BATCH}, {n}, 'c-{n}', 'queued')"
        for n in (0, 1)
    ),
    "INSERT INTO batch_waits (batch_id, position, schema_id, external_id, tenant_id) "
    f"VALUES ({BATCH}, 1, {SCHEMA}, 'c-9', {TENANT})",
]

Run = Callable[[str], list[tuple[object, ...]]]


def _rows(run: Run) -> list[list[tuple[object, ...]]]:
    return [
        run("SELECT seq, external_id FROM resources ORDER BY seq"),
        run("SELECT seq, CAST(tenant_id AS TEXT) FROM batches"),
        run("SELECT position, external_id, status FROM batch_items ORDER BY position"),
        run("SELECT position, external_id FROM batch_waits"),
    ]


BEFORE = [
    [(3, "c-3"), (7, "c-7")],
    [(5, TENANT.strip("'"))],
    [(0, "c-0", "queued"), (1, "c-1", "queued")],
    [(1, "c-9")],
]


def _round_trip(run: Run, shapes: Callable[[], list[Shape]], url: str) -> None:
    for statement in SEED:
        run(statement)
    assert any("resources: primary key ['seq']" in p for p in problems(shapes()))
    migrate.upgrade(url, "0012")  # 0017 gives SQLite's seq back to the rowid
    assert problems(shapes()) == []
    assert _rows(run) == BEFORE
    assert run("SELECT DISTINCT CAST(tenant_id AS TEXT) FROM batch_items") == [(TENANT.strip("'"),)]
    migrate.downgrade(url, "0008")
    assert _rows(run) == BEFORE
    assert problems(shapes()) != []
    migrate.upgrade(url)
    run(f"DELETE FROM batches WHERE id = {BATCH}")  # the wider foreign keys still cascade
    assert run("SELECT count(*) FROM batch_items") == [(0,)]
    assert run("SELECT count(*) FROM batch_waits") == [(0,)]


def test_sqlite_upgrade_and_downgrade_keep_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    migrate.upgrade(url, "0008")
    engine = sa.create_engine(migrate.sqlalchemy_url(url))

    def run(statement: str) -> list[tuple[object, ...]]:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys = ON")
            result = conn.exec_driver_sql(statement)
            return [tuple(row) for row in result] if result.returns_rows else []

    def shapes() -> list[Shape]:
        with engine.connect() as conn:
            return shapes_of_database(conn)

    try:
        _round_trip(run, shapes, url)
        assert run("PRAGMA foreign_key_check") == []
    finally:
        engine.dispose()


def test_postgresql_upgrade_and_downgrade_keep_rows(scratch_postgres: str) -> None:
    migrate.upgrade(scratch_postgres, "0008")

    async def on_engine(use: Callable[[sa.Connection], object]) -> object:
        engine = create_async_engine(migrate.sqlalchemy_url(scratch_postgres))
        try:
            async with engine.begin() as conn:
                return await conn.run_sync(use)
        finally:
            await engine.dispose()

    def run(statement: str) -> list[tuple[object, ...]]:
        def go(conn: sa.Connection) -> list[tuple[object, ...]]:
            result = conn.exec_driver_sql(statement)
            return [tuple(row) for row in result] if result.returns_rows else []

        rows: list[tuple[object, ...]] = asyncio.run(on_engine(go))  # type: ignore[assignment]
        return rows

    def shapes() -> list[Shape]:
        found: list[Shape] = asyncio.run(on_engine(shapes_of_database))  # type: ignore[assignment]
        return found

    _round_trip(run, shapes, scratch_postgres)
    # PostgreSQL's seq still comes from its sequence once the key is (tenant_id, seq).
    run(
        "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, "
        f"created_at, updated_at) VALUES (gen_random_uuid(), {TENANT}, {SCHEMA}, 'c-new', "
        f"'{{}}', 1, {AT}, {AT})"
    )
    assert run("SELECT seq > 0 FROM resources WHERE external_id = 'c-new'") == [(True,)]
