"""Batch jobs, their items, and the dependencies pending items wait for.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import JSONDOC, SEQ, TIMESTAMP, UUID

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batches",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", UUID, nullable=False, unique=True),
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
    )
    op.create_index("ix_batches_tenant", "batches", ["tenant_id", "seq"])
    op.create_index("ix_batches_wake", "batches", ["wake_at"])
    op.create_table(
        "batch_items",
        sa.Column(
            "batch_id",
            UUID,
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("payload", JSONDOC, nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("errors", JSONDOC, nullable=True),
        sa.Column("missing", JSONDOC, nullable=True),
        sa.Column("pending_at", TIMESTAMP, nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
    )
    op.create_table(
        "batch_waits",
        sa.Column(
            "batch_id",
            UUID,
            sa.ForeignKey("batches.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("schema_id", UUID, primary_key=True),
        sa.Column("external_id", sa.Text(), primary_key=True),
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
    )


def downgrade() -> None:
    op.drop_table("batch_waits")
    op.drop_table("batch_items")
    op.drop_table("batches")
