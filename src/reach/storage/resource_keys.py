"""The resource table seen across tenants, for the batch worker — a sibling of
:mod:`reach.storage.resources`, and with it the only module whose SQL names resource rows.

Nothing here returns a record or a document: one query reads whether keys exist (to wake
batches waiting for them), the other whether the table has planner statistics. Reads and
writes of records go through :class:`reach.storage.resources.TenantResources`.
"""

from __future__ import annotations

from reach.storage.batches import BatchRef
from reach.storage.database import Connection


async def woken_by_writes(conn: Connection, now: str) -> list[BatchRef]:
    """Batches not yet due whose pending items wait for a record that now exists.

    Each wait row is matched against the resource key of its own tenant; only existence is
    read, never a record.
    """
    rows = await conn.fetch(
        "SELECT DISTINCT w.batch_id, w.tenant_id FROM batch_waits w "
        "JOIN batches b ON b.id = w.batch_id AND b.tenant_id = w.tenant_id "
        "WHERE b.wake_at > $1 AND EXISTS (SELECT 1 FROM resources r WHERE "
        "r.tenant_id = w.tenant_id AND r.schema_id = w.schema_id "
        "AND r.external_id = w.external_id)",
        now,
    )
    return [BatchRef(str(row["tenant_id"]), str(row["batch_id"])) for row in rows]


async def analyze_if_never_analyzed(conn: Connection) -> bool:
    """PostgreSQL: gather statistics on ``resources`` if it has never had any.

    Until its first ANALYZE the planner estimates one row per tenant and schema, ties the
    listing index with the unique key, and may probe a key by scanning the tenant's every
    record — quadratic for a first import into a new database. Autovacuum fixes it within about
    a minute; the worker fixes it after its first batch. Once is enough: later statistics are
    autovacuum's job.
    """
    never = await conn.fetchval(
        "SELECT reltuples < 0 FROM pg_class WHERE oid = 'resources'::regclass"
    )
    if never:
        await conn.execute("ANALYZE resources")
    return bool(never)
