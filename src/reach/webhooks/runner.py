"""The webhook loop of a worker: dispatch events, claim due deliveries, send, record, prune.

Runs next to the batch loops in every worker (``reach serve`` with REACH_BATCH_WORKER, and
``reach worker``); workers coordinate only through the database. Sending never holds a
database connection: a delivery is claimed (a short transaction that also moves it one lease
ahead), sent with no transaction open, and its outcome recorded later with others in one
short transaction. A worker killed mid-attempt leaves its claimed deliveries due again once
the lease has passed, so none is lost (at least once; receivers de-duplicate on
``webhook-id``).

Concurrency is bounded per process (REACH_WEBHOOK_CONCURRENCY) and per endpoint
(REACH_WEBHOOK_ENDPOINT_CONCURRENCY): an endpoint with that many attempts in flight is left
out of the next claims, so a slow one never takes the slots the others need.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx

from reach import clock
from reach.domain.webhooks import signing_secrets
from reach.services import Services
from reach.storage import faults
from reach.storage import webhook_deliveries as outbox
from reach.storage.database import Row
from reach.webhooks import dispatcher, sender

log = logging.getLogger("reach.webhooks")

# A claim's lease: twice the longest attempt (REACH_WEBHOOK_TIMEOUT_SECONDS) and a margin, room
# to record its outcome. A sender killed mid-attempt delays that delivery by about this much.
LEASE_MARGIN_SECONDS = 5.0
CLAIM_LIMIT = 200
FLUSH_AT = 64  # outcomes recorded in one transaction
FLUSH_SECONDS = 0.02
PRUNE_CHUNK = 1000
_PRUNE_EVERY_SECONDS = 300.0
_POOLS = 256  # (scheme, host, port) with a connection pool of their own (see _client_for)


class WebhookWorker:
    def __init__(self, services: Services, *, name: str, poll_seconds: float | None = None) -> None:
        self.services = services
        self.settings = services.settings
        self.name = name
        self.poll = self.settings.batch_poll_seconds if poll_seconds is None else poll_seconds
        self.lease = timedelta(
            seconds=2 * self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        )
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._per_endpoint: Counter[str] = Counter()
        self._done: list[tuple[outbox.Outcome, str, bool]] = []
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncClient] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._prune_due = 0.0
        self._next_dispatch = 0.0
        self._last_flush = 0.0
        self.sent = 0  # attempts finished by this worker (for tests and the bench)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    def kick(self) -> None:
        self._wake.set()

    async def stop(self, grace: float = 10.0) -> None:
        """Let attempts in flight finish (up to ``grace``) and record them; ones cut off are
        due again after their lease."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _run(self) -> None:
        failing = False
        try:
            while True:
                stopping = self._stopping.is_set()
                try:
                    busy = await self.step(claim=not stopping)
                except Exception as exc:
                    if not faults.is_transient(exc):
                        log.exception("webhook worker step failed")
                    elif not failing:
                        log.warning(
                            "webhook worker cannot reach the database: %s", faults.cause(exc)
                        )
                    failing = True
                    busy = False
                else:
                    failing = False
                if stopping and not self._in_flight and not self._done:
                    return
                if stopping and failing:
                    return  # outcomes not recorded are retried after their lease
                if not busy:
                    # Outcomes waiting to be recorded are written within FLUSH_SECONDS.
                    pause = FLUSH_SECONDS if self._done else self.poll
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
                    self._wake.clear()
        finally:
            for task in list(self._in_flight.values()):
                task.cancel()
            await asyncio.gather(*self._in_flight.values(), return_exceptions=True)
            for client in self._pools.values():
                await client.aclose()

    async def step(self, *, claim: bool = True) -> bool:
        """One turn: record what finished, queue new events, claim and start due deliveries.
        True when there may be more to do at once.

        Each of these is a transaction, so a turn does them in bulk: outcomes are recorded
        FLUSH_AT at a time (or after FLUSH_SECONDS, or when nothing else is in flight), new
        deliveries are claimed once a quarter of the slots are free, and the event log is
        read once a poll interval unless the last read found a full chunk."""
        now = time.monotonic()
        busy = False
        if self._done and (
            len(self._done) >= FLUSH_AT
            or not self._in_flight
            or now - self._last_flush >= FLUSH_SECONDS
            or not claim
        ):
            busy = await self.flush()
            self._last_flush = now
        if not claim:
            return busy
        if now >= self._next_dispatch:
            read = await dispatcher.dispatch_once(self.services.db)
            self._next_dispatch = now + (0.0 if read >= dispatcher.CHUNK else self.poll)
            busy = busy or read > 0
        concurrency = self.settings.webhook_concurrency
        free = concurrency - len(self._in_flight)
        if free >= max(1, concurrency // 4) or (free > 0 and not self._in_flight):
            busy = await self.claim() >= free or busy
        await self.prune_when_due()
        return busy

    def _finished(self) -> None:
        """A send finished: wake the loop when there is enough to do for a turn."""
        concurrency = self.settings.webhook_concurrency
        if (
            len(self._done) >= FLUSH_AT
            or not self._in_flight
            or concurrency - len(self._in_flight) >= max(1, concurrency // 4)
        ):
            self._wake.set()

    # -- claiming and sending

    async def claim(self) -> int:
        free = self.settings.webhook_concurrency - len(self._in_flight)
        if free <= 0:
            return 0
        db = self.services.db
        cap = self.settings.webhook_endpoint_concurrency
        busy = [e for e, n in self._per_endpoint.items() if n >= cap]
        now = datetime.now(UTC)
        async with db.transaction(write=False) as conn:
            # A read first: an idle poll takes no write lock on SQLite.
            if not await conn.fetchval(
                "SELECT 1 FROM webhook_deliveries WHERE status = 'pending' "
                "AND next_attempt_at <= $1 LIMIT 1",
                clock.format_timestamp(now),
            ):
                return 0
        async with db.transaction(write=True) as conn:
            claimed = await outbox.claim(
                conn,
                now=clock.format_timestamp(now),
                lease_until=clock.format_timestamp(now + self.lease),
                limit=min(free, CLAIM_LIMIT),
                per_endpoint=cap,
                busy=busy,
            )
            endpoints = (
                {
                    str(r["id"]): r
                    for r in await outbox.endpoints_for_sending(
                        conn, sorted({c.endpoint_id for c in claimed})
                    )
                }
                if claimed
                else {}
            )
        stamp = clock.format_timestamp(now)
        for delivery in claimed:
            endpoint = endpoints.get(delivery.endpoint_id)
            if endpoint is None:
                continue  # deleted meanwhile: its deliveries went with it
            self._per_endpoint[delivery.endpoint_id] += 1
            self._in_flight[delivery.id] = asyncio.create_task(
                self._send(delivery, endpoint, stamp), name=f"webhook-{delivery.id}"
            )
        return len(claimed)

    def _client_for(self, url: str) -> httpx.AsyncClient:
        """A connection pool per destination (scheme, host, port), as large as one endpoint
        may use. Per host, not per address: an https connection is made to an address for one
        host name (SNI and certificate) and must not carry another host's requests; and a small
        pool keeps httpcore's per-request scan of its connections short."""
        target = httpx.URL(url)
        key = (target.scheme, target.raw_host.decode("ascii"), target.port)
        client = self._pools.get(key)
        if client is None:
            if len(self._pools) >= _POOLS:
                oldest = self._pools.pop(next(iter(self._pools)))
                self._closing.add(asyncio.get_running_loop().create_task(oldest.aclose()))
            limit = self.settings.webhook_endpoint_concurrency
            client = self._pools[key] = sender.new_client(limit)
        return client

    async def _send(self, delivery: outbox.Claimed, endpoint: Row, now: str) -> None:
        try:
            try:
                secrets = signing_secrets(self.services.box, endpoint, now)
            except Exception as exc:
                result = sender.Result(
                    False, None, f"cannot open the endpoint's secret: {exc}", None
                )
            else:
                try:
                    result = await sender.attempt(
                        self._client_for(endpoint["url"]),
                        endpoint["url"],
                        secrets,
                        delivery.event_id,
                        delivery.payload.encode(),
                        within=self.settings.webhook_timeout_seconds,
                        allow_private=self.settings.webhook_allow_private,
                    )
                except Exception as exc:
                    # Whatever went wrong, the attempt failed: record it, never leave the
                    # delivery to its lease (it would come back every lease, unexplained).
                    log.warning("webhook attempt %s failed: %r", delivery.id, exc)
                    result = sender.Result(False, None, f"{type(exc).__name__}: {exc}"[:500], None)
            self._done.append((self._outcome(delivery, result), delivery.endpoint_id, result.ok))
            self.sent += 1
        finally:
            self._in_flight.pop(delivery.id, None)
            self._per_endpoint[delivery.endpoint_id] -= 1
            if self._per_endpoint[delivery.endpoint_id] <= 0:
                del self._per_endpoint[delivery.endpoint_id]
            self._finished()

    def _outcome(self, delivery: outbox.Claimed, result: sender.Result) -> outbox.Outcome:
        now = datetime.now(UTC)
        stamp = clock.format_timestamp(now)
        if result.ok:
            status, due = "succeeded", None
        else:
            settings = self.settings
            after = sender.next_attempt(
                delivery.attempts,
                now,
                clock.parse_timestamp(delivery.created_at),
                first=settings.webhook_retry_first_seconds,
                cap=settings.webhook_retry_max_interval_seconds,
                give_up_after=timedelta(hours=settings.webhook_retry_hours),
            )
            status = "pending" if after is not None else "failed"
            due = None if after is None else clock.format_timestamp(after)
        return outbox.Outcome(
            delivery.id,
            delivery.attempts,
            status,
            due,
            result.status_code,
            result.error,
            result.response_body,
            stamp,
            None if status == "pending" else stamp,
        )

    # -- recording

    async def flush(self) -> bool:
        if not self._done:
            return False
        done, self._done = self._done, []
        db = self.services.db
        now = datetime.now(UTC)
        hours = self.settings.webhook_disable_after_hours
        disable_before = clock.format_timestamp(now - timedelta(hours=hours)) if hours else None
        ok = sorted({endpoint for _, endpoint, succeeded in done if succeeded})
        failed = sorted({endpoint for _, endpoint, succeeded in done if not succeeded} - set(ok))
        try:
            async with db.transaction(write=True) as conn:
                await outbox.record(conn, [outcome for outcome, _, _ in done])
                await outbox.endpoints_succeeded(conn, ok)
                disabled = await outbox.endpoints_failed(
                    conn, failed, clock.format_timestamp(now), disable_before
                )
        except BaseException:
            self._done = done + self._done  # recorded at the next turn
            raise
        for endpoint in disabled:
            log.warning("webhook endpoint %s disabled: failing for %g hours", endpoint, hours)
        return True

    # -- retention

    async def prune_when_due(self) -> int:
        days = self.settings.webhook_delivery_retention_days
        if not days or time.monotonic() < self._prune_due:
            return 0
        before = clock.format_timestamp(datetime.now(UTC) - timedelta(days=days))
        db = self.services.db
        async with db.transaction(write=False) as conn:
            found = await outbox.any_prunable(conn, before)
        pruned = 0
        if found:
            async with db.transaction(write=True) as conn:
                pruned = await outbox.prune(conn, before, PRUNE_CHUNK)
        # A full chunk: more to go at the next turn; else look again in a while.
        self._prune_due = time.monotonic() + (
            0.0 if pruned >= PRUNE_CHUNK else _PRUNE_EVERY_SECONDS
        )
        return pruned
