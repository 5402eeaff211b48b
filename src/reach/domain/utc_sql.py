"""SQLite: a date-time value's UTC text (``reach_utc``'s answer) in SQL for its common forms,
calling the Python function only for the rest.

A segment condition on a date-time evaluates ``reach_utc`` on every contact; on SQLite that is
a call into Python (2 to 4 µs a row: most of a date segment's scan). The common forms need no
shift and no calendar: a full date ``YYYY-MM-DD``, and ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` (the
second what JavaScript's ``toISOString`` writes), whose day is 01 to 28 (valid in every month
and year) and whose hour is 00 to 23. For those the UTC text is the value's own characters
rearranged, exactly what :func:`reach.storage.utc.utc_text` answers; anything else (offsets,
other fractions, days 29 to 31, malformed text, numbers, objects) goes to ``reach_utc`` as
before. tests/test_utc_sql.py holds the two equal.
"""

from __future__ import annotations

from collections.abc import Callable

_DAY = "[1-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
_TIME = "T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
# Over ``v``, the extracted value. The month and day are tested first: they rule out most
# text that is not a date at all before any GLOB, and every form below shares them.
_UTC = (
    "CASE WHEN substr(v, 6, 2) BETWEEN '01' AND '12' AND substr(v, 9, 2) BETWEEN '01' AND '28' "
    f"THEN CASE WHEN v GLOB '{_DAY}' THEN v || ' 00:00:00.000000' "
    f"WHEN v GLOB '{_DAY}{_TIME}Z' AND substr(v, 12, 2) <= '23' "
    "THEN substr(v, 1, 10) || ' ' || substr(v, 12, 8) || '.000000' "
    f"WHEN v GLOB '{_DAY}{_TIME}.[0-9][0-9][0-9]Z' AND substr(v, 12, 2) <= '23' "
    "THEN substr(v, 1, 10) || ' ' || substr(v, 12, 12) || '000' "
    "ELSE reach_utc(v) END "
    "ELSE reach_utc(v) END"
)


def over(value: str, test: Callable[[str], str]) -> str:
    """SQL for ``test`` (given the SQL of the UTC text, NULL when not a date-time) over the
    UTC text of ``value`` (SQL for the value, e.g. a ``json_extract``). The value is named
    once, in a subquery, so it is extracted once a row however often ``test`` and the
    forms above use it."""
    # Only fixed SQL and the caller's SQL (whose values are bound) are interpolated.
    return f"(SELECT {test(_UTC)} FROM (SELECT {value} AS v))"  # noqa: S608
