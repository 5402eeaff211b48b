"""Change events and the stamp counter that gives them their commit-ordered position.

``events.position`` is NULL when a write appends its event and set after commit by the one
stamper at a time that holds ``event_stamp``'s row (docs/events.md). The table has no foreign
keys: a ``tenant.deleted`` event must outlive the tenant until retention prunes it. Its primary
key is ``seq`` alone (SQLite's rowid, as for ``resources``); the feed and history indexes lead
with the tenant. No index on the random event id or on the time: each would be paid by every
write (retention walks ``seq``, which follows time).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import SEQ, TIMESTAMP, UUID

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        # A sequence on PostgreSQL; SQLite cannot autoincrement a column of a composite key,
        # so its writers take the next from ``sequences`` (migration 0013).
        sa.Column(
            "seq",
            SEQ,
            nullable=False,
            autoincrement=op.get_bind().dialect.name == "postgresql",
        ),
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("id", UUID, nullable=False),
        sa.Column("partner_id", UUID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("schema_id", UUID, nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_events"),
    )
    op.create_index("ix_events_feed", "events", ["tenant_id", "position"])
    op.create_index("ix_events_history", "events", ["tenant_id", "schema_id", "external_id", "seq"])
    op.create_index("ix_events_position", "events", ["position"])
    op.create_index(
        "ix_events_unstamped",
        "events",
        ["seq"],
        postgresql_where=sa.text("position IS NULL"),
        sqlite_where=sa.text("position IS NULL"),
    )
    stamp = op.create_table(
        "event_stamp",
        sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("last_position", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(stamp, [{"id": 1, "last_position": 0}])


def downgrade() -> None:
    op.drop_table("event_stamp")
    for name in (
        "ix_events_unstamped",
        "ix_events_position",
        "ix_events_history",
        "ix_events_feed",
    ):
        op.drop_index(name, table_name="events")
    op.drop_table("events")
