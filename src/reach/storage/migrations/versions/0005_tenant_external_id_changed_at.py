"""When a tenant's external id last changed, so tokens minted before it are refused.

A tenant token names its tenant by external id. After a partner renames tenant A and gives A's
old external id to a new tenant B, A's old tokens would act for B; the server refuses a tenant
token issued before its tenant was created or before its external id last changed.

Existing rows: when the external id last changed is unknown. A tenant updated after its
creation may have been renamed, so its ``updated_at`` stands in (the latest the change can
have been): tokens minted before that update are refused, which errs on the safe side.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import TIMESTAMP

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tenants", sa.Column("external_id_changed_at", TIMESTAMP, nullable=True))
    op.execute(
        "UPDATE tenants SET external_id_changed_at = updated_at WHERE updated_at <> created_at"
    )


def downgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("external_id_changed_at")
