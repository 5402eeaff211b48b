"""Per-(tenant, schema) record counts, so a list's ``total`` costs the same at any size.

Counts live in a few slots per (tenant, schema): concurrent creates on PostgreSQL add to
different slots instead of queueing on one row lock; a total is the sum of the slots.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import UUID

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resource_counts",
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "schema_id",
            UUID,
            sa.ForeignKey("schema_definitions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("slot", sa.SmallInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "schema_id", "slot", name="pk_resource_counts"),
    )
    op.execute(
        "INSERT INTO resource_counts (tenant_id, schema_id, slot, count) "
        "SELECT tenant_id, schema_id, 0, count(*) FROM resources GROUP BY tenant_id, schema_id"
    )


def downgrade() -> None:
    op.drop_table("resource_counts")
