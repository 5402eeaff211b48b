"""Schema names are unique among *active* definitions only, so a deactivated (deleted)
schema's name and plural name can be taken by a new one.

The two unique constraints become partial unique indexes (``WHERE deactivated_at IS NULL``),
same names. SQLite cannot drop a table constraint in place: the table is rebuilt (batch mode;
the migration connection does not enforce foreign keys, so the rebuild cascades nothing).
A downgrade fails if a name is by then used by an active and a deactivated definition.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_ACTIVE = sa.text("deactivated_at IS NULL")
_KEYS = {"uq_schema_definitions_name": "name_key", "uq_schema_definitions_plural": "plural_key"}


def upgrade() -> None:
    with op.batch_alter_table("schema_definitions") as batch:
        for name in _KEYS:
            batch.drop_constraint(name, type_="unique")
    for name, key in _KEYS.items():
        op.create_index(
            name,
            "schema_definitions",
            ["partner_id", key],
            unique=True,
            sqlite_where=_ACTIVE,
            postgresql_where=_ACTIVE,
        )


def downgrade() -> None:
    for name in _KEYS:
        op.drop_index(name, table_name="schema_definitions")
    with op.batch_alter_table("schema_definitions") as batch:
        for name, key in _KEYS.items():
            batch.create_unique_constraint(name, ["partner_id", key])
