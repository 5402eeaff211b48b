"""SQLite: a row's ``seq`` is never given to another row, even after the newest one is deleted.

A merge's compare-and-set names a record by (tenant, ``seq``, version), and a process's record
hint (``reach.domain.recent``) remembers those three. If a deleted record's ``seq`` went to the
next record created, a stale hint could land its PATCH on that other record: version 1 matches
version 1. PostgreSQL's ``seq`` comes from a sequence, which never goes back. SQLite's came
from the highest existing value + 1 (the rowid before 0012, the tenant's highest since), which
goes back whenever the newest row is deleted.

``sequences`` keeps, per table, the highest ``seq`` ever given; a trigger moves it on with every
insert, in the inserting statement, and the writers take ``last + 1`` from it
(``storage.database.SQLITE_NEXT_SEQ``). SQLite runs one writer at a time, so two inserts never
read the same ``last``. PostgreSQL has the table too (the models are one) and leaves it empty.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TABLES = ("resources", "batches", "events")


def upgrade() -> None:
    op.create_table(
        "sequences",
        sa.Column("name", sa.Text(), primary_key=True),
        sa.Column("last", sa.BigInteger(), nullable=False),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in _TABLES:
        op.execute(
            f"INSERT INTO sequences (name, last) SELECT '{table}', coalesce(max(seq), 0) "
            f"FROM {table}"
        )
        op.execute(
            f"CREATE TRIGGER sequences_{table} AFTER INSERT ON {table} BEGIN "
            f"UPDATE sequences SET last = NEW.seq WHERE name = '{table}' AND last < NEW.seq; "
            "END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in _TABLES:
            op.execute(f"DROP TRIGGER sequences_{table}")
    op.drop_table("sequences")
