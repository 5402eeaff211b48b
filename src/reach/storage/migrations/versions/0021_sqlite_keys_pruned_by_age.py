"""SQLite: idempotency keys without the ``expires_at`` index; pruned oldest first by rowid.

Every keyed write inserts one key row, and each B-tree it touches is another page written to
the WAL at commit. The ``expires_at`` index was one of three (docs/benchmarks.md, *Keyed PATCH
on SQLite*). A rowid is never below an earlier row's (SQLite takes the largest plus one), and
a key expires a fixed retention after it is stored, so the oldest rows are the first to
expire: the worker prunes by walking the rowid from the start instead
(reach.storage.idempotency). Were the retention shortened, newer rows would wait behind older
ones for at most the old retention; they are never replayed once expired, either way.
PostgreSQL keeps the index (its rows have no such order).

Revision ID: 0021
Revises: 0018
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0021"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"])
