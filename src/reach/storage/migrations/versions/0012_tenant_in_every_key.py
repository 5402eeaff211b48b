"""The tenant in every key of a tenant-owned table, so PostgreSQL can be distributed by tenant.

A distributed PostgreSQL (Citus-style, docs/scaling.md) enforces a primary key or unique index
on one shard only, so each must contain the distribution column, ``tenant_id``; a foreign key
between two distributed tables must contain it too. The audit found four tables that broke it:

* ``resources``: primary key ``seq`` → (``tenant_id``, ``seq``); unique ``id`` →
  (``tenant_id``, ``id``).
* ``batches``: primary key ``seq`` → (``tenant_id``, ``seq``), which makes ``ix_batches_tenant``
  (the same columns) redundant; unique ``id`` → (``id``, ``tenant_id``).
* ``batch_items``: no ``tenant_id`` at all. It gets one (filled from its batch), in its primary
  key and in its foreign key to ``batches``.
* ``batch_waits``: ``tenant_id`` joins its primary key and its foreign key to ``batches``.

Ids are random UUIDs and seqs come from one sequence on PostgreSQL, so nothing that was unique
before stops being unique: the wider keys only say where each row lives.

PostgreSQL alters the constraints in place. SQLite cannot change a table's keys in place: each
table is rebuilt (create the new shape, copy, drop the old, rename — the migration connection
does not enforce foreign keys, so the rebuild cascades nothing). SQLite's ``seq`` is no longer
the rowid, so new rows get their tenant's highest ``seq`` + 1 from the writer
(``storage/resources.py``, ``storage/batches.py``).

Cost on a large PostgreSQL database: each new key builds its index under the table's exclusive
lock, and ``batch_items`` is rewritten once to fill ``tenant_id`` (retention keeps it to about
30 days of batches). Where that pause is too long, build the indexes beforehand with
``CREATE UNIQUE INDEX CONCURRENTLY`` under the constraint names used here and attach them with
``ADD CONSTRAINT … USING INDEX``; docs/operations.md's upgrade steps apply as for any migration.

Revision ID: 0012
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from reach.storage.tables import JSONDOC, SEQ, TIMESTAMP, UUID

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _rebuild_sqlite(new_keys=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
    else:
        _rebuild_sqlite(new_keys=False)


_PG_UPGRADE = [
    # The foreign keys point at batches' unique id: they go first and come back wider.
    "ALTER TABLE batch_items DROP CONSTRAINT batch_items_batch_id_fkey",
    "ALTER TABLE batch_waits DROP CONSTRAINT batch_waits_batch_id_fkey",
    "ALTER TABLE resources DROP CONSTRAINT resources_pkey",
    "ALTER TABLE resources ADD CONSTRAINT pk_resources PRIMARY KEY (tenant_id, seq)",
    "ALTER TABLE resources DROP CONSTRAINT resources_id_key",
    "ALTER TABLE resources ADD CONSTRAINT uq_resources_id UNIQUE (tenant_id, id)",
    "ALTER TABLE batches DROP CONSTRAINT batches_pkey",
    "ALTER TABLE batches ADD CONSTRAINT pk_batches PRIMARY KEY (tenant_id, seq)",
    "DROP INDEX ix_batches_tenant",
    "ALTER TABLE batches DROP CONSTRAINT batches_id_key",
    "ALTER TABLE batches ADD CONSTRAINT uq_batches_id UNIQUE (id, tenant_id)",
    "ALTER TABLE batch_items ADD COLUMN tenant_id uuid",
    "UPDATE batch_items AS i SET tenant_id = b.tenant_id FROM batches AS b WHERE b.id = i.batch_id",
    # An item whose batch is gone could not exist under the old foreign key either.
    "ALTER TABLE batch_items ALTER COLUMN tenant_id SET NOT NULL",
    "ALTER TABLE batch_items DROP CONSTRAINT batch_items_pkey",
    "ALTER TABLE batch_items ADD CONSTRAINT pk_batch_items "
    "PRIMARY KEY (batch_id, position, tenant_id)",
    "ALTER TABLE batch_items ADD CONSTRAINT fk_batch_items_batch FOREIGN KEY "
    "(batch_id, tenant_id) REFERENCES batches (id, tenant_id) ON DELETE CASCADE",
    "ALTER TABLE batch_waits DROP CONSTRAINT batch_waits_pkey",
    "ALTER TABLE batch_waits ADD CONSTRAINT pk_batch_waits "
    "PRIMARY KEY (batch_id, position, schema_id, external_id, tenant_id)",
    "ALTER TABLE batch_waits ADD CONSTRAINT fk_batch_waits_batch FOREIGN KEY "
    "(batch_id, tenant_id) REFERENCES batches (id, tenant_id) ON DELETE CASCADE",
]

_PG_DOWNGRADE = [
    "ALTER TABLE batch_waits DROP CONSTRAINT fk_batch_waits_batch",
    "ALTER TABLE batch_waits DROP CONSTRAINT pk_batch_waits",
    "ALTER TABLE batch_waits ADD PRIMARY KEY (batch_id, position, schema_id, external_id)",
    "ALTER TABLE batch_items DROP CONSTRAINT fk_batch_items_batch",
    "ALTER TABLE batch_items DROP CONSTRAINT pk_batch_items",
    "ALTER TABLE batch_items ADD PRIMARY KEY (batch_id, position)",
    "ALTER TABLE batch_items DROP COLUMN tenant_id",
    "ALTER TABLE batches DROP CONSTRAINT uq_batches_id",
    "ALTER TABLE batches ADD CONSTRAINT batches_id_key UNIQUE (id)",
    "CREATE INDEX ix_batches_tenant ON batches (tenant_id, seq)",
    "ALTER TABLE batches DROP CONSTRAINT pk_batches",
    "ALTER TABLE batches ADD CONSTRAINT batches_pkey PRIMARY KEY (seq)",
    "ALTER TABLE resources DROP CONSTRAINT uq_resources_id",
    "ALTER TABLE resources ADD CONSTRAINT resources_id_key UNIQUE (id)",
    "ALTER TABLE resources DROP CONSTRAINT pk_resources",
    "ALTER TABLE resources ADD CONSTRAINT resources_pkey PRIMARY KEY (seq)",
    "ALTER TABLE batch_items ADD CONSTRAINT batch_items_batch_id_fkey FOREIGN KEY (batch_id) "
    "REFERENCES batches (id) ON DELETE CASCADE",
    "ALTER TABLE batch_waits ADD CONSTRAINT batch_waits_batch_id_fkey FOREIGN KEY (batch_id) "
    "REFERENCES batches (id) ON DELETE CASCADE",
]


def _upgrade_postgresql() -> None:
    for statement in _PG_UPGRADE:
        op.execute(statement)


def _downgrade_postgresql() -> None:
    for statement in _PG_DOWNGRADE:
        op.execute(statement)


# -- SQLite: rebuild each table in its new (or, going down, its old) shape


def _resources(new_keys: bool) -> list[SchemaItem]:
    keys: list[SchemaItem] = (
        [
            sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_resources"),
            sa.UniqueConstraint("tenant_id", "id", name="uq_resources_id"),
        ]
        if new_keys
        else []
    )
    return [
        sa.Column("seq", SEQ, primary_key=not new_keys, nullable=False),
        sa.Column("id", UUID, nullable=False, unique=not new_keys),
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
        *keys,
        sa.UniqueConstraint("tenant_id", "schema_id", "external_id", name="uq_resources_key"),
    ]


def _batches(new_keys: bool) -> list[SchemaItem]:
    keys: list[SchemaItem] = (
        [
            sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_batches"),
            sa.UniqueConstraint("id", "tenant_id", name="uq_batches_id"),
        ]
        if new_keys
        else []
    )
    return [
        sa.Column("seq", SEQ, primary_key=not new_keys, nullable=False),
        sa.Column("id", UUID, nullable=False, unique=not new_keys),
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
        sa.Column("total_records", sa.Integer(), nullable=False),
        sa.Column("processed_records", sa.Integer(), nullable=False),
        sa.Column("successful_records", sa.Integer(), nullable=False),
        sa.Column("failed_records", sa.Integer(), nullable=False),
        sa.Column("pending_records", sa.Integer(), nullable=False),
        sa.Column("cascaded_records", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        sa.Column("wake_at", TIMESTAMP, nullable=True),
        sa.Column("claimed_by", sa.Text(), nullable=True),
        sa.Column("lease_until", TIMESTAMP, nullable=True),
        *keys,
    ]


def _batch_fk(table: str, new_keys: bool) -> list[SchemaItem]:
    if new_keys:
        return [
            sa.ForeignKeyConstraint(
                ["batch_id", "tenant_id"],
                ["batches.id", "batches.tenant_id"],
                name=f"fk_{table}_batch",
                ondelete="CASCADE",
            )
        ]
    return [sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], ondelete="CASCADE")]


def _batch_items(new_keys: bool) -> list[SchemaItem]:
    tenant = [sa.Column("tenant_id", UUID, nullable=False)] if new_keys else []
    key = ["batch_id", "position", "tenant_id"] if new_keys else ["batch_id", "position"]
    return [
        sa.Column("batch_id", UUID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        *tenant,
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("payload", JSONDOC, nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("errors", JSONDOC, nullable=True),
        sa.Column("missing", JSONDOC, nullable=True),
        sa.Column("pending_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.PrimaryKeyConstraint(*key, name="pk_batch_items" if new_keys else None),
        *_batch_fk("batch_items", new_keys),
    ]


def _batch_waits(new_keys: bool) -> list[SchemaItem]:
    key = ["batch_id", "position", "schema_id", "external_id"]
    return [
        sa.Column("batch_id", UUID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("schema_id", UUID, nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        (
            sa.PrimaryKeyConstraint(*key, "tenant_id", name="pk_batch_waits")
            if new_keys
            else sa.PrimaryKeyConstraint(*key)
        ),
        *_batch_fk("batch_waits", new_keys),
    ]


def _rebuild_sqlite(*, new_keys: bool) -> None:
    bind = op.get_bind()
    shapes = {
        "resources": _resources,
        "batches": _batches,
        "batch_items": _batch_items,
        "batch_waits": _batch_waits,
    }
    for table, shape in shapes.items():
        new = op.create_table(f"_new_{table}", *shape(new_keys))
        columns = [c.name for c in new.columns]
        if table == "batch_items" and new_keys:
            selected = [
                "(SELECT b.tenant_id FROM batches AS b WHERE b.id = batch_items.batch_id)"
                if c == "tenant_id"
                else c
                for c in columns
            ]
        else:
            selected = columns
        bind.exec_driver_sql(
            f"INSERT INTO _new_{table} ({', '.join(columns)}) "
            f"SELECT {', '.join(selected)} FROM {table}"
        )
        bind.exec_driver_sql(f"DROP TABLE {table}")
        bind.exec_driver_sql(f"ALTER TABLE _new_{table} RENAME TO {table}")
    op.create_index("ix_resources_listing", "resources", ["tenant_id", "schema_id", "seq"])
    if not new_keys:
        op.create_index("ix_batches_tenant", "batches", ["tenant_id", "seq"])
    op.create_index("ix_batches_wake", "batches", ["wake_at"])
