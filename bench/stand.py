"""A test stand: fresh database + partner/tenant/token + running server, torn down afterwards.

Every part of a bench run (the default suite, each extra mode) builds its own stand, so no
measurement inherits another's data, caches or memory.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import bulk, database, reachcli, wrk
from bench.rss import Sampler
from bench.server import Server
from bench.stats import LoadResult


@dataclass(frozen=True)
class Options:
    engine: str
    pg_url: str
    records: int
    duration: float
    connections: int
    workers: int
    scenarios: list[str]
    batches: int
    scale: int | None
    rss_curve: float | None
    compare_workers: bool
    pin: bool
    warmup: float
    workdir: Path
    token_ttl: int


@dataclass(frozen=True)
class Placement:
    """Which CPUs the server and the load generators may use (None: anywhere)."""

    server: list[int] | None
    load: list[int] | None

    @property
    def load_threads(self) -> int:
        return len(self.load) if self.load else max(1, (os.cpu_count() or 2) // 2)


def placement(pin: bool, workers: int) -> Placement:
    cpus = sorted(os.sched_getaffinity(0))
    # One worker gets one core to itself and the load the rest. With more workers than that
    # leaves room for, pinning would only squeeze them: let the scheduler place everything.
    if pin and workers < len(cpus):
        return Placement(cpus[:workers], cpus[workers:])
    return Placement(None, None)


@dataclass
class Stand:
    options: Options
    db: database.ScratchDatabase
    identity: reachcli.Identity
    server: Server
    place: Placement
    run_tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def lua_env(self, records: int, path: str = "") -> dict[str, str]:
        return {
            "BENCH_TOKEN": self.identity.token,
            "BENCH_RECORDS": str(records),
            "BENCH_PREFIX": "bench-",
            "BENCH_RUN": self.run_tag,
            "BENCH_PATH": path,
        }

    def drive(
        self,
        scenario: str,
        *,
        records: int,
        duration: float | None = None,
        connections: int | None = None,
        path: str = "",
        warmup: float | None = None,
    ) -> LoadResult:
        """One wrk scenario (after an unmeasured warm-up), with the server's RSS sampled."""
        opts = self.options

        def load(seconds: float) -> LoadResult:
            return wrk.run(
                scenario,
                self.server.base_url,
                duration=seconds,
                connections=connections or opts.connections,
                threads=self.place.load_threads,
                env=self.lua_env(records, path),
                cpus=self.place.load,
            )

        warm = opts.warmup if warmup is None else warmup
        if warm > 0:
            load(warm)  # caches, connections and the page cache settle; not measured
        with Sampler(self.server.pid) as rss:
            result = load(duration or opts.duration)
        result.rss_peak_mib = round(rss.peak, 1)
        result.load_avg = round(os.getloadavg()[0], 2)
        return result


@contextmanager
def stand(
    options: Options, *, workers: int | None = None, bulk_records: int = 0, label: str = "stand"
) -> Iterator[Stand]:
    """Fresh database (optionally bulk-loaded before the server starts) and a running server."""
    workers = workers or options.workers
    db = database.create(options.engine, options.workdir, options.pg_url)
    try:
        identity = reachcli.provision(db.url, options.token_ttl)
        if bulk_records:
            target = db.name if db.engine == "sqlite" else db.url
            seconds = bulk.load(
                db.engine, target, identity.partner_id, identity.tenant_id, bulk_records
            )
            print(f"  bulk-loaded {bulk_records:,} customers with SQL in {seconds:.1f} s")
        place = placement(options.pin, workers)
        server = Server(
            db.url, options.workdir / f"{label}-server.log", workers=workers, cpus=place.server
        )
        with server:
            yield Stand(options, db, identity, server, place)
    finally:
        db.drop()
