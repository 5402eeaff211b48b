"""Rate limiting per partner and per tenant, with the ``limits`` library's async API.

Fixed windows: one atomic counter per (limit, caller) in memory or in Redis, so a budget is
exact and cheap to keep, and the ``RateLimit-*`` headers can say precisely how much is left and
when the window resets. Every response of an authenticated route carries those headers while
limiting is on; a request over budget gets 429 with ``Retry-After``.

If the counter store fails (Redis down) requests are let through and a warning is logged:
limiting protects availability, so it must not become the thing that takes the API down.

Order (``reach.web.endpoint``): the partner's budget is first *tested* without spending it, so an
over-budget partner costs no tenant look-up, body read or query; then :meth:`RateLimiter.charge`
spends the tenant's budget and only if that admits the request the partner's. A request its
tenant's limit refuses therefore leaves the partner budget, and so the sibling tenants, alone.
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


def _refusal(refused: Quota, kind: str) -> TooManyRequests:
    headers = refused.headers()
    headers["Retry-After"] = str(refused.reset_seconds)
    return TooManyRequests(
        f"Rate limit of {refused.limit} requests exceeded for this {kind}; "
        f"retry in {refused.reset_seconds} s",
        headers=headers,
    )


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

    async def check_partner(self, partner_id: str) -> None:
        """429 if the partner's budget is already spent; spends nothing."""
        try:
            for item in self._partner:
                if not await self._limiter.test(item, "reach", "partner", partner_id):
                    stats = await self._limiter.get_window_stats(
                        item, "reach", "partner", partner_id
                    )
                    reset = max(1, math.ceil(stats.reset_time - time.time()))
                    raise _refusal(Quota(item.amount, 0, reset), "partner")
        except StorageError as exc:
            self._warn(exc)

    async def charge(self, partner_id: str, tenant_id: str | None) -> list[Quota]:
        """Spend one request of the tenant's budget (when acting for one), then the partner's.

        Raises 429 at the first budget that refuses, so a tenant's refusal costs its partner
        nothing. (Were the partner's to refuse after the tenant's admitted — a race with
        :meth:`check_partner` — the tenant has spent one request.)
        """
        spent: list[Quota] = []
        if tenant_id is not None:
            tenant = await self._hit(self._tenant, "tenant", tenant_id)
            spent.extend([tenant] if tenant else [])
        partner = await self._hit(self._partner, "partner", partner_id)
        spent.extend([partner] if partner else [])
        return spent

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
            raise _refusal(refused, kind)
        return quota

    def _warn(self, exc: StorageError) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("rate limit storage unusable, letting requests through: %s", exc)

    async def close(self) -> None:
        """Nothing to release for memory; Redis connections close with their pool."""
        return
