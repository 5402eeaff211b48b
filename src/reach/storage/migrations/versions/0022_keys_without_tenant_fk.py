"""Idempotency keys without a foreign key to ``tenants``.

On PostgreSQL a foreign key is checked by a trigger that locks the referenced row
(``SELECT … FOR KEY SHARE``): every keyed write locked its tenant's row. Concurrent keyed
writes of one tenant hold that lock together, which PostgreSQL records as a multixact on the
tenant's row, created and logged for each overlap. Measured with 32 connections on one tenant
(docs/benchmarks.md, *Keyed PATCH: the tenant's foreign key, and SQLite's floor*): server +
database CPU per keyed PATCH 417 + 374 → 371 + 295 µs, 1,764 → 2,405 req/s.

What the key gave: ``ON DELETE CASCADE`` from a tenant's row. The server never deletes a
tenant's row (a tenant is marked deleted and its records purged), every statement on keys
names the tenant, a tenant id is never reused, and keys expire (24 h by default) and are pruned
by the worker — so a key can outlive only a row an operator deleted by hand, and only until it
expires. ``events`` has no foreign keys for the same reasons. The model now matches on both
engines; SQLite rebuilds the table (create, copy with the rowids — pruning walks them oldest
first, 0021 — drop, rename).

Revision ID: 0022
Revises: 0020
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import TIMESTAMP, UUID

revision = "0022"
down_revision = "0020"
branch_labels = None
depends_on = None

_COLUMNS = "tenant_id, idem_key, request_hash, status, headers, body, created_at, expires_at"


def _rebuild_sqlite(bind: sa.Connection, *, tenant_key: bool) -> None:
    tenant = (
        sa.Column(
            "tenant_id", UUID, sa.ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False
        )
        if tenant_key
        else sa.Column("tenant_id", UUID, nullable=False)
    )
    op.create_table(
        "_new_idempotency_keys",
        tenant,
        sa.Column("idem_key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.Text(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("expires_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "idem_key", name="pk_idempotency_keys"),
    )
    bind.exec_driver_sql(
        f"INSERT INTO _new_idempotency_keys (rowid, {_COLUMNS}) "
        f"SELECT rowid, {_COLUMNS} FROM idempotency_keys ORDER BY rowid"
    )
    bind.exec_driver_sql("DROP TABLE idempotency_keys")
    bind.exec_driver_sql("ALTER TABLE _new_idempotency_keys RENAME TO idempotency_keys")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind, tenant_key=False)
        return
    for key in sa.inspect(bind).get_foreign_keys("idempotency_keys"):
        # PostgreSQL names every constraint (``idempotency_keys_tenant_id_fkey`` here).
        op.drop_constraint(str(key["name"]), "idempotency_keys", type_="foreignkey")


def downgrade() -> None:
    bind = op.get_bind()
    # A key whose tenant's row is gone would fail the constraint (and could never be read).
    bind.exec_driver_sql(
        "DELETE FROM idempotency_keys WHERE tenant_id NOT IN (SELECT id FROM tenants)"
    )
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind, tenant_key=True)
        return
    op.create_foreign_key(
        "idempotency_keys_tenant_id_fkey",
        "idempotency_keys",
        "tenants",
        ["tenant_id"],
        ["id"],
        ondelete="CASCADE",
    )
