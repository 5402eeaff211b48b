"""Resource rows. :class:`TenantResources` is the one door to them.

It can only be built for a tenant, and every statement it runs filters by that tenant: no
query in the codebase reads or writes resource rows any other way. Every write it makes is
guarded (:mod:`reach.storage.guard`): it lands only while the tenant is live and the schema
version the caller validated against is current, whatever the caller's caches believed.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from reach.storage import events
from reach.storage import idempotency as keys
from reach.storage.database import Connection, Row
from reach.storage.events import EventRow
from reach.storage.guard import guarded_writes
from reach.storage.json_filters import Filter, field_arg, field_value, filter_clause
from reach.storage.resource_chunks import COLUMNS as _COLUMNS
from reach.storage.resource_chunks import ResourceChunks

_GET = (
    f"SELECT {_COLUMNS} FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3"
)


@cache
def _update_with_event(update: str, first_arg: int) -> str:
    """The few statements there are, built once rather than per request (PostgreSQL runs
    them; a SQLite request only builds its door)."""
    return events.update_with_event(update, first_arg)


class TenantResources(ResourceChunks):
    """``schema``: the (id, version) of the definition the caller validates records against;
    writes land only while it is current. Without it only the tenant is guarded. The chunk
    statements of the batch worker are its base's (:mod:`reach.storage.resource_chunks`)."""

    def __init__(
        self,
        conn: Connection,
        tenant_id: str,
        schema: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(conn, tenant_id, schema)
        self._insert, self._update, self._delete = guarded_writes(
            self.dialect, schema is not None, _COLUMNS
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
