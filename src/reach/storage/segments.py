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

from reach.storage.database import Connection, Row

_SEGMENT_COLUMNS = "id, name, description, type, conditions, created_at, updated_at"
_RECORD_COLUMNS = "seq, id, schema_id, external_id, data, version, created_at, updated_at"

# (SQL boolean expression over the ``data`` column, its arguments from $4 on)
Predicate = tuple[str, list[Any]]
FIRST_ARG = 4


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

    async def _bounds(self) -> tuple[int, int] | None:
        """The lowest and highest seq of the tenant's contacts, None when there are none.
        Two subqueries, not ``SELECT min(seq), max(seq)``: SQLite answers a lone ``min`` or
        ``max`` from one end of ix_resources_listing, but reads the whole index (~130 ms at
        a million) to answer both at once."""
        where = "FROM resources WHERE tenant_id = $1 AND schema_id = $2"
        row = await self.conn.fetchrow(
            f"SELECT (SELECT min(seq) {where}), (SELECT max(seq) {where})",
            self.tenant_id,
            self.schema_id,
        )
        if row is None or row[0] is None:
            return None
        return int(row[0]), int(row[1])

    def _split(self, after: int, through: int) -> list[tuple[int, int]]:
        """``(after, through]`` as ``scan_split`` ranges of equal width in seq (seqs are dense
        per tenant unless other tenants' or schemas' rows interleave)."""
        if through <= after:
            return []
        step = -(-(through - after) // self.conn.scan_split)
        return [(at, min(at + step, through)) for at in range(after, through, step)]

    async def members(
        self, predicate: Predicate, *, after_seq: int, limit: int
    ) -> tuple[list[Row], int]:
        """The first ``limit`` members after ``after_seq``, in seq order, and how many members
        there are in all (on every page, not only after ``after_seq``)."""
        where, args = predicate
        lead = [self.tenant_id, self.schema_id]
        page = (
            f"SELECT {_RECORD_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND seq > $3 AND ({where})"
        )
        count = (
            "SELECT count(*) FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND seq > $3 AND ({where})"
        )
        order = f" ORDER BY seq LIMIT {int(limit)}"
        if self.conn.scan_split <= 1:
            # One statement each, without an upper bound on seq: the ones PostgreSQL plans.
            # Long reads all the same (``fetch_apart``), seen as such by the gauge.
            found = await self.conn.fetch_apart([(page + order, [*lead, after_seq, *args])])
            rows = list(found[0])
            if not after_seq and len(rows) < limit:
                return rows, len(rows)  # a first page that holds every member is the count
            counted = await self.conn.fetch_apart([(count, [*lead, 0, *args])])
            return rows, int(counted[0][0][0])
        bounds = await self._bounds()
        if bounds is None:
            return [], 0
        low, high = bounds[0] - 1, bounds[1]
        through = f" AND seq <= ${FIRST_ARG + len(args)}"
        ranges = self._split(max(low, after_seq), high)
        parts = await self.conn.fetch_apart(
            [(page + through + order, [*lead, at, *args, end]) for at, end in ranges]
        )
        # Each part yields its own first ``limit`` rows; the first ``limit`` of them all are
        # the page. A part that yields fewer has counted its whole range, so only what no
        # part read is left to count: the seqs up to ``after_seq`` and, in each full part,
        # those after its last row. Every row is read once in all, and a broad segment's
        # page costs next to nothing before its count.
        total = sum(len(rows) for rows in parts)
        rest = self._split(low, min(after_seq, high))
        rest += [
            (int(rows[-1]["seq"]), end)
            for rows, (_, end) in zip(parts, ranges, strict=True)
            if len(rows) >= limit
        ]
        if rest:
            counted = await self.conn.fetch_apart(
                [(count + through, [*lead, at, *args, end]) for at, end in rest]
            )
            total += sum(int(rows[0][0]) for rows in counted)
        return [row for rows in parts for row in rows][:limit], total

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
