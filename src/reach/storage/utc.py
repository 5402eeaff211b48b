"""``reach_utc(text)``: a stored date-time as normalized UTC text, the same on both engines.

Segment conditions compare date-times inside the database. SQLite gets this Python function
(registered on every connection, deterministic); PostgreSQL gets an SQL function with the same
contract from migration 0007. Both answer ``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC — which sorts
chronologically as text — or NULL for anything that is not one of:

* an RFC 3339 date-time ``YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)`` (upper-case ``T``/``Z``,
  offsets up to ±14:59), year 1000 to 9999 before and after the shift to UTC;
* a full date ``YYYY-MM-DD``, taken as midnight UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_FORM = re.compile(
    r"([1-9][0-9]{3})-([0-9]{2})-([0-9]{2})"
    r"(?:T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(?:\.([0-9]{1,6}))?"
    r"(Z|[+-](?:0[0-9]|1[0-4]):[0-5][0-9]))?"
)


# Days in each month (February's 29th is checked against the year).
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def utc_text(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    match = _FORM.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset is None or offset == "Z":
        # No shift to make (a segment scan calls this once per contact, so the common forms
        # skip datetime): the regex holds the year to 1000-9999, the rest is the day check.
        y, m, d = int(year), int(month), int(day)
        if (
            not 1 <= m <= 12
            or not 1 <= d <= _DAYS[m]
            or (m == 2 and d == 29 and not (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)))
        ):
            return None
        if hour is None:
            return f"{text} 00:00:00.000000"
        return f"{text[:10]} {hour}:{minute}:{second}.{(fraction or '').ljust(6, '0')}"
    try:
        moment = datetime(int(year), int(month), int(day))
    except ValueError:
        return None
    if hour is not None:
        micro = int((fraction or "").ljust(6, "0"))
        zone = UTC
        if offset != "Z":
            sign = -1 if offset[0] == "-" else 1
            shift = timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
            zone = timezone(sign * shift)
        local = moment.replace(
            hour=int(hour), minute=int(minute), second=int(second), microsecond=micro, tzinfo=zone
        )
        try:
            moment = local.astimezone(UTC)
        except OverflowError:
            return None
    if not 1000 <= moment.year <= 9999:
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
    )
