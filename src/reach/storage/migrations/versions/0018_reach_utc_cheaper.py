"""PostgreSQL: a cheaper ``reach_utc(text)``, the same contract as migration 0007's.

A segment condition on a date-time (birthdays, "created in December") calls ``reach_utc`` once
per contact. 0007's version cost ~14 µs a row (1M contacts: 14 s of CPU for one count), for
two reasons measured on PostgreSQL 15 (docs/benchmarks.md, *Segments: cheaper predicates on
PostgreSQL*): an SQL function that the planner cannot inline (declared IMMUTABLE, its body
casts to ``timestamptz``, which is STABLE) runs as a query of its own on every call; and its
regular expression alone cost ~9 µs a value. This version is PL/pgSQL (one simple expression,
evaluated without starting a query), checks the form by its shape — the digits mapped to
``0`` by ``translate`` and looked up among the 22 shapes RFC 3339 allows here — and range
checks on substrings, and builds the answer by string operations for dates and ``Z`` times
(no shift to make); only an offset other than ``Z`` still goes through ``timestamptz``.

The contract is unchanged (:func:`reach.storage.utc.utc_text`, which SQLite calls): RFC 3339
date-time ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`` (offsets up to ±14:59) or full date →
``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, year 1000 to 9999 before and after the shift; anything
else → NULL, never an error. tests/test_reach_utc.py holds the two equal. SQLite: nothing.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0016"
branch_labels = None
depends_on = None

# Every form utc_text accepts, its digits written as 0: a date, or a time with 0 to 6
# fraction digits and a Z or an offset.
_SHAPES = ", ".join(
    f"'{shape}'"
    for shape in [
        "0000-00-00",
        *(
            "0000-00-00T00:00:00" + fraction + zone
            for fraction in ["", *("." + "0" * n for n in range(1, 7))]
            for zone in ("Z", "+00:00", "-00:00")
        ),
    ]
)

# Each AND below only reads characters the shape check has proven are digits, so the casts
# cannot fail. ``COLLATE "C"``: byte comparison of digit strings, not the locale's.
_CHEAPER = f"""
CREATE OR REPLACE FUNCTION reach_utc(t text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $fn$
BEGIN
RETURN CASE
  WHEN translate(t, '0123456789', '0000000000') COLLATE "C" IN ({_SHAPES})
   AND left(t, 1) <> '0'
   AND substr(t, 6, 2) COLLATE "C" BETWEEN '01' AND '12'
   AND substr(t, 9, 2) COLLATE "C" BETWEEN '01' AND CASE substr(t, 6, 2)
         WHEN '02' THEN '29' WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30'
         WHEN '11' THEN '30' ELSE '31' END
   AND (substr(t, 6, 5) <> '02-29' OR substr(t, 1, 4)::int % 4 = 0
        AND (substr(t, 1, 4)::int % 100 <> 0 OR substr(t, 1, 4)::int % 400 = 0))
   AND (length(t) = 10 OR substr(t, 12, 2) COLLATE "C" <= '23'
        AND substr(t, 15, 1) COLLATE "C" <= '5' AND substr(t, 18, 1) COLLATE "C" <= '5')
   AND (length(t) = 10 OR right(t, 1) = 'Z'
        OR right(t, 5) COLLATE "C" <= '14:59' AND substr(t, length(t) - 1, 1) COLLATE "C" <= '5')
  THEN CASE
    WHEN length(t) = 10 THEN t || ' 00:00:00.000000'
    WHEN right(t, 1) = 'Z' AND length(t) = 20
    THEN left(t, 10) || ' ' || substr(t, 12, 8) || '.000000'
    WHEN right(t, 1) = 'Z'
    THEN left(t, 10) || ' ' || substr(t, 12, 8) || '.'
         || rpad(substr(t, 21, length(t) - 21), 6, '0')
    WHEN extract(year FROM t::timestamptz AT TIME ZONE 'UTC') BETWEEN 1000 AND 9999
    THEN to_char(t::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')
  END
END;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Driver-level: the SQL holds ':' sequences a text() construct would take for binds.
        op.get_bind().exec_driver_sql(_CHEAPER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        from importlib import import_module

        previous = import_module(
            "reach.storage.migrations.versions.0007_segments_mappings_channel_accounts"
        )
        op.get_bind().exec_driver_sql(previous._REACH_UTC)
