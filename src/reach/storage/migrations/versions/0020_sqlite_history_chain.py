"""SQLite: a record's history is a chain of its events instead of an index every event enters.

After 0016 a change event on SQLite still entered three B-trees: the table (its rightmost
page), the feed index (its tenant's rightmost page) and the history index, whose entry lands
on the record's own, random, leaf — a page more written to the WAL at every commit and copied
back by the checkpointer, the costliest of the three (plain sqlite3: ~13 µs of the ~45 an
event costs a PATCH; docs/benchmarks.md). History is read rarely and one record at a time, so
it does not need an index: each event stores the ``seq`` of the same record's previous event
(``events.prev``), and the record's row, which the write rewrites anyway, the ``seq`` of its
newest (``resources.last_event``). A history page walks the chain from there, one rowid
lookup per event. When a record is deleted a trigger copies its head into ``event_heads`` as
the row goes: its delete event (appended after the row is gone) links to it, the history of a
deleted record starts there, and a record created again under the same key continues the
chain, so both lives show as before.

The existing events are chained here (in ``seq`` order per record, which is their version
order), heads are set from them, and the history index is dropped. PostgreSQL is unchanged.

Revision ID: 0020
Revises: 0021 (re-chained after merging main, which added 0021 on 0018)
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reach.storage.tables import UUID

revision = "0020"
down_revision = "0021"
branch_labels = None
depends_on = None

_HEAD_TRIGGER = (
    "CREATE TRIGGER resources_event_head AFTER DELETE ON resources "
    "WHEN OLD.last_event IS NOT NULL BEGIN "
    "INSERT INTO event_heads (tenant_id, schema_id, external_id, seq) "
    "VALUES (OLD.tenant_id, OLD.schema_id, OLD.external_id, OLD.last_event) "
    "ON CONFLICT (tenant_id, schema_id, external_id) DO UPDATE SET seq = excluded.seq; END"
)
# An event inserted without ``prev`` is one of a process of an older release (the code always
# gives one, 0 for none), still running on the file while it is upgraded: chained here, so
# that history holds it too. New inserts only pay the WHEN test.
_CHAIN_TRIGGER = (
    "CREATE TRIGGER events_chain_at_insert AFTER INSERT ON events WHEN NEW.prev IS NULL "
    "AND NEW.schema_id IS NOT NULL AND NEW.external_id IS NOT NULL BEGIN "
    "UPDATE events SET prev = coalesce((SELECT last_event FROM resources WHERE "
    "tenant_id = NEW.tenant_id AND schema_id = NEW.schema_id AND external_id = NEW.external_id), "
    "(SELECT seq FROM event_heads WHERE tenant_id = NEW.tenant_id AND schema_id = NEW.schema_id "
    "AND external_id = NEW.external_id), 0) WHERE seq = NEW.seq; "
    "UPDATE resources SET last_event = NEW.seq WHERE tenant_id = NEW.tenant_id "
    "AND schema_id = NEW.schema_id AND external_id = NEW.external_id; "
    "INSERT INTO event_heads (tenant_id, schema_id, external_id, seq) "
    "SELECT NEW.tenant_id, NEW.schema_id, NEW.external_id, NEW.seq WHERE NOT EXISTS "
    "(SELECT 1 FROM resources WHERE tenant_id = NEW.tenant_id AND schema_id = NEW.schema_id "
    "AND external_id = NEW.external_id) "
    "ON CONFLICT (tenant_id, schema_id, external_id) DO UPDATE SET seq = excluded.seq; END"
)
_SAME_RECORD = (
    "e.tenant_id = {t}.tenant_id AND e.schema_id = {t}.schema_id "
    "AND e.external_id = {t}.external_id"
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.add_column("events", sa.Column("prev", sa.BigInteger(), nullable=True))
    op.add_column("resources", sa.Column("last_event", sa.BigInteger(), nullable=True))
    op.create_table(
        "event_heads",
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("schema_id", UUID, nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "schema_id", "external_id", name="pk_event_heads"),
    )
    # While the history index is still there to find each record's events.
    bind.exec_driver_sql(
        "UPDATE events SET prev = coalesce((SELECT max(e.seq) FROM events AS e WHERE "
        f"{_SAME_RECORD.format(t='events')} AND e.seq < events.seq), 0) "
        "WHERE external_id IS NOT NULL AND schema_id IS NOT NULL"
    )
    bind.exec_driver_sql(
        "UPDATE resources SET last_event = (SELECT max(e.seq) FROM events AS e WHERE "
        f"{_SAME_RECORD.format(t='resources')})"
    )
    bind.exec_driver_sql(
        "INSERT INTO event_heads (tenant_id, schema_id, external_id, seq) "
        "SELECT tenant_id, schema_id, external_id, max(seq) FROM events AS e "
        "WHERE external_id IS NOT NULL AND schema_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM resources AS r WHERE r.tenant_id = e.tenant_id "
        "AND r.schema_id = e.schema_id AND r.external_id = e.external_id) "
        "GROUP BY tenant_id, schema_id, external_id"
    )
    bind.exec_driver_sql(_HEAD_TRIGGER)
    bind.exec_driver_sql(_CHAIN_TRIGGER)
    op.drop_index("ix_events_history", table_name="events")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    op.create_index("ix_events_history", "events", ["tenant_id", "schema_id", "external_id", "seq"])
    bind.exec_driver_sql("DROP TRIGGER events_chain_at_insert")
    bind.exec_driver_sql("DROP TRIGGER resources_event_head")
    op.drop_table("event_heads")
    # Plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): neither column is in an index or a key.
    bind.exec_driver_sql("ALTER TABLE resources DROP COLUMN last_event")
    bind.exec_driver_sql("ALTER TABLE events DROP COLUMN prev")
