"""The per-process cache of tenants, keyed so that an id and an external id never collide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reach.cache import TTLCache

if TYPE_CHECKING:
    from reach.domain.tenants import Tenant


class TenantLookups:
    """Per-process cache of tenants by (partner, way of looking up, key).

    The two ways are kept apart because one text can mean two tenants: a tenant token names its
    tenant by external id only, while ``reach-tenant-id`` takes an id first and an external id
    otherwise. Were they one key, whichever look-up came first would decide what the other
    reaches (tenant B with ``external_id`` = A's id would act for A, or the reverse).
    """

    def __init__(self, ttl: float) -> None:
        self._cache: TTLCache[tuple[str, bool, str], Tenant] = TTLCache(ttl)
        # Bumped by every forget: a read that began before one may have seen the old row (on
        # PostgreSQL another connection can read while the change commits), so ``put`` skips
        # it. Read before the database read, passed back to ``put``.
        self.generation = 0

    def get(self, partner_id: str, key: str, *, by_external_id: bool) -> Tenant | None:
        return self._cache.get((partner_id, by_external_id, key))

    def put(self, tenant: Tenant, key: str, *, by_external_id: bool, seen: int) -> None:
        if seen == self.generation:
            self._cache.put((tenant.partner_id, by_external_id, key), tenant)

    def forget_id(self, tenant_id: str) -> None:
        """This tenant changed (a commit here or another process's): drop it under whatever
        keys it is cached by."""
        self.generation += 1
        self._cache.drop_if(lambda _, tenant: tenant.id == tenant_id)

    def clear(self) -> None:
        self.generation += 1
        self._cache.clear()
