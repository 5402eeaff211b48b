"""Resource rows. :class:`TenantResources` is the one door to them.

It can only be built for a tenant, and every statement it runs filters by that tenant: no
query in the codebase reads or writes resource rows any other way. Every write it makes is
guarded (:mod:`reach.storage.guard`): it lands only while the tenant is live and the schema
version the caller validated against is current, whatever the caller's caches believed.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson

from reach.storage import events
from reach.storage import idempotency as keys
from reach.storage.database import Connection, Row
from reach.storage.events import EventRow
from reach.storage.guard import Guard, guarded_writes
from reach.storage.json_filters import Filter, field_arg, field_value, filter_clause

_COUNT_SLOTS = 16
_COLUMNS = "seq, id, schema_id, external_id, data, version, created_at, updated_at"
_GET = (
    f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3"
)


@cache
def _update_with_event(update: str, first_arg: int) -> str:
    """The few statements there are, built once rather than per request (PostgreSQL runs
    them; a SQLite request only builds its door)."""
    return events.update_with_event(update, first_arg)


class TenantResources:
    """``schema``: the (id, version) of the definition the caller validates records against;
    writes land only while it is current. Without it only the tenant is guarded."""

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
        self._insert, self._update, self._delete = guarded_writes(
            dialect, schema is not None, _COLUMNS
        )
        self._update_with_event = _update_with_event(self._update, 7 + len(self.guard.args()))

    async def get(
        self, schema_id: str, external_id: str, *, for_update: bool = False
    ) -> Row | None:
        """One record; ``for_update`` locks the row until the transaction ends (PostgreSQL —
        a SQLite write transaction already holds the database write lock)."""
        return await self.conn.fetchrow(
            f"{_GET}{self._lock_clause if for_update else ''}",
            self.tenant_id,
            schema_id,
            external_id,
        )

    async def get_standalone(self, schema_id: str, external_id: str) -> Row | None:
        """One record, read without beginning the transaction (no lock; a snapshot of its own
        if it has not begun): for a lone read, or one :meth:`update_if_version` re-checks."""
        return await self.conn.fetchrow_standalone(_GET, self.tenant_id, schema_id, external_id)

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

    async def exists(self, schema_id: str, external_id: str, *, share: bool = False) -> bool:
        """Whether the record exists; ``share`` (a write about to reference it) holds a key-share
        lock on PostgreSQL until commit, so a concurrent delete of the target waits for this
        write and then sees the new reference (409) instead of leaving it dangling."""
        lock = " FOR KEY SHARE" if share and self.dialect == "postgresql" else ""
        found = await self.conn.fetchval(
            "SELECT 1 FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
            f"AND external_id = $3{lock}",
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
            self._insert,
            record_id,
            self.tenant_id,
            schema_id,
            external_id,
            data,
            at,
            *self.guard.args(),
        )
        if seq is None:
            await self.guard.explain_miss(self.conn)
            return None
        await self._add_to_count(schema_id, 1)
        return int(seq)

    async def update_if_version(
        self,
        seq: int,
        data: str,
        at: str,
        read_version: int,
        event: EventRow | None = None,
        key: keys.KeyRow | None = None,
    ) -> bool:
        """Compare-and-set, as the request's final write: store ``data`` as version
        ``read_version + 1`` if the record still is at ``read_version``. False when another
        write (or a delete) came first: nothing changed, and the caller reads again.

        Every write moves the version on and a seq is never reused, so an unchanged version
        means an unchanged record. PostgreSQL re-checks the condition on the newest row
        version after waiting for a concurrent writer's lock, so this holds under READ
        COMMITTED too. The guard rides in the same statement; when it is what failed, this
        raises :class:`~reach.errors.StaleScope` instead of returning False.

        ``event`` (:mod:`reach.storage.events`) is appended only if the update lands: on
        PostgreSQL in the same statement; on SQLite, whose CTEs cannot write, as a second
        statement in a transaction the update begins. ``key`` (PostgreSQL only): the
        ``Idempotency-Key`` answer stored by the same statement
        (:func:`reach.storage.idempotency.keyed_update`, which may raise its ``Replay`` or
        ``KeyBusy`` instead of returning False).
        """
        args = (
            self.tenant_id,
            seq,
            data,
            read_version + 1,
            at,
            read_version,
            *self.guard.args(),
        )
        if key is not None:
            changed = await keys.update_keyed(self.conn, self._update, args, event, key)
        elif event is None:
            changed = await self.conn.execute_final(self._update, *args)
        elif self.dialect == "postgresql":
            _id, _tenant, partner, kind, schema_id, external_id, _v, _at, body = event
            changed = await self.conn.execute_final(
                self._update_with_event, *args, _id, partner, kind, schema_id, external_id, body
            )
        else:
            changed = int(await self.conn.execute(self._update, *args))
            if changed:
                await events.append(self.conn, [event])
        if changed:
            return True
        await self.guard.explain_miss(self.conn)
        return False

    async def delete(self, schema_id: str, external_id: str) -> Row | None:
        row = await self.conn.fetchrow(self._delete, self.tenant_id, schema_id, external_id)
        if row is None:
            await self.guard.explain_miss(self.conn, schema=False)
            return None
        await self._add_to_count(schema_id, -1)
        return row

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

    async def page(
        self, schema_id: str, *, after_seq: int | None, limit: int, filters: Sequence[Filter]
    ) -> list[Row]:
        where, args = filter_clause(self.dialect, filters, 4)
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

    async def count(self, schema_id: str, filters: Sequence[Filter]) -> int:
        """The number of records; without filters it is read from ``resource_counts`` (a few
        rows), not counted, so a list's ``total`` costs the same at any size."""
        if not filters:
            total = await self.conn.fetchval(
                "SELECT sum(count) FROM resource_counts WHERE tenant_id = $1 AND schema_id = $2",
                self.tenant_id,
                schema_id,
            )
            return int(total or 0)
        where, args = filter_clause(self.dialect, filters, 3)
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
                f"AND {field_value(self.dialect, field, 3)} IN ({marks})",
                self.tenant_id,
                schema_id,
                field_arg(self.dialect, field),
                *external_ids,
            )
        )

    # -- bulk variants for the batch worker (one statement per chunk, not one per record)

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
                _COLUMNS, schema_id, external_ids, " FOR UPDATE" if for_update else ""
            )
        return list(
            await self.conn.fetch(
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
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
                f"RETURNING {_COLUMNS}",
                self.tenant_id,
                list(seqs),
            )
        else:
            rows = await self.conn.fetch(
                "DELETE FROM resources WHERE tenant_id = $1 "
                f"AND seq IN (SELECT value FROM json_each($2)) RETURNING {_COLUMNS}",
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
                f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 "
                f"AND seq > $3 AND seq <= $4 ORDER BY seq LIMIT {int(limit)}{lock}",
                self.tenant_id,
                schema_id,
                after_seq,
                until_seq,
            )
        )
