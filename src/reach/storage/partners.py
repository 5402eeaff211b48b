"""Partners and their signing secrets."""

from __future__ import annotations

from reach.storage import notify
from reach.storage.database import Connection, Row


async def insert_partner(conn: Connection, partner_id: str, name: str, at: str) -> None:
    await conn.execute(
        "INSERT INTO partners (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
        partner_id,
        name,
        at,
    )


async def insert_secret(
    conn: Connection, secret_id: str, partner_id: str, sealed: str, at: str
) -> None:
    """``sealed`` is the secret encrypted by :class:`reach.secretbox.SecretBox`."""
    await conn.execute(
        "INSERT INTO partner_secrets (id, partner_id, sealed_secret, created_at) "
        "VALUES ($1, $2, $3, $4)",
        secret_id,
        partner_id,
        sealed,
        at,
    )


async def get_partner(conn: Connection, partner_id: str) -> Row | None:
    return await conn.fetchrow(
        "SELECT id, name, created_at, updated_at FROM partners WHERE id = $1", partner_id
    )


async def list_partners(conn: Connection) -> list[Row]:
    return list(
        await conn.fetch(
            "SELECT id, name, created_at, updated_at FROM partners ORDER BY created_at"
        )
    )


async def count_partners(conn: Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM partners"))


async def active_secrets(conn: Connection, partner_id: str) -> list[str]:
    """Sealed secrets, newest first: a rotation puts the new one ahead of the one it replaces."""
    rows = await conn.fetch(
        "SELECT sealed_secret FROM partner_secrets WHERE partner_id = $1 AND revoked_at IS NULL "
        "ORDER BY created_at DESC, id",
        partner_id,
    )
    return [row["sealed_secret"] for row in rows]


async def newest_secret_at(conn: Connection, partner_id: str) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT max(created_at) FROM partner_secrets WHERE partner_id = $1", partner_id
    )
    return value


async def revoke_all_but_newest(conn: Connection, partner_id: str, keep: int, at: str) -> None:
    await conn.execute(
        "UPDATE partner_secrets SET revoked_at = $2 WHERE partner_id = $1 AND revoked_at IS NULL "
        "AND id NOT IN (SELECT id FROM partner_secrets WHERE partner_id = $1 "
        "AND revoked_at IS NULL ORDER BY created_at DESC, id LIMIT $3)",
        partner_id,
        at,
        keep,
    )
    # Other processes cache secrets and verified tokens: tell them once this commits.
    await notify.announce(conn, notify.SECRETS, partner_id)
