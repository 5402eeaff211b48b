"""Partners, their signing secrets, tenants, schema definitions and resources.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import JSONDOC, SEQ, TIMESTAMP, UUID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "partner_secrets",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
    )
    op.create_index("ix_partner_secrets_partner_id", "partner_secrets", ["partner_id"])
    op.create_table(
        "tenants",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("website", sa.Text(), nullable=True),
        sa.Column("attributes", JSONDOC, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deleted_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("partner_id", "external_id", name="uq_tenants_partner_external_id"),
    )
    op.create_table(
        "schema_definitions",
        sa.Column("id", UUID, primary_key=True),
        sa.Column(
            "partner_id", UUID, sa.ForeignKey("partners.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("plural_name", sa.Text(), nullable=False),
        sa.Column("plural_key", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("external_id_field", sa.Text(), nullable=False),
        sa.Column("json_schema", JSONDOC, nullable=False),
        sa.Column("options", JSONDOC, nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deactivated_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("partner_id", "name_key", name="uq_schema_definitions_name"),
        sa.UniqueConstraint("partner_id", "plural_key", name="uq_schema_definitions_plural"),
    )
    op.create_table(
        "resources",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", UUID, nullable=False, unique=True),
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
        sa.UniqueConstraint("tenant_id", "schema_id", "external_id", name="uq_resources_key"),
    )
    op.create_index("ix_resources_listing", "resources", ["tenant_id", "schema_id", "seq"])


def downgrade() -> None:
    op.drop_table("resources")
    op.drop_table("schema_definitions")
    op.drop_table("tenants")
    op.drop_table("partner_secrets")
    op.drop_table("partners")
