"""The batch worker: claims due batches, applies them chunk by chunk, wakes waiting ones.

One runs inside every ``reach serve`` process (``REACH_BATCH_WORKER``); ``reach worker`` runs
more for scale-out. Workers coordinate only through the database:

* a batch is claimed with a lease (``claimed_by``, ``lease_until``) that each chunk renews in
  its own transaction; a worker that dies simply stops renewing, and once the lease has expired
  any worker claims the batch and carries on from the first item still queued;
* every chunk commits its writes, its items' outcomes and the batch's progress together, so a
  chunk is applied exactly once however often workers die;
* items waiting for a dependency are listed in ``batch_waits``; each poll wakes the batches one
  of whose dependencies now exists, whichever path created it, and a batch is also due when its
  earliest waiting item expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reach import clock, feed
from reach.batches import process, retention
from reach.batches.apply import ConcurrentCreate
from reach.config import Settings
from reach.errors import StaleScope
from reach.services import Services, open_services
from reach.storage import batches as store
from reach.storage import faults, resource_keys
from reach.storage import idempotency as idempotency_keys
from reach.webhooks.runner import WebhookWorker

log = logging.getLogger("reach.batches")

LEASE_SECONDS = 30.0
CHUNK_SIZE = 500
_ATTEMPTS = 3  # consecutive failures of a step before the chunk is narrowed
# Retrying after a fault: exponential from 50 ms, capped at 1 s (so a batch resumes within a
# second of the database answering again), jittered (half to all of it) so workers do not
# retry in step.
_BACKOFF_FIRST = 0.05
_BACKOFF_CAP = 1.0
# Expired idempotency keys: one bounded DELETE per poll while full chunks come back, else
# one a minute — each a short statement of its own, never a long lock.
PRUNE_CHUNK = 1000
_PRUNE_EVERY_SECONDS = 60.0


def _retry_unchanged(exc: BaseException) -> bool:
    """A failure that says nothing about the chunk's items: retry the same chunk. A concurrent
    create of one of its keys is resolved by the retry itself (it merges into the winner), and
    a stale scope by the step's fresh read of its tenant and schema."""
    return faults.is_transient(exc) or isinstance(exc, ConcurrentCreate | StaleScope)


def _backoff(attempt: int) -> float:
    ceiling = min(_BACKOFF_CAP, _BACKOFF_FIRST * 2 ** min(attempt - 1, 16))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not a secret


_running: dict[int, Worker] = {}


def _stamp(moment: datetime) -> str:
    return clock.format_timestamp(moment)


