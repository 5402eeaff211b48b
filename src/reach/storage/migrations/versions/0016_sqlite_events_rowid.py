"""SQLite: ``events`` takes its ``seq`` as the rowid, and keeps two indexes instead of four.

Issue 14 wants a PATCH with events on to keep 90 % of the PATCH with events off. On SQLite the
extra cost is the pages an event dirties at commit (each written to the WAL, later copied to
the database file by the checkpointer). Before this revision an event insert dirtied six
B-trees next to the resource's own page: the table, the index of its composite primary key
(tenant, ``seq``; SQLite keeps it apart from the rowid table), ``ix_events_feed``,
``ix_events_history``, ``ix_events_stamp`` and the ``sequences`` row a trigger moved on.
Measured on a plain sqlite3 loop (UPDATE + event INSERT per transaction, 20,000 events in
the table; docs/benchmarks.md): 156 µs against 123 µs with the shape below, 56 µs without an
event.

SQLite is never distributed, so, as migration 0017 did for ``resources`` and ``batches``:

* ``seq INTEGER PRIMARY KEY`` — the rowid: no index of its own, appends go to the rightmost
  page. The writer still gives it in the inserting statement (``reach.storage.events``):
  one above the highest ``seq`` in the table and above ``event_stamp.last_position``, which on
  SQLite is the high-water mark of every position ever given (retention raises it before it
  deletes: the newest event may be among the deleted, and its number must not come again).
  Not AUTOINCREMENT: that writes ``sqlite_sequence`` — one more page — on every insert.
* ``position`` is ``seq``, for every row. Since 0015 a new event's position was its seq; the
  rows from before could differ by a constant (0015 stamped the waiting ones above the highest
  position). Both numbers follow commit order on SQLite (one writer), so renumbering ``seq``
  to the position keeps every order the reads rely on, and keeps every feed cursor valid. A
  history cursor handed out before the upgrade names a ``seq``: a history pagination that
  spans the upgrade may repeat or skip the few events that were renumbered.
* ``ix_events_stamp (position, seq)`` is not made on SQLite: the webhook dispatcher's global
  read, retention and the high-water read walk the rowid (position = seq), and there is no
  stamper to serve. The model declares it for PostgreSQL only.
* the ``sequences`` trigger goes and the ``events`` row of ``sequences`` with it (nothing
  reads it any more). ``events_position_at_insert`` is made again on the new table: a process
  of an older release still running on the file inserts its seq as NULL (no ``sequences``
  row), which SQLite turns into the next rowid, and the trigger gives it that as position.

The table is rebuilt (create, copy, drop, rename); PostgreSQL is unchanged.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from reach.storage.tables import SEQ, TIMESTAMP, UUID

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_POSITION_TRIGGER = (
    "CREATE TRIGGER events_position_at_insert AFTER INSERT ON events "
    "WHEN NEW.position IS NULL BEGIN "
    "UPDATE events SET position = NEW.seq WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq; "
    "END"
)
_SEQUENCES_TRIGGER = (
    "CREATE TRIGGER sequences_events AFTER INSERT ON events BEGIN "
    "UPDATE sequences SET last = NEW.seq WHERE name = 'events' AND last < NEW.seq; END"
)
_COLUMNS = (
    "seq, tenant_id, id, partner_id, position, type, schema_id, external_id, version, "
    "occurred_at, body"
)


def _shape(rowid: bool) -> list[SchemaItem]:
    if rowid:
        seq = sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False)
        key: list[SchemaItem] = []
    else:
        seq = sa.Column("seq", SEQ, nullable=False)
        key = [sa.PrimaryKeyConstraint("tenant_id", "seq", name="pk_events")]
    return [
        seq,
        sa.Column("tenant_id", UUID, nullable=False),
        sa.Column("id", UUID, nullable=False),
        sa.Column("partner_id", UUID, nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("schema_id", UUID, nullable=True),
        sa.Column("external_id", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("occurred_at", TIMESTAMP, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        *key,
    ]


def _high_water(bind: sa.Connection) -> int:
    """The highest number ever given as an event's seq or position, whichever kept it."""
    found = bind.exec_driver_sql(
        "SELECT max(coalesce((SELECT last_position FROM event_stamp WHERE id = 1), 0), "
        "coalesce((SELECT last FROM sequences WHERE name = 'events'), 0), "
        "coalesce((SELECT max(seq) FROM events), 0), "
        "coalesce((SELECT max(position) FROM events), 0))"
    ).scalar()
    return int(found or 0)


def _rebuild(bind: sa.Connection, *, rowid: bool, select: str) -> None:
    op.create_table("_new_events", *_shape(rowid))
    bind.exec_driver_sql(f"INSERT INTO _new_events ({_COLUMNS}) {select}")
    bind.exec_driver_sql("DROP TABLE events")  # its indexes and triggers go with it
    bind.exec_driver_sql("ALTER TABLE _new_events RENAME TO events")
    op.create_index("ix_events_feed", "events", ["tenant_id", "position"])
    op.create_index("ix_events_history", "events", ["tenant_id", "schema_id", "external_id", "seq"])


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    top = _high_water(bind)
    # 0015 left no event unstamped, and its trigger stamps what older processes insert; an
    # event found without a position all the same is numbered above every number given.
    bind.exec_driver_sql(
        "UPDATE events SET position = ? + todo.n FROM (SELECT tenant_id, seq, "
        "row_number() OVER (ORDER BY seq) AS n FROM events WHERE position IS NULL) AS todo "
        "WHERE events.tenant_id = todo.tenant_id AND events.seq = todo.seq",
        (top,),
    )
    top = _high_water(bind)
    _rebuild(
        bind,
        rowid=True,
        select=(
            "SELECT position, tenant_id, id, partner_id, position, type, schema_id, "
            "external_id, version, occurred_at, body FROM events ORDER BY position"
        ),
    )
    bind.exec_driver_sql("UPDATE event_stamp SET last_position = ? WHERE id = 1", (top,))
    bind.exec_driver_sql("DELETE FROM sequences WHERE name = 'events'")
    bind.exec_driver_sql(_POSITION_TRIGGER)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    top = _high_water(bind)
    _rebuild(bind, rowid=False, select=f"SELECT {_COLUMNS} FROM events ORDER BY seq")
    op.create_index("ix_events_stamp", "events", ["position", "seq"])
    bind.exec_driver_sql(
        "INSERT INTO sequences (name, last) VALUES ('events', ?) "
        "ON CONFLICT (name) DO UPDATE SET last = excluded.last",
        (top,),
    )
    bind.exec_driver_sql("UPDATE event_stamp SET last_position = ? WHERE id = 1", (top,))
    bind.exec_driver_sql(_SEQUENCES_TRIGGER)
    bind.exec_driver_sql(_POSITION_TRIGGER)
