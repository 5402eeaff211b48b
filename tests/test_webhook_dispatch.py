"""The webhook worker on a database of its own (the shared one has other tests' endpoints and
a server's worker at work on it), issue 14:

* the dispatcher's cursor: with no enabled endpoint it moves to the head in one step instead of
  reading the log a chunk at a time; with one, it reads chunk by chunk and queues what the
  endpoint wants;
* the sender's fairness: an endpoint that answers slowly gets no more than its cap of attempts
  in flight, and the others' deliveries go on meanwhile."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
import pytest

from reach import clock
from reach.config import load_settings
from reach.domain import partners, webhooks
from reach.secretbox import new_key
from reach.services import Services, open_services
from reach.storage import events, migrate
from reach.storage import webhook_deliveries as outbox
from reach.webhooks import dispatcher
from reach.webhooks.runner import WebhookWorker
from tests.webhook_helpers import Event
from tests.webhook_receiver import receiving


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_at_head"))
    url: str = request.getfixturevalue("scratch_postgres")
    migrate.upgrade(url)
    return url


async def _open(url: str, **settings: Any) -> Services:
    return await open_services(
        load_settings(
            env={},
            database_url=url,
            batch_worker=False,
            secret_key=new_key(),
            db_pool_size=2,
            **settings,
        )
    )


async def _log(services: Services, partner_id: str, count: int) -> None:
    """``count`` committed and stamped events of one of the partner's tenants."""
    tenant = str(uuid.uuid4())
    rows = [
        (
            str(uuid.uuid4()),
            tenant,
            partner_id,
            "tenant.updated",
            None,
            None,
            None,
            clock.now(),
            orjson.dumps({"id": tenant, "n": n}).decode(),
        )
        for n in range(count)
    ]
    async with services.db.transaction(write=False) as conn:
        before = await events.last_position(conn) or 0
    async with services.db.transaction(write=True) as conn:
        await events.append(conn, rows)
    # PostgreSQL positions committed events here; SQLite gave them theirs at insert.
    async with services.db.transaction(write=True) as conn:
        await events.stamp(conn)
    async with services.db.transaction(write=False) as conn:
        assert await events.last_position(conn) == before + count


async def _cursor(services: Services) -> int:
    async with services.db.transaction(write=False) as conn:
        return await outbox.cursor_position(conn) or 0


async def _queued(services: Services) -> int:
    async with services.db.transaction(write=False) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM webhook_deliveries"))


async def _scenario(services: Services) -> None:
    db = services.db
    async with db.transaction(write=True) as conn:
        partner = await partners.create(conn, services.box, "p", default_schemas=False)
        endpoint, _ = await webhooks.create(
            conn, services.box, partner.id, {"url": "http://127.0.0.1:9/h"}, allow_private=True
        )
        await conn.execute("UPDATE webhook_endpoints SET enabled = false")
    # A long log (five chunks of two) and only a disabled endpoint: one step to the head.
    await _log(services, partner.id, 10)
    async with db.transaction(write=False) as conn:
        head = await events.last_position(conn)
    assert head >= 10
    assert await dispatcher.dispatch_once(db, limit=2) == 0
    assert await _cursor(services) == head
    assert await _queued(services) == 0
    # Enabled: the log is read a chunk at a time again, and what it wants is queued.
    async with db.transaction(write=True) as conn:
        await conn.execute("UPDATE webhook_endpoints SET enabled = true WHERE id = $1", endpoint.id)
    await _log(services, partner.id, 3)
    assert await dispatcher.dispatch_once(db, limit=2) == 2
    assert await _cursor(services) == head + 2
    assert await dispatcher.dispatch_once(db, limit=2) == 1
    assert await _cursor(services) == head + 3
    assert await _queued(services) == 3
    assert await dispatcher.dispatch_once(db, limit=2) == 0


def test_no_enabled_endpoint_moves_the_cursor_to_the_head_in_one_step(fresh_url: str) -> None:
    async def go() -> None:
        services = await _open(fresh_url)
        try:
            await _scenario(services)
        finally:
            await services.close()

    asyncio.run(go())


def test_a_slow_endpoint_gets_its_cap_and_does_not_hold_up_the_others(fresh_url: str) -> None:
    cap, events = 2, 6
    with receiving(lambda n: (204, 5.0)) as slow, receiving() as fast:

        async def go() -> tuple[int, int]:
            services = await _open(
                fresh_url,
                webhook_allow_private=True,
                webhook_concurrency=8,
                webhook_endpoint_concurrency=cap,
            )
            try:
                async with services.db.transaction(write=True) as conn:
                    partner = await partners.create(conn, services.box, "p", default_schemas=False)
                    for url in (slow.url, fast.url):
                        await webhooks.create(
                            conn, services.box, partner.id, {"url": url}, allow_private=True
                        )
                    queued = await dispatcher.fan_out(
                        conn, [Event(partner.id) for _ in range(events)]
                    )
                assert queued == 2 * events
                worker = WebhookWorker(services, name="test", poll_seconds=0.05)
                worker.start()
                deadline = time.monotonic() + 20
                # The receivers are threads of their own: nothing to await but time.
                while len(fast.requests) < events and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                seen = len(fast.requests), len(slow.requests)
                await worker.stop(grace=0.1)
                return seen
            finally:
                await services.close()

        to_fast, to_slow = asyncio.run(go())
    # Every delivery to the fast endpoint went while the slow one held its first attempts
    # (5 s each): it never had more than its cap in flight, nor kept the others waiting.
    assert to_fast == events
    assert to_slow <= cap
