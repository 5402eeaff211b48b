"""Rate limiting per partner and per tenant, with the ``limits`` library's async API.

Fixed windows: one atomic counter per (limit, caller) in memory or in Redis, so a budget is
exact and cheap to keep, and the ``RateLimit-*`` headers can say precisely how much is left and
when the window resets. Every response of an authenticated route carries those headers while
limiting is on; a request over budget gets 429 with ``Retry-After``.

If the counter store fails (Redis down) requests are let through and a warning is logged:
limiting protects availability, so it must not become the thing that takes the API down.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from limits.storage import storage_from_string

from reach.config import Settings
from reach.errors import TooManyRequests

log = logging.getLogger("reach.ratelimit")

_WARN_EVERY_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Quota:
    """What the tightest limit that applied leaves: the ``RateLimit-*`` header values."""

    limit: int
    remaining: int
    reset_seconds: int

    def tighter(self, other: Quota | None) -> Quota:
        if other is None or self.remaining < other.remaining:
            return self
        if other.remaining < self.remaining:
            return other
        return self if self.reset_seconds >= other.reset_seconds else other

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


def _parse(spec: str) -> list[RateLimitItem]:
    return parse_many(spec) if spec.strip() else []


def storage_uri(configured: str) -> str:
    """``memory://`` / ``redis://host:port`` as operators write them, in ``limits``' async form."""
    return configured if configured.startswith("async+") else "async+" + configured


class RateLimiter:
    def __init__(
        self,
        partner_limits: list[RateLimitItem],
        tenant_limits: list[RateLimitItem],
        storage: str,
    ) -> None:
        self._partner = partner_limits
        self._tenant = tenant_limits
        self._storage = storage_from_string(storage_uri(storage), wrap_exceptions=True)
        self._limiter = FixedWindowRateLimiter(self._storage)
        self._warned_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter | None:
        partner = _parse(settings.rate_limit)
        tenant = _parse(settings.tenant_rate_limit)
        if not partner and not tenant:
            return None  # off: no cost at all on the request path
        return cls(partner, tenant, settings.rate_limit_storage)

    async def partner(self, partner_id: str) -> Quota | None:
        return await self._hit(self._partner, "partner", partner_id)

    async def tenant(self, tenant_id: str) -> Quota | None:
        return await self._hit(self._tenant, "tenant", tenant_id)

    async def _hit(self, items: list[RateLimitItem], kind: str, who: str) -> Quota | None:
        quota: Quota | None = None
        refused: Quota | None = None
        try:
            for item in items:
                allowed = await self._limiter.hit(item, "reach", kind, who)
                stats = await self._limiter.get_window_stats(item, "reach", kind, who)
                reset = max(1, math.ceil(stats.reset_time - time.time()))
                this = Quota(item.amount, stats.remaining, reset)
                quota = this.tighter(quota)
                if not allowed:
                    refused = this if refused is None else refused.tighter(this)
        except StorageError as exc:
            self._warn(exc)
            return None
        if refused is not None:
            headers = refused.headers()
            headers["Retry-After"] = str(refused.reset_seconds)
            raise TooManyRequests(
                f"Rate limit of {refused.limit} requests exceeded for this {kind}; "
                f"retry in {refused.reset_seconds} s",
                headers=headers,
            )
        return quota

    def _warn(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("rate limit storage unusable, letting requests through: %s", exc)

    async def close(self) -> None:
        """Nothing to release for memory; Redis connections close with their pool."""
        return