class Worker:
    def __init__(
        self,
        services: Services,
        *,
        concurrency: int = 1,
        chunk_size: int = CHUNK_SIZE,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.concurrency = max(1, concurrency)
        self.chunk_size = max(1, chunk_size)
        self.lease = timedelta(seconds=lease_seconds)
        self.poll = services.settings.batch_poll_seconds if poll_seconds is None else poll_seconds
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = asyncio.Event()
        self._kicked = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._statistics_checked = services.db.dialect != "postgresql"
        self._next_prune = 0.0  # the first poll prunes; then every PRUNE_INTERVAL_SECONDS
        self._prune_due = 0.0  # monotonic time of the next prune of expired idempotency keys
        # Webhook delivery runs beside the batch loops, on its own task (reach.webhooks).
        self.webhooks = WebhookWorker(services, name=self.name, poll_seconds=self.poll)

    def start(self) -> None:
        _running[id(self.services)] = self
        for index in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._loop(index), name=f"batch-worker-{index}"))
        services = self.services
        keeper = feed.keep(
            services.db,
            services.event_signal,
            services.settings.history_retention_days,
            self._stopping,
            self.poll,
        )
        self._tasks.append(asyncio.create_task(keeper, name="event-keeper"))
        self.webhooks.start()

    def kick(self) -> None:
        """Look for work now rather than at the next poll (a batch was just accepted)."""
        self._kicked.set()

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the chunk in hand, hand the batch back, and stop (cancel after ``grace``)."""
        self._stopping.set()
        self._kicked.set()
        await self.webhooks.stop(grace)
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if _running.get(id(self.services)) is self:
            del _running[id(self.services)]

    async def _loop(self, index: int) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                worked = await self.run_once(wake=index == 0)
            except Exception as exc:
                if not faults.is_transient(exc):
                    log.exception("batch worker poll failed")
                elif not failing:  # one line per outage, not one per poll
                    log.warning("batch worker cannot reach the database: %s", faults.cause(exc))
                failing = True
                worked = False
            else:
                if failing:
                    log.info("batch worker reaches the database again")
                failing = False
            if index == 0:
                await self.prune_when_due()
            if not worked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kicked.wait(), self.poll)
                self._kicked.clear()

    async def run_once(self, *, wake: bool = True) -> bool:
        """Claim one due batch and work it until it is done, waits, or is lost."""
        db = self.services.db
        now = datetime.now(UTC)
        if wake:
            await self._wake_waiting(now)
            if time.monotonic() >= self._prune_due:
                pruned = await self.prune_idempotency_keys(now)
                pause = 0.0 if pruned >= PRUNE_CHUNK else _PRUNE_EVERY_SECONDS
                self._prune_due = time.monotonic() + pause
        # A read first: on SQLite an idle poll must not take the write lock.
        async with db.transaction(write=False) as conn:
            if not await store.has_work(conn, _stamp(now)):
                return False
        async with db.transaction(write=True) as conn:
            claimed = await store.claim(conn, self.name, _stamp(now), _stamp(now + self.lease))
        if claimed is None:
            return False
        await self._work(store.BatchRef.of(claimed))
        return True

    async def prune_idempotency_keys(self, now: datetime, limit: int = PRUNE_CHUNK) -> int:
        """Delete up to ``limit`` expired idempotency keys; how many went. A failure is logged
        and left to the next prune: it must not hold up the batches."""
        db = self.services.db
        try:
            async with db.transaction(write=False) as conn:
                if not await idempotency_keys.any_expired(conn, _stamp(now)):
                    return 0
            async with db.transaction(write=True) as conn:
                return await idempotency_keys.prune(conn, _stamp(now), limit)
        except Exception as exc:
            log.warning("pruning expired idempotency keys failed: %s", faults.cause(exc))
            return 0

    async def prune_when_due(self) -> retention.Pruned | None:
        """Delete batches past REACH_BATCH_RETENTION_DAYS, at most once an interval."""
        days = self.services.settings.batch_retention_days
        if not days or time.monotonic() < self._next_prune:
            return None
        self._next_prune = time.monotonic() + retention.PRUNE_INTERVAL_SECONDS
        try:
            pruned = await retention.prune(
                self.services.db,
                retention.cutoff(days),
                keep_going=lambda: not self._stopping.is_set(),
            )
        except Exception as exc:
            if not faults.is_transient(exc):
                log.exception("pruning finished batches failed; next try in an interval")
                return None
            # A busy or unreachable database: the poll loop reports outages; try again soon.
            log.debug("pruning postponed: %s", faults.cause(exc))
            self._next_prune = time.monotonic() + self.poll
            return None
        if pruned.batches:
            log.info(
                "pruned %d finished batch(es) and %d item(s) older than %s",
                pruned.batches,
                pruned.items,
                pruned.before,
            )
        return pruned

    async def _wake_waiting(self, now: datetime) -> None:
        db = self.services.db
        async with db.transaction(write=False) as conn:
            woken = await resource_keys.woken_by_writes(conn, _stamp(now))
        if woken:
            try:
                async with db.transaction(write=True) as conn:
                    await store.wake(conn, woken, _stamp(now))
            except Exception as exc:
                # Two workers waking the same batches can deadlock on PostgreSQL; one of them
                # wins, and the other tries again at its next poll.
                log.info("waking waiting batches failed (%r); retrying next poll", exc)

    async def _work(self, batch: store.BatchRef) -> None:
        chunk = self.chunk_size
        failures = 0  # consecutive failures of this chunk not explained by a fault
        faults_in_a_row = 0
        while True:
            if self._stopping.is_set():
                await self._hand_back(batch)
                return
            try:
                result = await self._step(batch, chunk)
            except Exception as exc:
                if _retry_unchanged(exc):
                    # The database, not the items: the same chunk again once it answers, for
                    # as long as it takes — never narrowed, never an item failed for it.
                    faults_in_a_row += 1
                    delay = _backoff(faults_in_a_row)
                    log.warning(
                        "batch %s: %s; retrying the same chunk in %.2f s",
                        batch.id,
                        faults.cause(exc),
                        delay,
                    )
                    if not await self._keep_lease(batch):
                        return
                    await self._pause(delay)
                    continue
                faults_in_a_row = 0
                failures += 1
                if failures < _ATTEMPTS:
                    log.info("batch %s: retrying a chunk after %r", batch.id, exc)
                elif chunk > 1:
                    # Something in this chunk keeps failing: narrow down to find the item.
                    log.exception("batch %s: chunk of %d keeps failing", batch.id, chunk)
                    chunk = max(1, chunk // 4)
                    failures = 0
                else:
                    log.exception("batch %s: giving up on one item", batch.id)
                    await self._give_up_one(batch)
                    failures = 0
                await asyncio.sleep(min(0.02 * failures, 1.0))
                continue
            failures = 0
            faults_in_a_row = 0
            chunk = self.chunk_size
            if result != process.CONTINUE:
                await self._check_statistics()
                return

    async def _keep_lease(self, batch: store.BatchRef) -> bool:
        """Renew the lease between retries, so a fault that outlasts it does not hand the
        batch to another worker while this one is alive; False once it is another's."""
        try:
            async with self.services.db.transaction(write=True) as conn:
                now = datetime.now(UTC)
                held = await store.renew(conn, batch, self.name, _stamp(now + self.lease))
        except Exception as exc:
            if _retry_unchanged(exc):
                return True  # still down: the step itself renews once the database answers
            raise
        if held is None:
            log.warning("batch %s: lease lost to another worker", batch.id)
            return False
        return True

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the worker is told to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _step(self, batch: store.BatchRef, chunk: int) -> str:
        async with self.services.db.transaction(write=True) as conn:
            now = datetime.now(UTC)
            row = await store.renew(conn, batch, self.name, _stamp(now + self.lease))
            if row is None:
                log.warning("batch %s: lease lost to another worker", batch.id)
                return process.DONE
            return await process.step(self.services, conn, row, chunk_size=chunk, now=now)

    async def _check_statistics(self) -> None:
        if self._statistics_checked:
            return
        self._statistics_checked = True
        try:
            async with self.services.db.transaction(write=True) as conn:
                if await resource_keys.analyze_if_never_analyzed(conn):
                    log.info("gathered the first statistics of the resources table")
        except Exception:
            log.exception("could not check the resources table's statistics")

    async def _give_up_one(self, batch: store.BatchRef) -> None:
        try:
            async with self.services.db.transaction(write=True) as conn:
                now = datetime.now(UTC)
                row = await store.renew(conn, batch, self.name, _stamp(now + self.lease))
                if row is not None:
                    await process.fail_next(conn, row, now, self.services.settings.events)
        except Exception as exc:
            if not _retry_unchanged(exc):
                raise
            # The item is not failed for a fault: the next step tries it again.
            log.warning("batch %s: could not record a failed item: %s", batch.id, faults.cause(exc))

    async def _hand_back(self, batch: store.BatchRef) -> None:
        with contextlib.suppress(Exception):
            async with self.services.db.transaction(write=True) as conn:
                await store.release(conn, batch, self.name, _stamp(datetime.now(UTC)))


def run_in_background(services: Services) -> Worker:
    """The worker inside ``reach serve``: started with the app, stopped with it."""
    worker = Worker(services)
    worker.start()
    return worker


def kick(services: Services) -> None:
    """Wake this process's worker, if it runs one."""
    worker = _running.get(id(services))
    if worker is not None:
        worker.kick()


async def run_worker(
    settings: Settings,
    *,
    concurrency: int,
    chunk_size: int = CHUNK_SIZE,
    lease_seconds: float = LEASE_SECONDS,
    announce: Callable[[str], None] | None = None,
) -> None:
    """``reach worker``: work batches until SIGTERM or SIGINT, then stop cleanly.

    ``announce`` is told once the signal handlers are in place: from then on a SIGTERM
    finishes the chunk in hand and exits 0."""
    services = await open_services(settings)
    worker = Worker(
        services, concurrency=concurrency, chunk_size=chunk_size, lease_seconds=lease_seconds
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker.start()
    message = f"batch worker {worker.name} started ({worker.concurrency} loop(s))"
    if announce is not None:
        announce(message)
    else:
        log.info(message)
    try:
        await stop.wait()
    finally:
        await worker.stop(grace=settings.shutdown_timeout_seconds)
        await services.close()
