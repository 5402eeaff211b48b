"""Tenants (Reach "businesses"). Every query is scoped by the owning partner."""

from __future__ import annotations

from typing import Any

from reach.storage import notify
from reach.storage.database import Connection, DuplicateKey, Row, is_unique_violation

_COLUMNS = (
    "id, partner_id, external_id, name, website, attributes, created_at, updated_at, deleted_at, "
    "external_id_changed_at"
)
ORDER_COLUMNS = {"name": "name", "created_at": "created_at", "updated_at": "updated_at"}


async def insert(conn: Connection, values: dict[str, Any]) -> None:
    """Raises :class:`DuplicateKey` when the partner already has this external id."""
    try:
        await _insert(conn, values)
    except Exception as exc:
        if is_unique_violation(exc):
            raise DuplicateKey(values["external_id"]) from exc
        raise


async def _insert(conn: Connection, values: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO tenants (id, partner_id, external_id, name, website, attributes, "
        "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
        values["id"],
        values["partner_id"],
        values["external_id"],
        values["name"],
        values["website"],
        values["attributes"],
        values["created_at"],
    )


async def get_by_id(conn: Connection, partner_id: str, tenant_id: str) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tenants WHERE partner_id = $1 AND id = $2", partner_id, tenant_id
    )


async def get_for_writing(conn: Connection, partner_id: str, tenant_id: str) -> Row | None:
    """:func:`get_by_id` for a transaction about to write into the tenant: on PostgreSQL the
    row is share-locked until it ends, so a soft delete racing with it waits for those writes
    to commit (and what follows sees the tenant deleted) instead of letting them land in a
    tenant already deleted. SQLite's write transaction excludes the delete already."""
    lock = " FOR SHARE" if conn.dialect == "postgresql" else ""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tenants WHERE partner_id = $1 AND id = $2{lock}",
        partner_id,
        tenant_id,
    )


async def get_by_external_id(conn: Connection, partner_id: str, external_id: str) -> Row | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM tenants WHERE partner_id = $1 AND external_id = $2",
        partner_id,
        external_id,
    )


async def external_id_taken(conn: Connection, partner_id: str, external_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM tenants WHERE partner_id = $1 AND external_id = $2", partner_id, external_id
    )
    return found is not None


async def id_taken(conn: Connection, partner_id: str, tenant_id: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM tenants WHERE partner_id = $1 AND id = $2", partner_id, tenant_id
    )
    return found is not None


async def update(conn: Connection, partner_id: str, tenant_id: str, values: dict[str, Any]) -> None:
    """Raises :class:`DuplicateKey` when the new external id is another tenant's."""
    try:
        await _update(conn, partner_id, tenant_id, values)
    except Exception as exc:
        if is_unique_violation(exc):
            raise DuplicateKey(values["external_id"]) from exc
        raise
    # Other processes cache tenants: tell them when (and only if) this commits.
    await notify.announce(conn, notify.TENANT, partner_id, tenant_id)


async def _update(
    conn: Connection, partner_id: str, tenant_id: str, values: dict[str, Any]
) -> None:
    await conn.execute(
        "UPDATE tenants SET external_id = $3, name = $4, website = $5, attributes = $6, "
        "updated_at = $7, deleted_at = $8, external_id_changed_at = $9 "
        "WHERE partner_id = $1 AND id = $2",
        partner_id,
        tenant_id,
        values["external_id"],
        values["name"],
        values["website"],
        values["attributes"],
        values["updated_at"],
        values["deleted_at"],
        values["external_id_changed_at"],
    )


def _search_clause(dialect: str, start: int) -> str:
    like = "ILIKE" if dialect == "postgresql" else "LIKE"  # SQLite LIKE ignores ASCII case
    return (
        f" AND (name {like} ${start} ESCAPE '\\' OR external_id {like} ${start} ESCAPE '\\'"
        f" OR coalesce(website, '') {like} ${start} ESCAPE '\\')"
    )


async def page(
    conn: Connection,
    partner_id: str,
    *,
    order_by: str,
    descending: bool,
    after: tuple[str, str] | None,
    limit: int,
    search: str | None,
    include_deleted: bool,
) -> tuple[list[Row], int]:
    """One keyset page ordered by (``order_by``, id), plus the total matching the filters."""
    column = ORDER_COLUMNS[order_by]
    where = "partner_id = $1"
    args: list[Any] = [partner_id]
    if not include_deleted:
        where += " AND deleted_at IS NULL"
    if search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        args.append(f"%{escaped}%")
        where += _search_clause(conn.dialect, len(args))
    total = int(await conn.fetchval(f"SELECT count(*) FROM tenants WHERE {where}", *args))
    cmp = "<" if descending else ">"
    direction = "DESC" if descending else "ASC"
    page_where = where
    if after is not None:
        args.extend(after)
        n = len(args)
        page_where += f" AND ({column}, id) {cmp} (${n - 1}, ${n})"
    args.append(limit)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM tenants WHERE {page_where} "
        f"ORDER BY {column} {direction}, id {direction} LIMIT ${len(args)}",
        *args,
    )
    return list(rows), total
