"""The partner in every key of ``webhook_deliveries``, so it can be distributed by partner.

``webhook_deliveries`` is the partner-level delivery outbox: its endpoint is a partner's and
its event may be any of the partner's tenants' or none of them (a schema definition's). It
belongs distributed by ``partner_id`` (docs/scaling.md), and a distributed PostgreSQL enforces
a primary key or unique index on one shard only, so each must contain ``partner_id``:

* primary key ``id`` → (``id``, ``partner_id``) — ``id`` first, so a look-up by id alone still
  finds it by the key's index;
* unique (``endpoint_id``, ``event_id``) → (``endpoint_id``, ``event_id``, ``partner_id``).

An endpoint belongs to one partner, and delivery ids are random, so nothing that was unique
before stops being unique: the wider keys only say where each row lives.

PostgreSQL alters the constraints in place (each new key builds its index under the table's
exclusive lock; retention keeps the table to about 30 days of deliveries). SQLite cannot
change a table's keys in place: the table is rebuilt (create the new shape, copy, drop the
old, rename — the migration connection does not enforce foreign keys, so the rebuild cascades
nothing) and its indexes are made again.

Revision ID: 0014
Revises: 0017 (written on 0013; re-chained after 0017 took 0013 as its parent on main)
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from reach.storage.tables import TIMESTAMP, UUID

revision = "0014"
down_revision = "0017"
branch_labels = None
depends_on = None

_UNIQUE = "uq_webhook_deliveries_endpoint_event"

_PG_UPGRADE = [
    "ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_pkey",
    "ALTER TABLE webhook_deliveries ADD CONSTRAINT pk_webhook_deliveries "
    "PRIMARY KEY (id, partner_id)",
    f"ALTER TABLE webhook_deliveries DROP CONSTRAINT {_UNIQUE}",
    f"ALTER TABLE webhook_deliveries ADD CONSTRAINT {_UNIQUE} "
    "UNIQUE (endpoint_id, event_id, partner_id)",
]

_PG_DOWNGRADE = [
    f"ALTER TABLE webhook_deliveries DROP CONSTRAINT {_UNIQUE}",
    f"ALTER TABLE webhook_deliveries ADD CONSTRAINT {_UNIQUE} UNIQUE (endpoint_id, event_id)",
    "ALTER TABLE webhook_deliveries DROP CONSTRAINT pk_webhook_deliveries",
    "ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id)",
]

_INDEXES = {
    "ix_webhook_deliveries_due": ["status", "next_attempt_at"],
    "ix_webhook_deliveries_endpoint_id": ["endpoint_id", "id"],
    "ix_webhook_deliveries_completed_at": ["completed_at"],
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_UPGRADE:
            op.execute(statement)
    else:
        _rebuild_sqlite(new_keys=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _PG_DOWNGRADE:
            op.execute(statement)
    else:
        _rebuild_sqlite(new_keys=False)


def _shape(new_keys: bool) -> list[SchemaItem]:
    keys: list[SchemaItem] = (
        [
            sa.PrimaryKeyConstraint("id", "partner_id", name="pk_webhook_deliveries"),
            sa.UniqueConstraint("endpoint_id", "event_id", "partner_id", name=_UNIQUE),
        ]
        if new_keys
        else [sa.UniqueConstraint("endpoint_id", "event_id", name=_UNIQUE)]
    )
    return [
        sa.Column("id", UUID, primary_key=not new_keys, nullable=False),
        sa.Column(
            "endpoint_id",
            UUID,
            sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("partner_id", UUID, nullable=False),
        sa.Column("tenant_id", UUID, nullable=True),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("event_type", sa.Text(), nullable=False),
        sa.Column("event_position", sa.BigInteger(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_response_body", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("completed_at", TIMESTAMP, nullable=True),
        *keys,
    ]


def _rebuild_sqlite(*, new_keys: bool) -> None:
    bind = op.get_bind()
    new = op.create_table("_new_webhook_deliveries", *_shape(new_keys))
    columns = ", ".join(c.name for c in new.columns)
    bind.exec_driver_sql(
        f"INSERT INTO _new_webhook_deliveries ({columns}) SELECT {columns} FROM webhook_deliveries"
    )
    bind.exec_driver_sql("DROP TABLE webhook_deliveries")
    bind.exec_driver_sql("ALTER TABLE _new_webhook_deliveries RENAME TO webhook_deliveries")
    for name, indexed in _INDEXES.items():
        op.create_index(name, "webhook_deliveries", indexed)
