"""Cross-node cache invalidation on PostgreSQL: ``NOTIFY`` on commit, ``LISTEN`` on one
connection per process.

A change a process may have cached (a tenant update or delete, any schema-definition write, a
secret rotation) calls :func:`announce` inside its own transaction: ``pg_notify`` is delivered
only when that transaction commits, and never if it rolls back; the writing process itself
gets the same message from its connection's after-commit hook (on SQLite, that is all). Each serving
process keeps one dedicated connection outside the pool (a pooled connection is handed to
requests, and a ``LISTEN`` must outlive them) and forgets the named cache entries as messages
arrive. A listener that loses its connection may have missed messages, so it forgets
everything when it notices and again once it has reconnected.

Notifications keep caches fresh; they are not what makes writes correct. That is the write
guard's job (:mod:`reach.storage.guard`), which holds even if a message is lost or late.
SQLite has no notifications: there, caches expire by their TTL (docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg

from reach.storage.database import Connection
from reach.storage.postgres import PgConnection, asyncpg_dsn

log = logging.getLogger("reach.notify")

CHANNEL = "reach_invalidate"
TENANT = "tenant"  # key: the tenant's id
SCHEMAS = "schemas"  # every definition of the partner
SECRETS = "secrets"  # the partner's signing secrets

# What an unreachable or restarting database raises (ConnectionError is an OSError).
_LOST = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def announce(conn: Connection, topic: str, partner_id: str, key: str = "") -> None:
    """Tell every process, once this transaction commits, that ``topic`` changed: this one
    through the connection's after-commit hook, the others through ``NOTIFY``. Both hand the
    same message to the same handler (``Services.invalidate``), and neither fires on a
    rollback."""
    message = message_for(topic, partner_id, key)
    if isinstance(conn, PgConnection):
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, message)
    conn.after_commit(message)


def message_for(topic: str, partner_id: str, key: str = "") -> str:
    return f"{topic}:{partner_id}:{key}"


def parse(message: str) -> tuple[str, str, str]:
    """``topic:partner:key`` → (topic, partner id, key)."""
    topic, _, rest = message.partition(":")
    partner_id, _, key = rest.partition(":")
    return topic, partner_id, key


class Listener:
    """``LISTEN`` on a connection of its own; ``on_message`` gets each payload, ``on_gap`` is
    called whenever messages may have been missed (connection lost, and reconnected)."""

    def __init__(
        self,
        url: str,
        on_message: Callable[[str], None],
        on_gap: Callable[[], None],
        *,
        check_seconds: float = 1.0,
    ) -> None:
        self._url = asyncpg_dsn(url)
        self._on_message = on_message
        self._on_gap = on_gap
        self._check = check_seconds
        self._listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    async def start(self, *, wait: float = 5.0) -> None:
        """Start listening; waits up to ``wait`` seconds for the first connection, so a fresh
        process hears about changes made right after it reports ready."""
        self._task = asyncio.create_task(self._run(), name="reach-invalidation-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), wait)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = 0.1
        while True:
            try:
                conn = await asyncpg.connect(
                    self._url,
                    timeout=5,
                    server_settings={"application_name": "reach-listener"},
                )
            except _LOST as exc:
                log.warning("invalidation listener cannot connect (%s); retrying", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            try:
                await self._listen(conn)
            except _LOST as exc:
                log.warning(
                    "invalidation listener lost its connection (%s); "
                    "forgetting cached tenants, schemas and secrets",
                    exc,
                )
            finally:
                self._listening.clear()
                conn.terminate()
            self._on_gap()

    async def _listen(self, conn: asyncpg.Connection[Any]) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        await conn.add_listener(CHANNEL, self._deliver)
        # Whatever changed while nothing listened (before the first connection, or during an
        # outage) is unknown: start from empty caches.
        self._on_gap()
        self._listening.set()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._check)
            if lost.is_set():
                raise ConnectionError("listener connection closed")
            # A silent network failure closes nothing: a ping every few seconds notices it.
            await conn.fetchval("SELECT 1", timeout=max(self._check, 1.0) * 2)

    def _deliver(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        try:
            self._on_message(str(payload))
        except Exception:
            log.exception("invalidation message %r not applied", payload)
