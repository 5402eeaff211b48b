"""A partner's webhook endpoints: hand-written SQL, every statement scoped by the partner.

The sender reads endpoints by id only through the deliveries it claimed
(:mod:`reach.storage.webhook_deliveries`); everything a caller reaches names its partner.
"""

from __future__ import annotations

from typing import Any

import orjson

from reach.storage.database import Connection, Row

COLUMNS = (
    "id, partner_id, url, description, event_types, tenant_ids, schema_ids, enabled, "
    "disabled_reason, sealed_secret, sealed_previous_secret, previous_secret_expires_at, "
    "failing_since, created_at, updated_at"
)

# A partner's endpoints are a small reference table; a cap keeps every fan-out bounded.
MAX_ENDPOINTS = 50


async def insert(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO webhook_endpoints (id, partner_id, url, description, event_types, "
        "tenant_ids, schema_ids, enabled, sealed_secret, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        values["id"],
        values["partner_id"],
        values["url"],
        values["description"],
        values["event_types"],
        values["tenant_ids"],
        values["schema_ids"],
        values["enabled"],
        values["sealed_secret"],
        values["created_at"],
    )


async def count(conn: Connection, partner_id: str) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM webhook_endpoints WHERE partner_id = $1", partner_id
        )
    )


async def get(conn: Connection, partner_id: str, endpoint_id: str) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM webhook_endpoints WHERE partner_id = $1 AND id = $2",
        partner_id,
        endpoint_id,
    )


async def page(
    conn: Connection, partner_id: str, after: tuple[str, str] | None, limit: int
) -> list[Row]:
    if after is None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM webhook_endpoints WHERE partner_id = $1 "
            "ORDER BY created_at, id LIMIT $2",
            partner_id,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM webhook_endpoints WHERE partner_id = $1 "
            "AND (created_at > $2 OR (created_at = $2 AND id > $3)) "
            "ORDER BY created_at, id LIMIT $4",
            partner_id,
            after[0],
            after[1],
            limit,
        )
    return list(rows)


async def update(
    conn: Connection, partner_id: str, endpoint_id: str, values: dict[str, Any]
) -> None:
    """Set the given columns (names are this module's constants, never input)."""
    names = list(values)
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    await conn.execute(
        f"UPDATE webhook_endpoints SET {assignments} WHERE partner_id = $1 AND id = $2",
        partner_id,
        endpoint_id,
        *(values[name] for name in names),
    )


async def rotate(
    conn: Connection, partner_id: str, endpoint_id: str, sealed: str, until: str, at: str
) -> None:
    """The new secret in; the current one becomes the previous (one statement: two rotations
    at once cannot both keep the same old secret)."""
    await conn.execute(
        "UPDATE webhook_endpoints SET sealed_previous_secret = sealed_secret, "
        "sealed_secret = $3, previous_secret_expires_at = $4, updated_at = $5 "
        "WHERE partner_id = $1 AND id = $2",
        partner_id,
        endpoint_id,
        sealed,
        until,
        at,
    )


async def delete(conn: Connection, partner_id: str, endpoint_id: str) -> int:
    return int(
        await conn.execute_final(
            "DELETE FROM webhook_endpoints WHERE partner_id = $1 AND id = $2",
            partner_id,
            endpoint_id,
        )
    )


async def enabled_for(conn: Connection, partner_ids: list[str]) -> list[Row]:
    """The enabled endpoints of these partners (the dispatcher's fan-out)."""
    if not partner_ids:
        return []
    if conn.dialect == "postgresql":
        where = "partner_id = ANY($1::uuid[])"
        arg: Any = partner_ids
    else:
        where = "partner_id IN (SELECT value FROM json_each($1))"
        arg = orjson.dumps(partner_ids).decode()
    rows = await conn.fetch(
        "SELECT id, partner_id, event_types, tenant_ids, schema_ids, created_at "
        f"FROM webhook_endpoints WHERE enabled AND {where}",
        arg,
    )
    return list(rows)
