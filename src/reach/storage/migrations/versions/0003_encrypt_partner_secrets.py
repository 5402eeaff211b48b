"""Partner secrets encrypted at rest: ``partner_secrets.secret`` becomes ``sealed_secret``.

Existing plaintext rows are encrypted here with the configured key (``REACH_SECRET_KEY``, or
the SQLite key file beside the database). On PostgreSQL without a key the migration refuses,
inside its transaction, so nothing changes until it is run again with one.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from reach.errors import ConfigError
from reach.secretbox import SecretBox, box_for

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _box(rows: int) -> SecretBox:
    url = context.config.get_main_option("sqlalchemy.url") or ""
    key = context.config.attributes.get("secret_key") or ""
    try:
        return box_for(url.replace("postgresql+asyncpg:", "postgresql:"), key)
    except ConfigError as exc:
        raise ConfigError(
            f"{rows} partner secret(s) are stored in plaintext and must be encrypted by this "
            f"migration, but there is no usable key: {exc}; then run `reach migrate` again."
        ) from None


def upgrade() -> None:
    with op.batch_alter_table("partner_secrets") as batch:
        batch.add_column(sa.Column("sealed_secret", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, partner_id, secret FROM partner_secrets")).all()
    if rows:
        box = _box(len(rows))
        for secret_id, partner_id, secret in rows:
            bind.execute(
                sa.text("UPDATE partner_secrets SET sealed_secret = :sealed WHERE id = :id"),
                {"sealed": box.seal(str(partner_id), secret), "id": secret_id},
            )
    with op.batch_alter_table("partner_secrets") as batch:
        batch.alter_column("sealed_secret", existing_type=sa.Text(), nullable=False)
        batch.drop_column("secret")


def downgrade() -> None:
    with op.batch_alter_table("partner_secrets") as batch:
        batch.add_column(sa.Column("secret", sa.Text(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, partner_id, sealed_secret FROM partner_secrets")).all()
    if rows:
        box = _box(len(rows))
        for secret_id, partner_id, sealed in rows:
            bind.execute(
                sa.text("UPDATE partner_secrets SET secret = :secret WHERE id = :id"),
                {"secret": box.open(str(partner_id), sealed), "id": secret_id},
            )
    with op.batch_alter_table("partner_secrets") as batch:
        batch.alter_column("secret", existing_type=sa.Text(), nullable=False)
        batch.drop_column("sealed_secret")
