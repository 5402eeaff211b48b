"""Prometheus metrics with the official client: request latency, the batch queue, the pool.

Requests are counted by one histogram, ``reach_http_request_duration_seconds{method, route,
status}``; its ``_count`` series is the request count (``rate(..._count[5m])`` is requests per
second), so a separate counter would double the per-request cost for nothing. ``route`` is the
route template (``/api/resources/{schema}/{externalId:path}``), never a concrete path, so the
label set stays small and no external id reaches the metrics.

Processes: ``reach serve --workers N`` (N > 1) sets ``PROMETHEUS_MULTIPROC_DIR`` to a fresh
temporary directory before granian starts its workers; prometheus_client then keeps every
worker's values in memory-mapped files there and any worker's ``/metrics`` reports the sum over
all of them. With one worker the values simply live in the process.
"""

from __future__ import annotations

import hmac
import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    multiprocess,
    values,
)
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response

from reach.errors import Unauthorized
from reach.observability.gauges import (
    PoolGauges,
    PoolSampler,
    QueueCollector,
    ReplicaGauges,
    queue_snapshot,
)
from reach.services import Services
from reach.storage.replicas import OUTCOMES
from reach.web.edge import Exchange

# Seconds. The API answers most requests in about a millisecond; batches and large lists
# take longer.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Anything else a client sends as a method is folded into one label value, so a scanner
# cannot grow the label set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def multiprocess_mode() -> bool:
    """Whether prometheus_client decided (at import, from its variable) to share values
    between processes through files."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


class Metrics:
    """One app's metrics: the registry ``/metrics`` renders and the request observer."""

    def __init__(self, token: str = "") -> None:
        self._expected = f"Bearer {token}".encode() if token else None
        # ``*_created`` series (one per label set) double what is stored and scraped, and
        # Prometheus does not use them; process-wide, as the client library keeps the switch.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.multiprocess = multiprocess_mode()
        self.registry = CollectorRegistry(auto_describe=True)
        # In multiprocess mode the live objects only write their files; the scrape reads every
        # process's files through MultiProcessCollector, so they must not be registered too.
        own = None if self.multiprocess else self.registry
        self.requests = Histogram(
            "reach_http_request_duration_seconds",
            "HTTP requests by method, route template and status: latency in seconds "
            "(the _count series counts requests).",
            ["method", "route", "status"],
            buckets=BUCKETS,
            registry=own,
        )
        self.pool = PoolGauges(own)
        self.replicas = ReplicaGauges(own)
        self.replica_reads = Counter(
            "reach_db_replica_reads",
            "Reads of replica routes by where they went (REACH_DATABASE_READ_URLS): replica, "
            "or the primary because no replica was up and fresh enough (primary_no_replica), "
            "none replayed the Reach-Consistency token in time (primary_behind), the replica's "
            "pool stayed full (primary_busy) or the replica failed the read (primary_fault).",
            ["outcome"],
            registry=own,
        )
        self.queue = QueueCollector()
        if self.multiprocess:
            # prometheus_client leaves these two untyped.
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        else:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.registry.register(self.queue)
        self._children: dict[tuple[str, str, int], Histogram] = {}
        self._sampler: PoolSampler | None = None

    def observe(self, exchange: Exchange) -> None:
        """The Edge observer: one dictionary lookup and one histogram observation."""
        key = (exchange.method, exchange.route, exchange.status)
        child = self._children.get(key)
        if child is None:
            method = exchange.method if exchange.method in _METHODS else "other"
            child = self._children[key] = self.requests.labels(
                method, exchange.route, str(exchange.status)
            )
        child.observe(exchange.duration)

    async def endpoint(self, request: Request) -> Response:
        """``GET /metrics`` in the Prometheus text format (OpenMetrics when asked for)."""
        if self._expected is not None:
            given = request.headers.get("authorization", "").encode("latin-1")
            # Constant time: the comparison must not tell a guesser how much of it was right.
            if not hmac.compare_digest(given, self._expected):
                raise Unauthorized("GET /metrics needs the metrics bearer token")
        services: Services = request.app.state.services
        try:
            self.queue.snapshot = await queue_snapshot(services.db)
        except Exception:
            # An unreachable database must not hide every other metric; its gauges go missing
            # (and /readyz says why).
            self.queue.snapshot = None
        self.pool.sample(services.db)
        if services.replicas is not None:
            self.replicas.sample(services.replicas)
        encoder, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encoder(self.registry), media_type=content_type)

    def start(self, services: Services) -> None:
        replicas = services.replicas
        if replicas is not None:
            counters = {outcome: self.replica_reads.labels(outcome) for outcome in OUTCOMES}
            replicas.on_read = lambda outcome: counters[outcome].inc()
        if self.multiprocess:
            also = None if replicas is None else (lambda: self.replicas.sample(replicas))
            self._sampler = PoolSampler(self.pool, services.db, also=also)
            self._sampler.start()

    async def stop(self) -> None:
        if self._sampler is not None:
            await self._sampler.stop()
        if self.multiprocess:
            # This process's "live" gauges stop counting; its counters and histograms stay.
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
