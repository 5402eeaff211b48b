"""The test harness: the real app, served over real HTTP, on a real database.

Each engine gets one server for the whole session (uvicorn in a background thread, bound
to an ephemeral loopback port). Tests isolate themselves by creating their own partners and
tenants, which is also what makes isolation testable.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import jwt
import uvicorn

from reach.config import Settings, load_settings
from reach.domain import partners
from reach.secretbox import SecretBox, box_for, new_key
from reach.storage import migrate
from reach.storage.database import Connection, Database, open_database
from reach.web.app import create_app

T = TypeVar("T")

# PostgreSQL needs REACH_SECRET_KEY; one per test session is as good as any.
TEST_SECRET_KEY = new_key()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerThread:
    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_level="warning",
            lifespan="on",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class Loop:
    """A private event loop in its own thread, for test-side database work."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)  # type: ignore[arg-type]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@dataclass
class PartnerKey:
    id: str
    secret: str
    name: str


@dataclass
class Harness:
    engine: str
    database_url: str
    base_url: str
    settings: Settings
    loop: Loop
    db: Database
    client: httpx.Client = field(init=False)
    box: SecretBox = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.base_url, timeout=30)
        self.box = box_for(self.database_url, self.settings.secret_key)

    # -- database-side helpers (real storage, used only to set up what has no HTTP route)
    def transaction(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        async def run() -> T:
            async with self.db.transaction(write=True) as conn:
                return await work(conn)

        return self.loop.run(run())

    def new_partner(self, name: str | None = None) -> PartnerKey:
        made = self.transaction(
            lambda conn: partners.create(conn, self.box, name or f"p-{uuid.uuid4().hex[:8]}")
        )
        return PartnerKey(made.id, made.secret, made.name)

    def new_tenant(self, partner: PartnerKey, external_id: str | None = None) -> str:
        """Create a tenant through the API; returns its external id."""
        external_id = external_id or f"t-{uuid.uuid4().hex[:8]}"
        response = self.client.post(
            "/partner/tenants",
            json={"external_id": external_id, "name": f"Tenant {external_id}", "locations": []},
            headers=self.partner_headers(partner),
        )
        assert response.status_code == 200, response.text
        return external_id

    # -- tokens and headers
    @staticmethod
    def sign(claims: dict[str, Any], secret: str, algorithm: str = "HS256") -> str:
        return jwt.encode(claims, secret, algorithm=algorithm)

    def partner_token(self, partner: PartnerKey, ttl: int = 600) -> str:
        now = int(time.time())
        claims = {"partnerId": partner.id, "type": "partner", "iat": now, "exp": now + ttl}
        return self.sign(claims, partner.secret)

    def tenant_token(self, partner: PartnerKey, tenant: str, ttl: int = 600) -> str:
        now = int(time.time())
        claims = {
            "partnerId": partner.id,
            "tenantExternalId": tenant,
            "email": "user@example.com",
            "name": "A User",
            "iat": now,
            "exp": now + ttl,
        }
        return self.sign(claims, partner.secret)

    def partner_headers(self, partner: PartnerKey, tenant: str | None = None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.partner_token(partner)}"}
        if tenant is not None:
            headers["reach-tenant-id"] = tenant
        return headers

    def tenant_headers(self, partner: PartnerKey, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tenant_token(partner, tenant)}"}


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def open_test_database(url: str) -> Database:
    return await open_database(url, pool_size=4)


@contextmanager
def served(engine: str, url: str, **overrides: Any) -> Iterator[Harness]:
    """Migrate ``url``, serve the app on it over real HTTP, and hand back the harness."""
    migrate.upgrade(url)
    settings = load_settings(
        env={},
        **{
            "secret_key": TEST_SECRET_KEY,
            "database_url": url,
            "port": free_port(),
            "demo_on_first_run": False,
            **overrides,
        },
    )
    server = ServerThread(settings)
    server.start()
    loop = Loop()
    db = loop.run(open_test_database(url))
    harness = Harness(
        engine=engine,
        database_url=url,
        base_url=f"http://127.0.0.1:{settings.port}",
        settings=settings,
        loop=loop,
        db=db,
    )
    try:
        yield harness
    finally:
        harness.client.close()
        loop.run(db.close())
        loop.close()
        server.stop()
