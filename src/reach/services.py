"""What a running process holds: settings, the database, and the per-process caches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reach.auth import TokenVerifier
from reach.config import Settings, read_urls
from reach.deadlines import Deadlines
from reach.domain import partners
from reach.domain.recent import RecentRecords
from reach.domain.schema_safety import SchemaLimits
from reach.domain.schemas import SchemaRegistry
from reach.domain.tenant_lookups import TenantLookups
from reach.domain.tenants import Tenant
from reach.feed import EVENTS_TOPIC, Signal
from reach.ratelimit import RateLimiter
from reach.secretbox import SecretBox, box_for
from reach.storage import notify
from reach.storage.database import Database, open_database

if TYPE_CHECKING:
    from reach.storage.replicas import Replicas

# How long a process may trust the partner secrets it read, notification or not (SQLite has
# none; a PostgreSQL listener may be reconnecting): a secret revoked by another process stops
# signing new tokens here within this bound. A re-read is one indexed query, and only for a
# token not yet in the verified cache.
_SECRET_TRUST_SECONDS = 1.0


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
    listener: notify.Listener | None = field(default=None)
    # REACH_DATABASE_READ_URLS: where reads of replica routes go (None: all on ``db``)
    replicas: Replicas | None = field(default=None)
    # (tenant id, Idempotency-Key) of the keyed writes running in this process
    # (reach.web.idempotency)
    idempotency_running: set[tuple[str, str]] = field(default_factory=set)
    # Wakes this process's feed long polls (reach.feed)
    event_signal: Signal = field(default_factory=Signal)

    async def listen(self) -> None:
        """Hear about tenants, schemas and secrets other processes change (PostgreSQL)."""
        if self.db.dialect == "postgresql" and self.listener is None:
            self.listener = notify.Listener(
                self.settings.database_url, self.invalidate, self.forget_everything
            )
            await self.listener.start()

    def invalidate(self, message: str) -> None:
        """Forget what an announced change (:func:`reach.storage.notify.announce`) names: the
        one way cached tenants, schemas and secrets are dropped, for this process's commits
        (the database's after-commit hook) and other processes' (the listener) alike."""
        topic, partner_id, key = notify.parse(message)
        if topic == notify.TENANT:
            self.tenants.forget_id(key)
        elif topic == notify.SCHEMAS:
            self.schemas.forget(partner_id)
        elif topic == notify.SECRETS:
            self.tokens.forget_partner(partner_id)
        elif topic == EVENTS_TOPIC:
            self.event_signal.nudge()

    def forget_stale(self, tenant: Tenant) -> None:
        """A write found the tenant or its schemas changed behind this process's caches (a
        change whose notification has not arrived): forget both, as the message would have."""
        self.invalidate(notify.message_for(notify.TENANT, tenant.partner_id, tenant.id))
        self.invalidate(notify.message_for(notify.SCHEMAS, tenant.partner_id))

    def forget_everything(self) -> None:
        self.tenants.clear()
        self.schemas.forget_all()
        self.tokens.forget_all()
        self.event_signal.nudge()

    async def close(self) -> None:
        if self.listener is not None:
            await self.listener.stop()
        if self.replicas is not None:
            await self.replicas.close()
        await self.deadlines.close()
        if self.limiter is not None:
            await self.limiter.close()
        await self.db.close()


async def open_services(settings: Settings) -> Services:
    # The key first: a missing REACH_SECRET_KEY on PostgreSQL stops start-up with its remedy.
    box = box_for(settings.database_url, settings.secret_key)
    db = await open_database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        acquire_timeout=settings.db_acquire_timeout_seconds,
        lock_timeout=settings.db_lock_timeout_seconds,
    )

    async def load_secrets(partner_id: str) -> list[str]:
        async with db.transaction(write=False) as conn:
            return await partners.active_secrets(conn, box, partner_id)

    tokens = TokenVerifier(
        load_secrets,
        leeway=settings.jwt_leeway_seconds,
        max_token_bytes=settings.max_token_bytes,
        cache_size=settings.token_cache_size,
        secret_ttl=min(settings.lookup_cache_seconds, _SECRET_TRUST_SECONDS),
        max_lifetime=settings.max_token_lifetime_seconds,
        revalidate_seconds=settings.token_cache_seconds,
    )
    services = Services(
        settings=settings,
        db=db,
        replicas=await _replicas(settings, db),
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
    db.on_change = services.invalidate
    return services


async def _replicas(settings: Settings, db: Database) -> Replicas | None:
    """The read replicas, opened without connecting (their checker starts with the app)."""
    urls = read_urls(settings)
    if not urls:
        return None
    from reach.storage.postgres import PostgresDatabase
    from reach.storage.replicas import Replicas

    if not isinstance(db, PostgresDatabase):  # load_settings refuses this; kept for types
        raise TypeError("read replicas need a PostgreSQL primary")
    return await Replicas.open(
        db,
        urls,
        pool_size=settings.db_pool_size,
        lock_timeout=settings.db_lock_timeout_seconds,
        max_lag=settings.replica_max_lag_seconds,
        wait=settings.replica_wait_seconds,
        check_every=settings.replica_check_seconds,
    )
