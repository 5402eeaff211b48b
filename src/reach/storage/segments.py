"""Segments and their members, behind two tenant doors.

:class:`TenantSegments` holds the segment rows; :class:`SegmentRecords` is the sibling of
:class:`reach.storage.resources.TenantResources` that reads resource rows *through* a segment's
predicate. Both add ``tenant_id = $1`` to every statement; predicates come from
:mod:`reach.domain.segment_conditions`, whose SQL binds every value as a parameter (numbered from
``$4`` here, after tenant, schema and the key they follow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reach.storage.database import Connection, Query, Row

_SEGMENT_COLUMNS = "id, name, description, type, conditions, created_at, updated_at"
_RECORD_COLUMNS = "seq, id, schema_id, external_id, data, version, created_at, updated_at"

# (SQL boolean expression over the ``data`` column, its arguments from $4 on)
Predicate = tuple[str, list[Any]]
FIRST_ARG = 4
_THROUGH = "/*through*/"  # where a split scan's part puts its upper bound on seq


class TenantSegments:
    def __init__(self, conn: Connection, tenant_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id

    async def get(self, segment_id: str) -> Row | None:
        return await self.conn.fetchrow(
            f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE tenant_id = $1 AND id = $2",
            self.tenant_id,
            segment_id,
        )

    async def all(self) -> list[Row]:
        return list(
            await self.conn.fetch(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE tenant_id = $1 "
                "ORDER BY created_at, id",
                self.tenant_id,
            )
        )

    async def page(self, after: tuple[str, str] | None, limit: int) -> list[Row]:
        if after is None:
            return list(
                await self.conn.fetch(
                    f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE tenant_id = $1 "
                    f"ORDER BY created_at, id LIMIT {int(limit)}",
                    self.tenant_id,
                )
            )
        return list(
            await self.conn.fetch(
                f"SELECT {_SEGMENT_COLUMNS} FROM segments WHERE tenant_id = $1 "
                "AND (created_at > $2 OR (created_at = $2 AND id > $3)) "
                f"ORDER BY created_at, id LIMIT {int(limit)}",
                self.tenant_id,
                after[0],
                after[1],
            )
        )

    async def count(self) -> int:
        found = await self.conn.fetchval(
            "SELECT count(*) FROM segments WHERE tenant_id = $1", self.tenant_id
        )
        return int(found)

    async def insert(self, values: dict[str, Any]) -> None:
        await self.conn.execute(
            "INSERT INTO segments (tenant_id, id, name, description, type, conditions, "
            "created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            self.tenant_id,
            values["id"],
            values["name"],
            values["description"],
            values["type"],
            values["conditions"],
            values["created_at"],
        )

    async def update(self, values: dict[str, Any]) -> Row | None:
        return await self.conn.fetchrow(
            "UPDATE segments SET name = $3, description = $4, type = $5, conditions = $6, "
            f"updated_at = $7 WHERE tenant_id = $1 AND id = $2 RETURNING {_SEGMENT_COLUMNS}",
            self.tenant_id,
            values["id"],
            values["name"],
            values["description"],
            values["type"],
            values["conditions"],
            values["updated_at"],
        )

    async def delete(self, segment_id: str) -> Row | None:
        return await self.conn.fetchrow(
            f"DELETE FROM segments WHERE tenant_id = $1 AND id = $2 RETURNING {_SEGMENT_COLUMNS}",
            self.tenant_id,
            segment_id,
        )


class SegmentRecords:
    """Records of one tenant's contacts schema, read through segment predicates."""

    def __init__(self, conn: Connection, tenant_id: str, schema_id: str) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.schema_id = schema_id

    async def _queries(self, sql: str, args: list[Any], after_seq: int) -> list[Query]:
        """``sql`` for each part the connection splits a scan into, its ``_THROUGH`` mark
        made an upper bound on seq: ``(after, through]`` ranges of equal width in seq covering
        the contacts after ``after_seq`` (seqs are dense per tenant unless other schemas' rows
        interleave). Unsplit, the one query has no upper bound: the statement stays the one
        PostgreSQL always planned."""
        lead = [self.tenant_id, self.schema_id]
        parts = self.conn.scan_split
        if parts <= 1:
            return [(sql.replace(_THROUGH, ""), [*lead, after_seq, *args])]
        row = await self.conn.fetchrow(
            "SELECT min(seq), max(seq) FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            "AND seq > $3",
            *lead,
            after_seq,
        )
        if row is None or row[0] is None:
            return []
        low, high = int(row[0]) - 1, int(row[1])
        step = -(-(high - low) // parts)
        bounded = sql.replace(_THROUGH, f"AND seq <= ${FIRST_ARG + len(args)} ")
        return [
            (bounded, [*lead, at, *args, min(at + step, high)]) for at in range(low, high, step)
        ]

    async def page(self, predicate: Predicate, *, after_seq: int, limit: int) -> list[Row]:
        """The first ``limit`` members after ``after_seq``, in seq order. Split, each range
        yields its own first ``limit`` and the first ``limit`` of their concatenation are the
        answer; a range never reads past its end, so the parts together read no more rows
        than one scan would."""
        where, args = predicate
        sql = (
            f"SELECT {_RECORD_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND seq > $3 {_THROUGH}AND ({where}) ORDER BY seq LIMIT {int(limit)}"
        )
        found = await self.conn.fetch_apart(await self._queries(sql, args, after_seq))
        return [row for rows in found for row in rows][:limit]

    async def count(self, predicate: Predicate) -> int:
        where, args = predicate
        sql = (
            "SELECT count(*) FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND seq > $3 {_THROUGH}AND ({where})"
        )
        found = await self.conn.fetch_apart(await self._queries(sql, args, 0))
        return sum(int(rows[0][0]) for rows in found)

    async def exists(self, external_id: str) -> bool:
        found = await self.conn.fetchval(
            "SELECT 1 FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3",
            self.tenant_id,
            self.schema_id,
            external_id,
        )
        return found is not None

    async def matching(self, external_id: str, predicates: Sequence[Predicate]) -> list[bool]:
        """Whether one record matches each predicate, in a single statement (one column per
        predicate); [] when the record does not exist."""
        if not predicates:
            return []
        columns = ", ".join(f"({where}) AS m{i}" for i, (where, _) in enumerate(predicates))
        args = [arg for _, more in predicates for arg in more]
        row = await self.conn.fetchrow(
            f"SELECT {columns} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            "AND external_id = $3",
            self.tenant_id,
            self.schema_id,
            external_id,
            *args,
        )
        if row is None:
            return []
        return [bool(row[f"m{i}"]) for i in range(len(predicates))]
