"""Migration 0014: the partner joins every key of webhook_deliveries, on a database with data,
both ways.

On SQLite the table is rebuilt: rows must come through unchanged, its indexes must be back, the
cascade from an endpoint to its deliveries must still hold, and (endpoint, event) must still
be queued once. The outbox before 0014 fails the partner-key rule (tests/test_shard_keys.py),
and after it passes.
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
from tests.migration_helpers import on_postgres, run_postgres
from tests.test_shard_keys import Shape, problems, shapes_of_database

# The revision 0014 follows (its parent), wherever it sits in the chain.
PREVIOUS = (
    ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    .get_revision("0014")
    .down_revision
)

AT = "'2026-01-01T00:00:00.000Z'"
PARTNER = "'00000000-0000-4000-8000-000000000001'"
ENDPOINT = "'00000000-0000-4000-8000-000000000002'"
TENANT = "'00000000-0000-4000-8000-000000000003'"

SEED = [
    f"INSERT INTO partners (id, name, created_at, updated_at) VALUES ({PARTNER}, 'p', {AT}, {AT})",
    "INSERT INTO webhook_endpoints (id, partner_id, url, enabled, sealed_secret, created_at, "
    f"updated_at) VALUES ({ENDPOINT}, {PARTNER}, 'https://example.com/hook', true, 'x', {AT}, "
    f"{AT})",
    *(
        "INSERT INTO webhook_deliveries (id, endpoint_id, partner_id, tenant_id, event_id, "
        "event_type, event_position, payload, status, attempts, next_attempt_at, created_at) "
        f"VALUES ('00000000-0000-4000-8000-00000000010{n}', {ENDPOINT}, {PARTNER}, {tenant}, "
        f"'e-{n}', 'tenant.updated', {n}, '{{\"n\": {n}}}', '{status}', {n}, {AT}, {AT})"
        for n, tenant, status in ((1, TENANT, "pending"), (2, "NULL", "succeeded"))
    ),
]

Run = Callable[[str], list[tuple[object, ...]]]

ROWS = (
    "SELECT CAST(id AS TEXT), CAST(partner_id AS TEXT), CAST(tenant_id AS TEXT), event_id, "
    "event_position, payload, status, attempts FROM webhook_deliveries ORDER BY event_id"
)
BEFORE = [
    (
        "00000000-0000-4000-8000-000000000101",
        PARTNER.strip("'"),
        TENANT.strip("'"),
        "e-1",
        1,
        '{"n": 1}',
        "pending",
        1,
    ),
    (
        "00000000-0000-4000-8000-000000000102",
        PARTNER.strip("'"),
        None,
        "e-2",
        2,
        '{"n": 2}',
        "succeeded",
        2,
    ),
]


def _deliveries(shapes: list[Shape]) -> list[str]:
    return [p for p in problems(shapes) if p.startswith("webhook_deliveries:")]


def _round_trip(run: Run, shapes: Callable[[], list[Shape]], url: str) -> None:
    for statement in SEED:
        run(statement)
    assert _deliveries(shapes()) == [
        "webhook_deliveries: primary key ['id'] lacks partner_id",
        "webhook_deliveries: unique uq_webhook_deliveries_endpoint_event "
        "['endpoint_id', 'event_id'] lacks partner_id",
    ]
    migrate.upgrade(url, "0014")
    assert _deliveries(shapes()) == []
    assert run(ROWS) == BEFORE
    indexes = {s.name: s for s in shapes()}["webhook_deliveries"]
    assert indexes.primary_key == ["id", "partner_id"]
    with pytest.raises(sa.exc.IntegrityError):  # (endpoint, event) is still queued once
        run(SEED[2].replace("00000000010", "00000000020"))
    migrate.downgrade(url, PREVIOUS)
    assert run(ROWS) == BEFORE
    assert len(_deliveries(shapes())) == 2
    migrate.upgrade(url, "0014")
    run(f"DELETE FROM webhook_endpoints WHERE id = {ENDPOINT}")  # the cascade still holds
    assert run("SELECT count(*) FROM webhook_deliveries") == [(0,)]


def test_sqlite_upgrade_and_downgrade_keep_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data.db'}"
    migrate.upgrade(url, PREVIOUS)
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
        indexes = {row[1] for row in run("PRAGMA index_list(webhook_deliveries)")}
        assert {
            "ix_webhook_deliveries_due",
            "ix_webhook_deliveries_endpoint_id",
            "ix_webhook_deliveries_completed_at",
        } <= indexes
    finally:
        engine.dispose()


def test_postgresql_upgrade_and_downgrade_keep_rows(scratch_postgres: str) -> None:
    migrate.upgrade(scratch_postgres, PREVIOUS)
    _round_trip(
        lambda statement: run_postgres(scratch_postgres, statement),
        lambda: on_postgres(scratch_postgres, shapes_of_database),
        scratch_postgres,
    )
