"""Channel accounts. :class:`TenantChannelAccounts` adds ``tenant_id = $1`` to every statement."""

from __future__ import annotations

from reach.storage.database import Connection, Row

_COLUMNS = "id, type, metadata, created_at, updated_at"


class TenantChannelAccounts:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    async def all(self) -> list[Row]:
        return list(
            await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 "
                "ORDER BY created_at, id",
                self.tenant_id,
            )
        )

    async def get(self, account_id: str) -> Row | None:
        return await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM channel_accounts WHERE tenant_id = $1 AND id = $2",
            self.tenant_id,
            account_id,
        )

    async def insert(self, account_id: str, kind: str, metadata: str, at: str) -> None:
        await self.conn.execute(
            "INSERT INTO channel_accounts (tenant_id, id, type, metadata, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5)",
            self.tenant_id,
            account_id,
            kind,
            metadata,
            at,
        )

    async def update(self, account_id: str, metadata: str, at: str) -> Row | None:
        return await self.conn.fetchrow(
            "UPDATE channel_accounts SET metadata = $3, updated_at = $4 "
            f"WHERE tenant_id = $1 AND id = $2 RETURNING {_COLUMNS}",
            self.tenant_id,
            account_id,
            metadata,
            at,
        )
