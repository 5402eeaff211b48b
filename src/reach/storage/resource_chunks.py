"""The resource door's chunk statements: what the batch worker runs once per chunk of records
instead of once per record, and the door's state and counters they share with the single-record
statements. :class:`ResourceChunks` is the base of :class:`reach.storage.resources.TenantResources`
and is never built on its own: like the rest of the door, every statement filters by the door's
tenant, and every write is guarded (:mod:`reach.storage.guard`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson

from reach.storage.database import Connection, Row
from reach.storage.guard import Guard

COLUMNS = "seq, id, schema_id, external_id, data, version, created_at, updated_at"
_COUNT_SLOTS = 16


class ResourceChunks:
    """The door's state (its connection, tenant and guard; ``schema`` as in
    :class:`reach.storage.resources.TenantResources`), its counters and its chunk statements."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: str,
        schema: tuple[str, int] | None = None,
    ) -> None:
        self.conn = conn
        self.dialect = dialect = conn.dialect
        self.tenant_id = tenant_id
        self._lock_clause = " FOR UPDATE" if dialect == "postgresql" else ""
        self.guard = Guard(dialect, tenant_id, schema)

    async def _add_to_count(self, schema_id: str, delta: int) -> None:
        """Keep ``resource_counts`` in step, in the same transaction as the rows it counts.

        PostgreSQL spreads concurrent writers over a few slots so creates in one tenant do
        not queue on a single row lock; SQLite has one writer at a time and uses slot 0.
        """
        if not delta:
            return
        slot = random.randrange(_COUNT_SLOTS) if self.dialect == "postgresql" else 0  # noqa: S311  # spreads load, not a secret
        await self.conn.execute(
            "INSERT INTO resource_counts (tenant_id, schema_id, slot, count) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id, schema_id, slot) "
            "DO UPDATE SET count = resource_counts.count + excluded.count",
            self.tenant_id,
            schema_id,
            slot,
            delta,
        )

    async def _subtract_deleted(self, rows: Sequence[Row]) -> int:
        per_schema = Counter(str(row["schema_id"]) for row in rows)
        # Sorted, so two transactions decrementing several schemas lock counters in one order.
        for schema_id in sorted(per_schema):
            await self._add_to_count(schema_id, -per_schema[schema_id])
        return len(rows)

    def _in_list(self, n: int) -> str:
        """``= ANY($n::text[])`` on PostgreSQL; on SQLite one JSON array argument, so a
        chunk of any size is a single bound parameter."""
        if self.dialect == "postgresql":
            return f"= ANY(${n}::text[])"
        return f"IN (SELECT value FROM json_each(${n}))"

    def _list_arg(self, values: Sequence[Any]) -> Any:
        if self.dialect == "postgresql":
            return list(values)
        return orjson.dumps(list(values)).decode()

    async def load_many(
        self, schema_id: str, external_ids: Sequence[str], *, for_update: bool = False
    ) -> list[Row]:
        """Records of one schema by external id; ``for_update`` locks them in key order (the
        same order in every worker, so two chunks never deadlock on each other's rows)."""
        if not external_ids:
            return []
        if self.dialect == "postgresql":
            return await self._lookup(
                COLUMNS, schema_id, external_ids, " FOR UPDATE" if for_update else ""
            )
        return list(
            await self.conn.fetch(
                f"SELECT {COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND external_id {self._in_list(3)}",
                self.tenant_id,
                schema_id,
                self._list_arg(external_ids),
            )
        )

    async def _lookup(
        self, columns: str, schema_id: str, external_ids: Sequence[str], lock: str
    ) -> list[Row]:
        """PostgreSQL: one unique-key probe per id, in key order. A lateral subquery (which a
        locking clause keeps from being flattened) pins the plan to the unique index even
        while the table's statistics are stale, as on a fresh database under a first import."""
        return list(
            await self.conn.fetch(
                f"SELECT r.* FROM unnest($3::text[]) AS k(eid), LATERAL (SELECT {columns} "
                "FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = k.eid"
                f"{lock or ' LIMIT 1'}) AS r",
                self.tenant_id,
                schema_id,
                sorted(set(external_ids)),
            )
        )

    async def existing_keys(
        self, schema_id: str, external_ids: Sequence[str], *, share: bool = False
    ) -> set[str]:
        """Which of ``external_ids`` exist; ``share`` as in :meth:`exists` (key-share locks,
        taken in key order, so a concurrent delete of a target waits for the referencing write)."""
        if not external_ids:
            return set()
        if self.dialect == "postgresql":
            rows = await self._lookup(
                "external_id", schema_id, external_ids, " FOR KEY SHARE" if share else ""
            )
        else:
            rows = list(
                await self.conn.fetch(
                    "SELECT external_id FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                    f"AND external_id {self._in_list(3)}",
                    self.tenant_id,
                    schema_id,
                    self._list_arg(external_ids),
                )
            )
        return {row["external_id"] for row in rows}

    async def insert_many(
        self, schema_id: str, records: Sequence[tuple[str, str, str, int]], at: str
    ) -> int:
        """Insert (id, external id, data, version) rows; returns how many were inserted — fewer
        than given when another writer created one of the keys first."""
        if not records:
            return 0
        await self.guard.hold(self.conn)
        if self.dialect == "postgresql":
            rows = await self.conn.fetch(
                "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, "
                "created_at, updated_at) SELECT u.id::uuid, $1, $2, u.eid, u.data::jsonb, "
                "u.version, $3, $3 FROM unnest($4::text[], $5::text[], $6::text[], $7::int[]) "
                "AS u(id, eid, data, version) "
                "ON CONFLICT (tenant_id, schema_id, external_id) DO NOTHING RETURNING seq",
                self.tenant_id,
                schema_id,
                at,
                [r[0] for r in records],
                [r[1] for r in records],
                [r[2] for r in records],
                [r[3] for r in records],
            )
            inserted = len(rows)
        else:
            inserted = int(
                await self.conn.executemany(
                    "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, "
                    "version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) "
                    "ON CONFLICT (tenant_id, schema_id, external_id) DO NOTHING",
                    [(r[0], self.tenant_id, schema_id, r[1], r[2], r[3], at) for r in records],
                )
            )
        await self._add_to_count(schema_id, inserted)
        return inserted

    async def update_many(self, records: Sequence[tuple[int, str, int, str]]) -> None:
        """Rewrite (seq, data, version, updated_at) rows of this tenant."""
        if not records:
            return
        await self.guard.hold(self.conn)
        if self.dialect == "postgresql":
            await self.conn.execute(
                "UPDATE resources AS r SET data = u.data::jsonb, version = u.version, "
                "updated_at = u.at::timestamptz "
                "FROM unnest($2::bigint[], $3::text[], $4::int[], $5::text[]) "
                "AS u(seq, data, version, at) WHERE r.tenant_id = $1 AND r.seq = u.seq",
                self.tenant_id,
                [r[0] for r in records],
                [r[1] for r in records],
                [r[2] for r in records],
                [r[3] for r in records],
            )
            return
        await self.conn.executemany(
            "UPDATE resources SET data = $3, version = $4, updated_at = $5 "
            "WHERE tenant_id = $1 AND seq = $2",
            [(self.tenant_id, r[0], r[1], r[2], r[3]) for r in records],
        )

    async def delete_many(self, seqs: Sequence[int]) -> list[Row]:
        """Delete records by seq; returns them as they were (their change events need it)."""
        if not seqs:
            return []
        await self.guard.hold(self.conn, schema=False)
        if self.dialect == "postgresql":
            rows = await self.conn.fetch(
                "DELETE FROM resources WHERE tenant_id = $1 AND seq = ANY($2::bigint[]) "
                f"RETURNING {COLUMNS}",
                self.tenant_id,
                list(seqs),
            )
        else:
            rows = await self.conn.fetch(
                "DELETE FROM resources WHERE tenant_id = $1 "
                f"AND seq IN (SELECT value FROM json_each($2)) RETURNING {COLUMNS}",
                self.tenant_id,
                self._list_arg(seqs),
            )
        await self._subtract_deleted(rows)
        return list(rows)

    async def max_seq(self, schema_id: str) -> int:
        found = await self.conn.fetchval(
            "SELECT max(seq) FROM resources WHERE tenant_id = $1 AND schema_id = $2",
            self.tenant_id,
            schema_id,
        )
        return int(found or 0)

    async def page_between(
        self, schema_id: str, *, after_seq: int, until_seq: int, limit: int, for_update: bool
    ) -> list[Row]:
        """Records with ``after_seq < seq <= until_seq`` in seq order (a delete-all batch walks
        the records that existed when it was accepted)."""
        lock = self._lock_clause if for_update else ""
        return list(
            await self.conn.fetch(
                f"SELECT {COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT {int(limit)}{lock}",
                self.tenant_id,
                schema_id,
                after_seq,
                until_seq,
            )
        )
