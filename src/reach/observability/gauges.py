"""What the server holds rather than what it did: the batch queue and the database pool.

The queue lives in the database, so it is read when Prometheus scrapes (one indexed query:
finished batches have no ``wake_at``, so ``wake_at IS NOT NULL`` walks only the unfinished
ones) and reported by whichever process serves the scrape — it is the same for all of them.

The pool is per process. With one process it is sampled at scrape time; with several
(``reach serve --workers N``) every process samples its own into multiprocess gauges once a
second and the scrape sums the live processes' values.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reach import clock
from reach.storage.database import LONG_READS, Database

if TYPE_CHECKING:
    from reach.storage.replicas import Replicas

log = logging.getLogger("reach.observability")

_UNFINISHED = (
    "SELECT status, count(*) AS batches, "
    "coalesce(sum(total_records - processed_records), 0) AS records, "
    "min(created_at) AS oldest "
    "FROM batches WHERE wake_at IS NOT NULL GROUP BY status"
)


@dataclass(slots=True)
class QueueSnapshot:
    batches: dict[str, int]  # status → unfinished batches
    records: int  # accepted records not yet processed
    oldest_age: float  # seconds since the oldest unfinished batch was accepted; 0 if none


async def queue_snapshot(db: Database) -> QueueSnapshot:
    """The batch queue now: a read-only query of the batch table."""
    async with db.transaction(write=False) as conn:
        rows = await conn.fetch(_UNFINISHED)
    batches = {"pending": 0, "processing": 0}
    records = 0
    oldest: str | None = None
    for row in rows:
        batches[str(row["status"])] = int(row["batches"])
        records += int(row["records"])
        stamp = row["oldest"]
        if stamp is not None and (oldest is None or str(stamp) < oldest):
            oldest = str(stamp)
    age = 0.0
    if oldest is not None:
        age = max(0.0, time.time() - clock.parse_timestamp(oldest).timestamp())
    return QueueSnapshot(batches, records, age)


class QueueCollector(Collector):
    """Hands the last snapshot to the registry; the scrape endpoint refreshes it just before
    rendering (``collect`` is synchronous, the query is not)."""

    def __init__(self) -> None:
        self.snapshot: QueueSnapshot | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snap = self.snapshot
        if snap is None:
            return
        batches = GaugeMetricFamily(
            "reach_batch_queue_batches",
            "Batches accepted and not finished, by status (pending: not started yet).",
            labels=["status"],
        )
        for status, count in sorted(snap.batches.items()):
            batches.add_metric([status], count)
        yield batches
        yield GaugeMetricFamily(
            "reach_batch_queue_records",
            "Records in unfinished batches that no worker has processed yet.",
            value=snap.records,
        )
        yield GaugeMetricFamily(
            "reach_batch_oldest_pending_age_seconds",
            "Age of the oldest unfinished batch (0 when the queue is empty).",
            value=round(snap.oldest_age, 3),
        )


class PoolGauges:
    """Database connections of this process. PostgreSQL: the asyncpg pool. SQLite: the one
    connection, busy or idle, and the coroutines queued for it."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        # livesum: with several processes, the scrape adds up the processes still alive.
        self.connections = Gauge(
            "reach_db_connections",
            "Open database connections of the server, by state.",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.limit = Gauge(
            "reach_db_connections_max",
            "Most database connections the server may open (REACH_DB_POOL_SIZE per process; "
            "1 per process on SQLite).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.waiters = Gauge(
            "reach_db_lock_waiters",
            "SQLite: transactions waiting for the process's connection (0 on PostgreSQL).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.long_reads = Gauge(
            "reach_db_long_reads",
            "Long reads (segment member scans) running now; on SQLite they run on reader "
            "connections (REACH_SQLITE_SCAN_THREADS), beside the process's one connection.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._in_use = self.connections.labels("in_use")
        self._idle = self.connections.labels("idle")

    def sample(self, db: Database) -> None:
        usage = db.usage()
        self._in_use.set(usage.in_use)
        self._idle.set(usage.idle)
        self.limit.set(usage.limit)
        self.waiters.set(usage.waiting)
        self.long_reads.set(LONG_READS.now)


class ReplicaGauges:
    """Each read replica as this process's checker last saw it (REACH_DATABASE_READ_URLS).
    With several processes the scrape shows the worst: the most lag, and down if any
    process has it out of rotation."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.lag = Gauge(
            "reach_db_replica_lag_seconds",
            "How stale a read replica may be: it holds every commit older than this "
            "(NaN until known).",
            ["replica"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.lag_bytes = Gauge(
            "reach_db_replica_lag_bytes",
            "WAL bytes a read replica has still to replay, at the last check.",
            ["replica"],
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.up = Gauge(
            "reach_db_replica_up",
            "1 while a read replica is in rotation, 0 while reads skip it.",
            ["replica"],
            registry=registry,
            multiprocess_mode="livemin",
        )

    def sample(self, replicas: Replicas) -> None:
        for state in replicas.states():
            lag = float("nan") if state.lag_seconds is None else state.lag_seconds
            self.lag.labels(state.name).set(lag)
            behind = float("nan") if state.lag_bytes is None else state.lag_bytes
            self.lag_bytes.labels(state.name).set(behind)
            self.up.labels(state.name).set(1 if state.up else 0)


class PoolSampler:
    """Multiprocess mode only: samples this process's pool (and ``also``, the replicas) into
    its gauges every second."""

    def __init__(
        self,
        gauges: PoolGauges,
        db: Database,
        every: float = 1.0,
        also: Callable[[], None] | None = None,
    ) -> None:
        self._gauges = gauges
        self._db = db
        self._every = every
        self._also = also
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reach-pool-sampler")

    async def _run(self) -> None:
        while True:
            try:
                self._gauges.sample(self._db)
                if self._also is not None:
                    self._also()
            except Exception:  # a sampling bug must not take the process down
                log.exception("sampling the database pool failed")
            await asyncio.sleep(self._every)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
