"""Server timestamps and ids, in the one format the wire uses."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

# strftime is the slow part of a timestamp, so the formatted second is cached. One tuple,
# replaced whole, so threads never see a second paired with another second's text.
_last_second: tuple[int, str] = (-1, "")


def now() -> str:
    """The current time as RFC 3339 UTC with milliseconds: ``2026-01-02T03:04:05.678Z``."""
    global _last_second
    moment = time.time()
    second = int(moment)
    cached, text = _last_second
    if second != cached:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    return f"{text}.{int((moment - second) * 1000):03d}Z"


def format_timestamp(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """Parse an RFC 3339 timestamp; naive values are refused (ValueError)."""
    moment = datetime.fromisoformat(text.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError("timestamp has no time zone offset")
    return moment


def new_id() -> str:
    return str(uuid.uuid4())


def is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
