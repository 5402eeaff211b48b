"""Cheaper change events: one index where two served the stamper and the global read, and on
SQLite a position given at insert instead of by a stamper after commit.

Every index of ``events`` is paid by every write (and, on PostgreSQL, again by the stamp, whose
update of ``position`` cannot be HOT). ``ix_events_position (position)`` served the webhook
dispatcher's read in position order and ``ix_events_unstamped (seq) WHERE position IS NULL``
the stamper's "unstamped, in seq order"; one index ``ix_events_stamp (position, seq)`` serves
both (the unstamped are its ``position IS NULL`` range).

SQLite runs one writer at a time, so the order in which events take their ``seq`` is their
commit order, and the stamper had nothing to reorder: it only rewrote three index entries of
every event after the fact. From this revision a SQLite event's ``position`` is its ``seq``,
set in the inserting statement (``reach.storage.events.append``). To keep every new position
above every position a reader may already hold, the migration stamps what is still unstamped
and moves the ``events`` sequence past the highest position; a trigger gives an event inserted
without a position (an older release still running on the file) its ``seq`` as well, so the
stamper is never needed there again. PostgreSQL is unchanged apart from the index: its
sequences are not commit-ordered, and it keeps stamping (docs/events.md).

Cost on a large PostgreSQL database: the new index is built under the table's lock (writes that
append events wait). Where that pause is too long, build it beforehand with
``CREATE INDEX CONCURRENTLY ix_events_stamp ON events (position, seq)``: the migration keeps an
index of that name that already exists.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

_TRIGGER = (
    "CREATE TRIGGER events_position_at_insert AFTER INSERT ON events "
    "WHEN NEW.position IS NULL BEGIN "
    "UPDATE events SET position = NEW.seq WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq; "
    "END"
)


def upgrade() -> None:
    op.drop_index("ix_events_unstamped", table_name="events")
    op.drop_index("ix_events_position", table_name="events")
    op.create_index("ix_events_stamp", "events", ["position", "seq"], if_not_exists=True)
    if op.get_bind().dialect.name != "sqlite":
        return
    bind = op.get_bind()
    top = int(
        bind.exec_driver_sql(
            "SELECT max((SELECT last_position FROM event_stamp WHERE id = 1), "
            "coalesce((SELECT last FROM sequences WHERE name = 'events'), 0))"
        ).scalar_one()
    )
    stamped = bind.exec_driver_sql(
        "UPDATE events SET position = ? + todo.n FROM (SELECT tenant_id, seq, "
        "row_number() OVER (ORDER BY seq) AS n FROM events WHERE position IS NULL) AS todo "
        "WHERE events.tenant_id = todo.tenant_id AND events.seq = todo.seq",
        (top,),
    ).rowcount
    top += max(stamped, 0)
    bind.exec_driver_sql("UPDATE event_stamp SET last_position = ? WHERE id = 1", (top,))
    bind.exec_driver_sql(
        "INSERT INTO sequences (name, last) VALUES ('events', ?) "
        "ON CONFLICT (name) DO UPDATE SET last = excluded.last",
        (top,),
    )
    bind.exec_driver_sql(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER events_position_at_insert")
        # The stamper of the older release numbers from here: past every position given.
        op.execute(
            "UPDATE event_stamp SET last_position = max(last_position, "
            "coalesce((SELECT max(position) FROM events), 0)) WHERE id = 1"
        )
    op.drop_index("ix_events_stamp", table_name="events")
    op.create_index("ix_events_position", "events", ["position"])
    op.create_index(
        "ix_events_unstamped",
        "events",
        ["seq"],
        postgresql_where=sa.text("position IS NULL"),
        sqlite_where=sa.text("position IS NULL"),
    )
