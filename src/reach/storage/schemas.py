"""Schema definitions. Every query is scoped by the owning partner."""

from __future__ import annotations

from typing import Any

from reach.storage import notify
from reach.storage.database import Connection, Row

COLUMNS = (
    "id",
    "partner_id",
    "name",
    "plural_name",
    "description",
    "category",
    "external_id_field",
    "json_schema",
    "options",
    "version_number",
    "created_at",
    "updated_at",
    "deactivated_at",
)
_COLUMNS = ", ".join(COLUMNS)


async def lock_partner(conn: Connection, partner_id: str) -> None:
    """Serialise schema-definition writes of one partner until the transaction ends.

    A no-op UPDATE takes the partner row's lock on PostgreSQL (SQLite's write transaction
    already holds the database lock), so two concurrent creates cannot both pass the
    name check, and two updates cannot both write the same next version number.

    Every schema-definition write starts here, so this is also where other processes are told
    to forget the partner's cached definitions (delivered when, and only if, this commits).
    """
    await conn.execute("UPDATE partners SET updated_at = updated_at WHERE id = $1", partner_id)
    await notify.announce(conn, notify.SCHEMAS, partner_id)


async def insert(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert a definition; False if its name or plural name is already taken."""
    inserted = await conn.fetchval(
        "INSERT INTO schema_definitions (id, partner_id, name, name_key, plural_name, plural_key, "
        "description, category, external_id_field, json_schema, options, version_number, "
        "created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) "
        "ON CONFLICT DO NOTHING RETURNING id",
        values["id"],
        values["partner_id"],
        values["name"],
        values["name"].lower(),
        values["plural_name"],
        values["plural_name"].lower(),
        values["description"],
        values["category"],
        values["external_id_field"],
        values["json_schema"],
        values["options"],
        values["version_number"],
        values["created_at"],
    )
    return inserted is not None


async def update(conn: Connection, partner_id: str, schema_id: str, values: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE schema_definitions SET description = $3, category = $4, json_schema = $5, "
        "options = $6, version_number = $7, updated_at = $8 WHERE partner_id = $1 AND id = $2",
        partner_id,
        schema_id,
        values["description"],
        values["category"],
        values["json_schema"],
        values["options"],
        values["version_number"],
        values["updated_at"],
    )


async def find(conn: Connection, partner_id: str, key: str, *, by_id: bool) -> Row | None:
    """An active definition by id, or by name or plural name ignoring case.

    Deactivated definitions are never found: their names may belong to a newer schema, and
    nothing may be read, written or referenced through them.
    """
    if by_id:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM schema_definitions WHERE partner_id = $1 AND id = $2 "
            "AND deactivated_at IS NULL",
            partner_id,
            key,
        )
        if row is not None:
            return row
    lowered = key.lower()
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM schema_definitions WHERE partner_id = $1 "
        "AND (name_key = $2 OR plural_key = $2) AND deactivated_at IS NULL "
        "ORDER BY (name_key = $2) DESC LIMIT 1",
        partner_id,
        lowered,
    )


async def names_in_use(conn: Connection, partner_id: str, keys: list[str]) -> list[str]:
    rows = await conn.fetch(
        "SELECT name_key, plural_key FROM schema_definitions WHERE partner_id = $1 "
        "AND deactivated_at IS NULL",
        partner_id,
    )
    used = {row["name_key"] for row in rows} | {row["plural_key"] for row in rows}
    return [key for key in keys if key.lower() in used]


async def hold_against_new_records(conn: Connection, schema_id: str) -> None:
    """Wait for the record writes of this schema that are under way, and hold off new ones,
    until the transaction ends.

    A resource insert holds a ``FOR KEY SHARE`` lock on its schema row (the foreign key) until
    it commits; ``FOR UPDATE`` conflicts with it, so once this returns every record write that
    began before is committed and counted. SQLite's write transaction already excludes them.
    """
    if conn.dialect == "postgresql":
        await conn.execute("SELECT id FROM schema_definitions WHERE id = $1 FOR UPDATE", schema_id)


async def live_record_count(conn: Connection, partner_id: str, schema_id: str) -> int:
    """Records of the schema in the partner's live tenants (from ``resource_counts``, kept in
    step with the rows in the same transactions, so it costs a few rows at any size)."""
    count = await conn.fetchval(
        "SELECT sum(c.count) FROM resource_counts c JOIN tenants t ON t.id = c.tenant_id "
        "WHERE t.partner_id = $1 AND t.deleted_at IS NULL AND c.schema_id = $2",
        partner_id,
        schema_id,
    )
    return int(count or 0)


async def unfinished_batches(conn: Connection, partner_id: str, schema_id: str) -> int:
    count = await conn.fetchval(
        "SELECT count(*) FROM batches WHERE partner_id = $1 AND schema_id = $2 "
        "AND completed_at IS NULL",
        partner_id,
        schema_id,
    )
    return int(count or 0)


async def deactivate(
    conn: Connection, partner_id: str, schema_id: str, version_number: int, at: str
) -> None:
    await conn.execute(
        "UPDATE schema_definitions SET deactivated_at = $3, updated_at = $3, "
        "version_number = $4 WHERE partner_id = $1 AND id = $2 AND deactivated_at IS NULL",
        partner_id,
        schema_id,
        at,
        version_number,
    )


async def list_active(conn: Connection, partner_id: str) -> list[Row]:
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM schema_definitions WHERE partner_id = $1 "
            "AND deactivated_at IS NULL ORDER BY created_at, name",
            partner_id,
        )
    )


async def page_all_active(conn: Connection, after_id: str, limit: int) -> list[Row]:
    """Every partner's active definitions, by id after ``after_id`` (the start-up scan;
    nothing request-scoped)."""
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM schema_definitions WHERE deactivated_at IS NULL "
            "AND id > $1 ORDER BY id LIMIT $2",
            after_id,
            limit,
        )
    )


async def active_versions(conn: Connection, partner_id: str) -> list[Row]:
    """(id, version_number) of the partner's active definitions: what a document built from
    them depends on, read without their JSON Schemas."""
    return list(
        await conn.fetch(
            "SELECT id, version_number FROM schema_definitions WHERE partner_id = $1 "
            "AND deactivated_at IS NULL ORDER BY id",
            partner_id,
        )
    )
