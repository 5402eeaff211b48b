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
# Pieces of the UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` a condition reads, as (start, length)
# for ``substr``: every call into SQLite's functions costs ~0.1 µs a row, so a date condition
# takes only the date (or the month and day) and skips building the rest.
WHOLE = (1, 26)
DATE = (1, 10)
MONTH_DAY = (6, 5)


def _utc(piece: tuple[int, int]) -> str:
    """SQL over ``v``, the extracted value, for ``piece`` of its UTC text. The month and day
    are tested first (shared by every form below, and they rule out most text that is no
    date at all before any GLOB); then the forms, the most common first."""
    start, length = piece
    if piece == WHOLE:
        z = "substr(v, 1, 10) || ' ' || substr(v, 12, 8) || '.000000'"
        z_ms = "substr(v, 1, 10) || ' ' || substr(v, 12, 12) || '000'"
        day = "v || ' 00:00:00.000000'"
    else:  # within the date, the same characters in every form
        z = z_ms = day = f"substr(v, {start}, {length})"
    slow = f"substr(reach_utc(v), {start}, {length})" if piece != WHOLE else "reach_utc(v)"
    return (
        "CASE WHEN substr(v, 6, 2) BETWEEN '01' AND '12' "
        "AND substr(v, 9, 2) BETWEEN '01' AND '28' THEN CASE "
        f"WHEN v GLOB '{_DAY}{_TIME}Z' AND substr(v, 12, 2) <= '23' THEN {z} "
        f"WHEN v GLOB '{_DAY}' THEN {day} "
        f"WHEN v GLOB '{_DAY}{_TIME}.[0-9][0-9][0-9]Z' AND substr(v, 12, 2) <= '23' THEN {z_ms} "
        f"ELSE {slow} END ELSE {slow} END"
    )


def over(value: str, piece: tuple[int, int], test: Callable[[str], str]) -> str:
    """SQL for ``test`` (given SQL for ``piece`` of the UTC text, NULL when the value is not
    a date-time) over ``value`` (SQL for the value, e.g. a ``json_extract``). The value is
    named once, in a subquery, so it is extracted once a row however often the forms above
    and ``test`` read it."""
    # Only fixed SQL and the caller's SQL (whose values are bound) are interpolated.
    return f"(SELECT {test(_utc(piece))} FROM (SELECT {value} AS v))"  # noqa: S608
