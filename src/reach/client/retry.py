"""When to try a request again, and how long to wait first.

Retried: connection failures, 429 and 5xx (500, 502, 503, 504). Every write of this API is
an upsert or a merge, so repeating one that may already have been applied leaves the same
record behind (a repeated batch upload is a second batch with the same effect; a repeated
DELETE answers 404).

The wait is exponential backoff with full jitter — a random time between 0 and
``base_delay · 2^retry``, capped at ``max_delay`` — so many clients that failed together do
not retry together; and never shorter than the server's ``Retry-After``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5  # in all, the first included; 1 turns retries off
    base_delay: float = 0.25
    max_delay: float = 10.0
    max_retry_after: float = 120.0  # a longer Retry-After is not waited for: the error is raised
    statuses: frozenset[int] = RETRY_STATUSES
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def delay(self, retry: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        backoff = random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret
        if retry_after is not None:
            return max(backoff, retry_after)
        return backoff


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())
