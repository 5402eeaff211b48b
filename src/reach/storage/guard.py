"""The write guard: a resource write commits only if its tenant is live and the schema version
it was validated against is still current.

Other processes cache tenants and schema definitions for a few seconds, and a notification
that one changed can arrive late or not at all, so correctness cannot rest on the caches. The
guard is part of the write itself: two ``EXISTS`` sub-selects folded into the write's
``WHERE`` (one statement, no extra round trip), or, for the batch paths, one statement at the
transaction's first write. A guarded write that fails touches nothing, and the caller learns
why from :class:`reach.errors.StaleScope`.

Races (docs/decisions.md, *Writes guard their tenant and schema*): on PostgreSQL the
sub-selects take ``FOR SHARE`` on the tenant and schema rows. A tenant delete or schema update
is an ``UPDATE`` of that row, whose lock conflicts with a share lock, so either the delete
waits until the write has committed (the write came first), or the write waits until the
delete has committed and then re-checks the row's newest version, which fails the guard. On
SQLite a write holds the database's only write lock from its first statement to its commit,
so nothing commits in between at all.
"""

from __future__ import annotations

from functools import cache

from reach.errors import StaleScope
from reach.storage.database import SQLITE_NEXT_SEQ, Connection


class Guard:
    """What one :class:`~reach.storage.resources.TenantResources` write must find: its tenant
    live and, when the writer validated against one, that schema version current."""

    __slots__ = ("dialect", "held", "lock", "schema", "tenant_id")

    def __init__(self, dialect: str, tenant_id: str, schema: tuple[str, int] | None) -> None:
        self.dialect = dialect
        self.tenant_id = tenant_id
        self.schema = schema
        self.lock = " FOR SHARE" if dialect == "postgresql" else ""
        self.held = False  # checked in this transaction: the rows are share-locked until commit

    def clause(self, tenant_arg: int, schema_arg: int) -> str:
        """`` AND EXISTS (…)`` conditions for a write's ``WHERE``: ``$tenant_arg`` is the
        tenant id, ``$schema_arg`` and the next one the schema id and version (see
        :meth:`args`), when the guard has a schema."""
        sql = (
            f" AND EXISTS (SELECT 1 FROM tenants WHERE id = ${tenant_arg} "
            f"AND deleted_at IS NULL{self.lock})"
        )
        if self.schema is not None:
            sql += (
                f" AND EXISTS (SELECT 1 FROM schema_definitions WHERE id = ${schema_arg} "
                f"AND version_number = ${schema_arg + 1} AND deactivated_at IS NULL{self.lock})"
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


@cache
def guarded_writes(dialect: str, with_schema: bool, columns: str) -> tuple[str, str, str]:
    """The single-record writes with the guard folded into their ``WHERE``: insert, update
    (compare-and-set) and delete (returning ``columns``), for
    :class:`~reach.storage.resources.TenantResources`. Built once per engine and guard shape."""
    guard = Guard(dialect, "", ("", 0) if with_schema else None)
    if dialect == "postgresql":
        seq = ""
        values = "$1::uuid, $2::uuid, $3::uuid, $4::text, $5::jsonb, 1, $6::timestamptz, $6"
    else:
        seq = "seq, "
        values = f"{SQLITE_NEXT_SEQ.format(table='resources', tenant='$2')}, " + (
            "$1, $2, $3, $4, $5, 1, $6, $6"
        )
    insert = (
        f"INSERT INTO resources ({seq}id, tenant_id, schema_id, external_id, data, version, "
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
