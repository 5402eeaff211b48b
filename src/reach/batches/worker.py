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
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from reach import clock
from reach.batches import process, retention
from reach.config import Settings
from reach.services import Services, open_services
from reach.storage import batches as store

log = logging.getLogger("reach.batches")

LEASE_SECONDS = 30.0
CHUNK_SIZE = 500
_ATTEMPTS = 3  # consecutive failures of a step before the chunk is narrowed

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

    def start(self) -> None:
        _running[id(self.services)] = self
        for index in range(self.concurrency):
            self._tasks.append(asyncio.create_task(self._loop(index), name=f"batch-worker-{index}"))

    def kick(self) -> None:
        """Look for work now rather than at the next poll (a batch was just accepted)."""
        self._kicked.set()

    async def stop(self, grace: float = 30.0) -> None:
        """Finish the chunk in hand, hand the batch back, and stop (cancel after ``grace``)."""
        self._stopping.set()
        self._kicked.set()
        if self._tasks:
            _, unfinished = await asyncio.wait(self._tasks, timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if _running.get(id(self.services)) is self:
            del _running[id(self.services)]

    async def _loop(self, index: int) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.run_once(wake=index == 0)
            except Exception:
                log.exception("batch worker poll failed")
                worked = False
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
        # A read first: on SQLite an idle poll must not take the write lock.
        async with db.transaction(write=False) as conn:
            if not await store.has_work(conn, _stamp(now)):
                return False
        async with db.transaction(write=True) as conn:
            claimed = await store.claim(
                conn, db.dialect, self.name, _stamp(now), _stamp(now + self.lease)
            )
        if claimed is None:
            return False
        await self._work(str(claimed["id"]))
        return True

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
        except Exception:
            log.exception("pruning finished batches failed; next try in an interval")
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
            woken = await store.woken_by_writes(conn, _stamp(now))
        if woken:
            try:
                async with db.transaction(write=True) as conn:
                    await store.wake(conn, db.dialect, woken, _stamp(now))
            except Exception as exc:
                # Two workers waking the same batches can deadlock on PostgreSQL; one of them
                # wins, and the other tries again at its next poll.
                log.info("waking waiting batches failed (%r); retrying next poll", exc)

    async def _work(self, batch_id: str) -> None:
        chunk = self.chunk_size
        failures = 0
        while True:
            if self._stopping.is_set():
                await self._hand_back(batch_id)
                return
            try:
                result = await self._step(batch_id, chunk)
            except Exception as exc:
                failures += 1
                if failures < _ATTEMPTS:
                    # Deadlocks, a concurrent create of the same key, a busy database: retry.
                    log.info("batch %s: retrying a chunk after %r", batch_id, exc)
                elif chunk > 1:
                    # Something in this chunk keeps failing: narrow down to find the item.
                    log.exception("batch %s: chunk of %d keeps failing", batch_id, chunk)
                    chunk = max(1, chunk // 4)
                    failures = 0
                else:
                    log.exception("batch %s: giving up on one item", batch_id)
                    await self._give_up_one(batch_id)
                    failures = 0
                await asyncio.sleep(min(0.02 * failures, 1.0))
                continue
            failures = 0
            chunk = self.chunk_size
            if result != process.CONTINUE:
                await self._check_statistics()
                return

    async def _step(self, batch_id: str, chunk: int) -> str:
        async with self.services.db.transaction(write=True) as conn:
            now = datetime.now(UTC)
            batch = await store.renew(conn, batch_id, self.name, _stamp(now + self.lease))
            if batch is None:
                log.warning("batch %s: lease lost to another worker", batch_id)
                return process.DONE
            return await process.step(self.services, conn, batch, chunk_size=chunk, now=now)

    async def _check_statistics(self) -> None:
        if self._statistics_checked:
            return
        self._statistics_checked = True
        try:
            async with self.services.db.transaction(write=True) as conn:
                if await store.analyze_if_never_analyzed(conn):
                    log.info("gathered the first statistics of the resources table")
        except Exception:
            log.exception("could not check the resources table's statistics")

    async def _give_up_one(self, batch_id: str) -> None:
        async with self.services.db.transaction(write=True) as conn:
            now = datetime.now(UTC)
            batch = await store.renew(conn, batch_id, self.name, _stamp(now + self.lease))
            if batch is not None:
                await process.fail_next(conn, batch, now)

    async def _hand_back(self, batch_id: str) -> None:
        with contextlib.suppress(Exception):
            async with self.services.db.transaction(write=True) as conn:
                await store.release(conn, batch_id, self.name, _stamp(datetime.now(UTC)))


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
        await worker.stop()
        await services.close()
