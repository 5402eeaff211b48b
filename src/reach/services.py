"""What a running process holds: settings, the database, and the per-process caches."""

from __future__ import annotations

from dataclasses import dataclass

from reach.auth import TokenVerifier
from reach.config import Settings
from reach.deadlines import Deadlines
from reach.domain import partners
from reach.domain.recent import RecentRecords
from reach.domain.schema_safety import SchemaLimits
from reach.domain.schemas import SchemaRegistry
from reach.domain.tenants import TenantLookups
from reach.ratelimit import RateLimiter
from reach.secretbox import SecretBox, box_for
from reach.storage.database import Database, open_database


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    tokens: TokenVerifier
    tenants: TenantLookups
    schemas: SchemaRegistry
    records: RecentRecords
    box: SecretBox
    limiter: RateLimiter | None
    deadlines: Deadlines

    async def close(self) -> None:
        await self.deadlines.close()
        if self.limiter is not None:
            await self.limiter.close()
        await self.db.close()


async def open_services(settings: Settings) -> Services:
    # The key first: a missing REACH_SECRET_KEY on PostgreSQL stops start-up with its remedy.
    box = box_for(settings.database_url, settings.secret_key)
    db = await open_database(settings.database_url, pool_size=settings.db_pool_size)

    async def load_secrets(partner_id: str) -> list[str]:
        async with db.transaction(write=False) as conn:
            return await partners.active_secrets(conn, box, partner_id)

    tokens = TokenVerifier(
        load_secrets,
        leeway=settings.jwt_leeway_seconds,
        max_token_bytes=settings.max_token_bytes,
        cache_size=settings.token_cache_size,
        secret_ttl=settings.lookup_cache_seconds,
    )
    return Services(
        settings=settings,
        db=db,
        tokens=tokens,
        tenants=TenantLookups(settings.lookup_cache_seconds),
        schemas=SchemaRegistry(
            settings.lookup_cache_seconds,
            SchemaLimits(
                settings.max_schema_bytes, settings.max_schema_depth, settings.max_schema_nodes
            ),
        ),
        records=RecentRecords(settings.record_hints),
        box=box,
        limiter=RateLimiter.from_settings(settings),
        deadlines=Deadlines(settings.request_timeout_seconds),
    )
