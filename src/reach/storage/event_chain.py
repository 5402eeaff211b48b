"""SQLite: the head of each record's history chain, kept on the record's own row.

On SQLite a record's change events form a chain (migration 0020): each names the same
record's previous event (``events.prev``), and the newest is named by the record's row
(``resources.last_event``) — or, once the row is deleted, by ``event_heads``, where a trigger
copies it as the row goes. :mod:`reach.storage.events` reads the head when it inserts an
event and moves it on right after, and walks the chain for a history page; this module holds
the statements that name ``resources`` for it, so that the table keeps its few doors
(``.importlinter``). Every statement is bound to the event's tenant, schema and external id.
"""

from __future__ import annotations

# The head of one record's chain, as an SQL expression over the placeholders ``t`` (tenant),
# ``s`` (schema) and ``x`` (external id): the row's, else a deleted row's, else 0 — no event
# has ``seq`` 0, and a chained event's ``prev`` is never NULL, so that an event inserted
# without one (a process of an older release, during an upgrade) is told apart and chained by
# the trigger of migration 0020.
HEAD = (
    "coalesce((SELECT last_event FROM resources WHERE tenant_id = {t} AND schema_id = {s} "
    "AND external_id = {x}), (SELECT seq FROM event_heads WHERE tenant_id = {t} "
    "AND schema_id = {s} AND external_id = {x}), 0)"
)
# The head moves to the event just inserted (``$1`` tenant, ``$2`` schema, ``$3`` external
# id): on the record's row, both lookups on pages the write has just touched; or, when there
# is no row (a delete's event: the row went first), in ``event_heads``.
MOVE_HEAD = (
    "UPDATE resources SET last_event = last_insert_rowid() WHERE tenant_id = $1 "
    "AND schema_id = $2 AND external_id = $3"
)
MOVE_DELETED_HEAD = (
    "INSERT INTO event_heads (tenant_id, schema_id, external_id, seq) "
    "VALUES ($1, $2, $3, last_insert_rowid()) "
    "ON CONFLICT (tenant_id, schema_id, external_id) DO UPDATE SET seq = excluded.seq"
)
