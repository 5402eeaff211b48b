"""Server timestamps and ids, in the one format the wire uses."""

from __future__ import annotations

import os
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


# The variant nibble of a version 4 UUID (0b10xx) for any random hex digit.
_VARIANT = {digit: f"{(int(digit, 16) & 0b11) | 0b1000:x}" for digit in "0123456789abcdef"}


def new_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` gives it. Formatted by hand: the
    ``uuid.UUID`` object cost ~3x as much, and every change event takes one on the PATCH
    path (docs/benchmarks.md, *Trimming the request path*)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


def is_uuid(text: str) -> bool:
    if len(text) != 36:
        return False
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
