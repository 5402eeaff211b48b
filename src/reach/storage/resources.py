"""Resource rows. :class:`TenantResources` is the one door to them.

It can only be built for a tenant, and every statement it runs filters by that tenant: no
query in the codebase reads or writes resource rows any other way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reach.storage.database import Connection, Row

_COLUMNS = "seq, id, schema_id, external_id, data, version, created_at, updated_at"


def _field_arg(dialect: str, field: str) -> str:
    """The argument that names a top-level JSON field for ``data ->> $n``."""
    return field if dialect == "postgresql" else f'$."{field}"'


class TenantResources:
    def __init__(self, conn: Connection, dialect: str, tenant_id: str) -> None:
        self.conn = conn
        self.dialect = dialect
        self.tenant_id = tenant_id
        self._lock_clause = " FOR UPDATE" if dialect == "postgresql" else ""

    async def get(
        self, schema_id: str, external_id: str, *, for_update: bool = False
    ) -> Row | None:
        """One record; ``for_update`` locks the row until the transaction ends (PostgreSQL —
        a SQLite write transaction already holds the database write lock)."""
        return await self.conn.fetchrow(
            f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND external_id = $3{self._lock_clause if for_update else ''}",
            self.tenant_id,
            schema_id,
            external_id,
        )

    async def get_many(self, schema_id: str, external_ids: Sequence[str]) -> list[Row]:
        if not external_ids:
            return []
        if self.dialect == "postgresql":
            rows = await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                "AND external_id = ANY($3::text[])",
                self.tenant_id,
                schema_id,
                list(external_ids),
            )
        else:
            marks = ", ".join(f"${i}" for i in range(3, 3 + len(external_ids)))
            rows = await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND external_id IN ({marks})",
                self.tenant_id,
                schema_id,
                *external_ids,
            )
        return list(rows)

    async def exists(self, schema_id: str, external_id: str) -> bool:
        found = await self.conn.fetchval(
            "SELECT 1 FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3",
            self.tenant_id,
            schema_id,
            external_id,
        )
        return found is not None

    async def insert(
        self, record_id: str, schema_id: str, external_id: str, data: str, at: str
    ) -> int | None:
        """Insert a new record; None when another writer created the same key first."""
        seq = await self.conn.fetchval(
            "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 1, $6, $6) "
            "ON CONFLICT (tenant_id, schema_id, external_id) DO NOTHING RETURNING seq",
            record_id,
            self.tenant_id,
            schema_id,
            external_id,
            data,
            at,
        )
        return None if seq is None else int(seq)

    async def update(self, seq: int, data: str, version: int, at: str) -> None:
        await self.conn.execute(
            "UPDATE resources SET data = $3, version = $4, updated_at = $5 "
            "WHERE tenant_id = $1 AND seq = $2",
            self.tenant_id,
            seq,
            data,
            version,
            at,
        )

    async def delete(self, schema_id: str, external_id: str) -> Row | None:
        return await self.conn.fetchrow(
            "DELETE FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3 "
            f"RETURNING {_COLUMNS}",
            self.tenant_id,
            schema_id,
            external_id,
        )

    async def delete_seqs(self, seqs: Sequence[int]) -> int:
        deleted = 0
        for seq in seqs:
            deleted += int(
                await self.conn.execute(
                    "DELETE FROM resources WHERE tenant_id = $1 AND seq = $2", self.tenant_id, seq
                )
                is not None
            )
        return deleted

    def _filters(self, filters: dict[str, str], start: int) -> tuple[str, list[Any]]:
        """Equality on top-level fields; each value is given as JSON text (``"a"``, ``true``)."""
        cast = "::jsonb" if self.dialect == "postgresql" else ""
        clause = ""
        args: list[Any] = []
        for field, value in filters.items():
            n = start + len(args)
            clause += f" AND data -> ${n} = ${n + 1}{cast}"
            args.extend((_field_arg(self.dialect, field), value))
        return clause, args

    async def page(
        self, schema_id: str, *, after_seq: int | None, limit: int, filters: dict[str, str]
    ) -> list[Row]:
        where, args = self._filters(filters, 4)
        return list(
            await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND seq > $3{where} ORDER BY seq LIMIT {int(limit)}",
                self.tenant_id,
                schema_id,
                after_seq or 0,
                *args,
            )
        )

    async def count(self, schema_id: str, filters: dict[str, str]) -> int:
        where, args = self._filters(filters, 3)
        return int(
            await self.conn.fetchval(
                f"SELECT count(*) FROM resources WHERE tenant_id = $1 AND schema_id = $2{where}",
                self.tenant_id,
                schema_id,
                *args,
            )
        )

    async def referencing(
        self, schema_id: str, field: str, external_ids: Sequence[str]
    ) -> list[Row]:
        """Records of ``schema_id`` whose top-level ``field`` holds one of ``external_ids``."""
        if not external_ids:
            return []
        marks = ", ".join(f"${i}" for i in range(4, 4 + len(external_ids)))
        return list(
            await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND data ->> $3 IN ({marks})",
                self.tenant_id,
                schema_id,
                _field_arg(self.dialect, field),
                *external_ids,
            )
        )
