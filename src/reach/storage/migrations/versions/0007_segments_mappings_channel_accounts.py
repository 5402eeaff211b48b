"""Schema mappings (per partner), segments and channel accounts (per tenant), and the
PostgreSQL ``reach_utc(text)`` function segment conditions compare date-times with.

Tenant-owned tables carry ``tenant_id`` first in their primary key, so a later sharding by
tenant keeps every row with its tenant. ``reach_utc`` has the contract of
:func:`reach.storage.utc.utc_text` (SQLite registers that Python function on each
connection instead): RFC 3339 date-time or full date → ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC,
anything else → NULL, never an error. Nested CASEs keep the casts behind the checks that make
them safe.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import JSONDOC, TIMESTAMP, UUID

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_REACH_UTC = r"""
CREATE OR REPLACE FUNCTION reach_utc(t text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
SELECT CASE
  WHEN t ~ '^[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}'
            '(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?'
            '(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9]))?$'
   AND substr(t, 6, 2) BETWEEN '01' AND '12' AND substr(t, 9, 2) >= '01'
  THEN CASE
    WHEN substr(t, 9, 2)::int <= extract(day FROM make_date(substr(t, 1, 4)::int,
         substr(t, 6, 2)::int, 1) + interval '1 month' - interval '1 day')
    THEN CASE
      WHEN length(t) = 10 THEN t || ' 00:00:00.000000'
      WHEN extract(year FROM t::timestamptz AT TIME ZONE 'UTC') BETWEEN 1000 AND 9999
      THEN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
    END
  END
END
$fn$
"""


def upgrade() -> None:
    op.create_table(
        "schema_mappings",
        sa.Column(
            "partner_id",
            UUID,
            sa.ForeignKey("partners.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("mapping", JSONDOC, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "segments",
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("id", UUID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("conditions", JSONDOC, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_segments"),
    )
    op.create_index("ix_segments_listing", "segments", ["tenant_id", "created_at", "id"])
    op.create_table(
        "channel_accounts",
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("id", UUID, nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("metadata", JSONDOC, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_channel_accounts"),
    )
    op.create_index(
        "ix_channel_accounts_listing", "channel_accounts", ["tenant_id", "created_at", "id"]
    )
    if op.get_bind().dialect.name == "postgresql":
        # Driver-level: the SQL holds ':' sequences a text() construct would take for binds.
        op.get_bind().exec_driver_sql(_REACH_UTC)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.get_bind().exec_driver_sql("DROP FUNCTION IF EXISTS reach_utc(text)")
    op.drop_table("channel_accounts")
    op.drop_table("segments")
    op.drop_table("schema_mappings")
