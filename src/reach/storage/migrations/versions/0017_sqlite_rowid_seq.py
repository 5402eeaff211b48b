"""SQLite: ``resources`` and ``batches`` take their ``seq`` as the rowid again, with AUTOINCREMENT.

Migration 0012 put the tenant into every key so that PostgreSQL can be distributed by tenant;
on SQLite that made ``seq`` an ordinary column of a composite primary key, stored in an index
of its own next to the table, and migration 0013 then had each insert read the next ``seq``
from ``sequences`` and a trigger move it on. A batch of 1,000 new customers paid for both on
every row: inserting a row cost ~31 µs of CPU against ~22 µs before 0012 (measured on a
1,000-row-per-transaction loop; docs/benchmarks.md), and batch ingest fell by a third.

SQLite is never distributed, so it needs neither: ``seq INTEGER PRIMARY KEY AUTOINCREMENT``
is the rowid (no index of its own), assigned by SQLite in the inserting statement, and
AUTOINCREMENT never hands out a value again, even after the newest row is deleted — the
guarantee 0013 built by hand (a record hint names a record by (tenant, ``seq``, version)).
Queries keep naming the tenant with the ``seq``; the unique keys that carry the tenant stay.

Each table is rebuilt (create, copy, drop, rename; the migration connection does not enforce
foreign keys, so nothing cascades), and SQLite's own high-water mark (``sqlite_sequence``) is
set to the one ``sequences`` kept, so no ``seq`` ever given is given again. ``events`` keeps
the ``sequences`` mechanism. PostgreSQL is unchanged.

Revision ID: 0017
Revises: 0013
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from reach.storage.tables import JSONDOC, SEQ, TIMESTAMP, UUID

revision = "0017"
down_revision = "0013"
branch_labels = None
depends_on = None

_TABLES = ("resources", "batches")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(rowid=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild(rowid=False)


def _seq(rowid: bool) -> sa.Column[int]:
    if rowid:
        return sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True)
    return sa.Column("seq", SEQ, nullable=False)


def _resources(rowid: bool) -> list[SchemaItem]:
    key = [] if rowid else [sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_resources")]
    return [
        _seq(rowid),
        sa.Column("id", UUID, nullable=False),
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "schema_id",
            UUID,
            sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("data", JSONDOC, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        *key,
        sa.UniqueConstraint("tenant_id", "id", name="uq_resources_id"),
        sa.UniqueConstraint("tenant_id", "schema_id", "external_id", name="uq_resources_key"),
    ]


def _batches(rowid: bool) -> list[SchemaItem]:
    key = [] if rowid else [sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_batches")]
    counts = (
        "total_records",
        "processed_records",
        "successful_records",
        "failed_records",
        "pending_records",
        "cascaded_records",
    )
    return [
        _seq(rowid),
        sa.Column("id", UUID, nullable=False),
        sa.Column(
            "partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "schema_id",
            UUID,
            sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("schema_name", sa.Text(), nullable=False),
        sa.Column("batch_type", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("options", JSONDOC, nullable=False),
        sa.Column("state", JSONDOC, nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in counts),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("wake_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        *key,
        sa.UniqueConstraint("id", "tenant_id", name="uq_batches_id"),
    ]


def _rebuild(*, rowid: bool) -> None:
    bind = op.get_bind()
    shapes = {"resources": _resources, "batches": _batches}
    for table in _TABLES:
        # The highest seq ever given, whichever mechanism kept it.
        if rowid:
            found = bind.exec_driver_sql(
                f"SELECT max(coalesce((SELECT last FROM sequences WHERE name = '{table}'), 0), "
                f"coalesce((SELECT max(seq) FROM {table}), 0))"
            ).scalar()
        else:
            found = bind.exec_driver_sql(
                f"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), "
                f"0), coalesce((SELECT max(seq) FROM {table}), 0))"
            ).scalar()
        given = int(found or 0)
        new = op.create_table(f"_new_{table}", *shapes[table](rowid), sqlite_autoincrement=rowid)
        columns = ", ".join(c.name for c in new.columns)
        bind.exec_driver_sql(f"INSERT INTO _new_{table} ({columns}) SELECT {columns} FROM {table}")
        bind.exec_driver_sql(f"DROP TABLE {table}")
        bind.exec_driver_sql(f"ALTER TABLE _new_{table} RENAME TO {table}")
        if rowid:
            bind.exec_driver_sql(
                f"DELETE FROM sqlite_sequence WHERE name IN ('{table}', '_new_{table}')"
            )
            bind.exec_driver_sql(
                f"INSERT INTO sqlite_sequence (name, seq) VALUES ('{table}', {given})"
            )
            bind.exec_driver_sql(f"DELETE FROM sequences WHERE name = '{table}'")
        else:
            bind.exec_driver_sql(f"INSERT INTO sequences (name, last) VALUES ('{table}', {given})")
            bind.exec_driver_sql(
                f"CREATE TRIGGER sequences_{table} AFTER INSERT ON {table} BEGIN "
                f"UPDATE sequences SET last = NEW.seq WHERE name = '{table}' AND last < NEW.seq; "
                "END"
            )
    op.create_index("ix_resources_listing", "resources", ["tenant_id", "schema_id", "seq"])
    op.create_index("ix_batches_wake", "batches", ["wake_at"])
