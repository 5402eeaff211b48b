"""The write guard: a resource write commits only if its tenant is live and the schema version
it was validated against is still current.

Other processes cache tenants and schema definitions for a few seconds, and a notification
that one changed can arrive late or not at all, so correctness cannot rest on the caches. The
guard is part of the write itself: two ``EXISTS`` sub-selects folded into the write's
``WHERE`` (one statement, no extra round trip), or, for the batch paths, one statement at the
transaction's first write. A guarded write that fails touches nothing, and the caller learns
why from :class:`reach.errors.StaleScope`.

Races (docs/decisions.md, *Writes guard their tenant and schema*). On SQLite a write holds the
database's only write lock from its first statement to its commit, so nothing commits in
between at all. On PostgreSQL a write's sub-selects read the tenant and schema rows as of its
statement's snapshot, without locking them, so a write that checked just before a tenant
delete or schema change committed may still commit just after it. The change therefore waits,
after its own COMMIT and before it is acknowledged, until every transaction that began before
that COMMIT has ended (:func:`outlive_older_transactions`): whatever lands, lands before the
acknowledgement, and every write that starts later sees the change and is refused. The writes,
which are many, pay nothing for it; the changes, which are rare, pay a short wait. (Share locks
on the two rows did the same job before, at the price of a row lock, and its WAL record, on
the tenant's and the schema's row with every write.)
"""

from __future__ import annotations

import asyncio
import logging
from functools import cache
from typing import Any, Protocol

from reach.errors import StaleScope
from reach.storage.database import Connection

log = logging.getLogger("reach.storage")

# The announced changes (reach.storage.notify messages, "topic:partner:key") a write may have
# checked against: a tenant's row, or a partner's schema definitions.
SCOPE_TOPICS = ("tenant:", "schemas:")


class Guard:
    """What one :class:`~reach.storage.resources.TenantResources` write must find: its tenant
    live and, when the writer validated against one, that schema version current."""

    __slots__ = ("dialect", "held", "schema", "tenant_id")

    def __init__(self, dialect: str, tenant_id: str, schema: tuple[str, int] | None) -> None:
        self.dialect = dialect
        self.tenant_id = tenant_id
        self.schema = schema
        # Checked in this transaction: a change to either row now waits for it to end.
        self.held = False

    def clause(self, tenant_arg: int, schema_arg: int) -> str:
        """`` AND EXISTS (…)`` conditions for a write's ``WHERE``: ``$tenant_arg`` is the
        tenant id, ``$schema_arg`` and the next one the schema id and version (see
        :meth:`args`), when the guard has a schema."""
        sql = f" AND EXISTS (SELECT 1 FROM tenants WHERE id = ${tenant_arg} AND deleted_at IS NULL)"
        if self.schema is not None:
            sql += (
                f" AND EXISTS (SELECT 1 FROM schema_definitions WHERE id = ${schema_arg} "
                f"AND version_number = ${schema_arg + 1} AND deactivated_at IS NULL)"
            )
        return sql

    def args(self) -> tuple[str, int] | tuple[()]:
        return () if self.schema is None else self.schema

    async def hold(self, conn: Connection, *, schema: bool = True) -> None:
        """Check as a statement of its own, once per transaction (the batch paths, which write
        several statements); ``schema=False`` for deletes, which validate nothing. Raises
        :class:`StaleScope` when the check fails."""
        if self.held:
            return
        guard = self if schema else Guard(self.dialect, self.tenant_id, None)
        found = await conn.fetchval(
            f"SELECT 1 WHERE TRUE{guard.clause(1, 2)}", self.tenant_id, *guard.args()
        )
        if found is None:
            raise StaleScope()
        self.held = guard.schema == self.schema

    async def explain_miss(self, conn: Connection, *, schema: bool = True) -> None:
        """A guarded write touched no row: raise :class:`StaleScope` if the guard is why (the
        other reason — a lost compare-and-set, a duplicate key, a deleted record — is the
        caller's to handle). A plain read, and only on this rare path."""
        check = Guard("", self.tenant_id, self.schema if schema else None)
        found = await conn.fetchrow_standalone(
            f"SELECT 1 WHERE TRUE{check.clause(1, 2)}", self.tenant_id, *check.args()
        )
        if found is None:
            raise StaleScope()


class _Fetcher(Protocol):
    async def fetchval(self, query: str, *args: Any) -> Any: ...


# Transactions of other client sessions of this database that began before ``$1``. A
# session's ``xact_start`` is set when its transaction starts, before it takes its first
# snapshot, so one that began later cannot have checked a row as it was before the change.
_OLDER = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
    "AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND xact_start < $1"
)


def changes_scope(changes: list[str]) -> bool:
    """Whether a committed transaction's announced changes may contradict a guarded write."""
    return any(change.startswith(SCOPE_TOPICS) for change in changes)


async def outlive_older_transactions(conn: _Fetcher, within: float) -> None:
    """PostgreSQL, after a tenant or schema change has committed on ``conn`` (outside any
    transaction): wait until every transaction that began before now has ended, at most
    ``within`` seconds. Never raises: the change has committed, and its client must hear so;
    a transaction that outlives the bound (an idle session left in a transaction) is named in
    a warning, as the one guarded write that might still land after the acknowledgement."""
    try:
        since = await conn.fetchval("SELECT clock_timestamp()")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        delay = 0.001
        while await conn.fetchval(_OLDER, since):
            if loop.time() >= deadline:
                log.warning(
                    "a tenant or schema change committed while other transactions that began "
                    "before it were still open after %.1f s; acknowledging it anyway",
                    within,
                )
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
    except Exception as exc:  # the change has committed; waiting is a courtesy to the guard
        log.warning("could not wait for older transactions after a scope change: %r", exc)


@cache
def guarded_writes(dialect: str, with_schema: bool, columns: str) -> tuple[str, str, str]:
    """The single-record writes with the guard folded into their ``WHERE``: insert, update
    (compare-and-set) and delete (returning ``columns``), for
    :class:`~reach.storage.resources.TenantResources`. Built once per engine and guard shape."""
    guard = Guard(dialect, "", ("", 0) if with_schema else None)
    # SQLite's seq is the rowid (AUTOINCREMENT, migration 0017): assigned like PostgreSQL's.
    values = (
        "$1::uuid, $2::uuid, $3::uuid, $4::text, $5::jsonb, 1, $6::timestamptz, $6"
        if dialect == "postgresql"
        else "$1, $2, $3, $4, $5, 1, $6, $6"
    )
    insert = (
        "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, "
        f"created_at, updated_at) SELECT {values} WHERE TRUE{guard.clause(2, 7)} "
        "ON CONFLICT (tenant_id, schema_id, external_id) DO NOTHING RETURNING seq"
    )
    update = (
        "UPDATE resources SET data = $3, version = $4, updated_at = $5 "
        f"WHERE tenant_id = $1 AND seq = $2 AND version = $6{guard.clause(1, 7)}"
    )
    delete = (
        "DELETE FROM resources WHERE tenant_id = $1 AND schema_id = $2 AND external_id = $3"
        f"{Guard(dialect, '', None).clause(1, 4)} RETURNING {columns}"
    )
    return insert, update, delete
