"""A partner's schema mapping: one row per partner, every statement keyed by the partner."""

from __future__ import annotations

from reach.storage.database import Connection


async def get(conn: Connection, partner_id: str) -> str | None:
    found = await conn.fetchval(
        "SELECT mapping FROM schema_mappings WHERE partner_id = $1", partner_id
    )
    return None if found is None else str(found)


async def put(conn: Connection, partner_id: str, mapping: str, at: str) -> None:
    await conn.execute(
        "INSERT INTO schema_mappings (partner_id, mapping, updated_at) VALUES ($1, $2, $3) "
        "ON CONFLICT (partner_id) DO UPDATE SET mapping = excluded.mapping, "
        "updated_at = excluded.updated_at",
        partner_id,
        mapping,
        at,
    )
