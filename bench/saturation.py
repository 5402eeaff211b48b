"""Where one PostgreSQL primary saturates: PATCH and batch ingest at 1, 2 and 4 nodes.

A node is a ``reach serve`` process (``--workers N`` starts N of them on one port, each with
its own pool and batch worker: from the database's side the same as N hosts behind a load
balancer). For each node count it seeds a fresh database, drives PATCH with wrk, then submits
``--batches`` batches of 1000 new customers, and reports, next to each figure, where the CPU
went during the measured seconds — cores busy in the load generator, the nodes, the
PostgreSQL backends serving this database, PostgreSQL's shared WAL writer / checkpointer, and
the whole machine (so other work on a shared machine shows) — plus the WAL flushes and
commits per second. Those say which of client, node CPU, PostgreSQL CPU or WAL fsync is the
bottleneck; docs/scaling.md reads them.

Usage (PostgreSQL only; it creates and drops scratch databases on the server given)::

    python -m bench.saturation --pg-url postgresql://postgres@127.0.0.1:5432 \\
        --nodes 1,2,4 --duration 10 --batches 5

Results are printed and written to bench/results/<stamp>-saturation.json. Run it on a quiet
machine for figures worth comparing; the 1-minute load average is recorded with each row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from bench import batch_load, documents, raw_asyncpg, seed
from bench.report import RESULTS_DIR, machine
from bench.stand import Options, Stand, stand
from bench.stats import LoadResult, from_latencies

TICKS = os.sysconf("SC_CLK_TCK")
# The cluster's shared writers: they flush and checkpoint for every database on the server.
PG_SHARED = ("walwriter", "checkpointer", "background writer")


@dataclass
class Usage:
    """Cores busy (CPU seconds per wall second) in each part, and the WAL's pace."""

    client: float = 0.0
    nodes: float = 0.0
    pg_backends: float = 0.0
    pg_shared: float = 0.0
    machine: float = 0.0
    commits_per_s: float = 0.0
    wal_syncs_per_s: float = 0.0
    wal_mib_per_s: float = 0.0


def _cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone: its time is lost, which only under-reports
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _machine_busy() -> float:
    with open("/proc/stat", encoding="ascii") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / TICKS


class Probe:
    """Samples taken before and after a measured load, on one stand."""

    def __init__(self, st: Stand) -> None:
        self.st = st

    async def _pg(self) -> dict[str, Any]:
        conn = await asyncpg.connect(self.st.db.url)
        try:
            rows = await conn.fetch(
                "SELECT pid, datname, backend_type FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid()"
            )
            wal_sync = await conn.fetchval("SELECT wal_sync FROM pg_stat_wal")
            wal_bytes = await conn.fetchval("SELECT wal_bytes FROM pg_stat_wal")
            commits = await conn.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
            )
            name = await conn.fetchval("SELECT current_database()")
        finally:
            await conn.close()
        return {
            "backends": [r["pid"] for r in rows if r["datname"] == name],
            "shared": [r["pid"] for r in rows if r["backend_type"] in PG_SHARED],
            "wal_sync": int(wal_sync),
            "wal_bytes": int(wal_bytes),
            "commits": int(commits),
        }

    def sample(self) -> dict[str, Any]:
        # A thread of its own: the raw loop samples from inside its running event loop.
        with ThreadPoolExecutor(1) as pool:
            pg = pool.submit(asyncio.run, self._pg()).result()
        return {
            "at": time.monotonic(),
            "machine": _machine_busy(),
            "nodes": {p: _cpu_seconds(p) for p in _descendants(self.st.server.pid)},
            "backends": {p: _cpu_seconds(p) for p in pg["backends"]},
            "shared": {p: _cpu_seconds(p) for p in pg["shared"]},
            "self": _rusage(resource.RUSAGE_SELF),
            "children": _rusage(resource.RUSAGE_CHILDREN),
            **{k: pg[k] for k in ("wal_sync", "wal_bytes", "commits")},
        }

    @contextmanager
    def measure(self, usage: Usage, client: str) -> Iterator[None]:
        """Fill ``usage`` with what the block cost; ``client`` is where its load generator
        runs: ``"children"`` (wrk, reaped within the block) or ``"self"`` (this process)."""
        before = self.sample()
        yield
        # The probe's own connections are not in the backend list it sampled before: a new
        # pid counts from zero, so its short life adds a few milliseconds at most.
        after = self.sample()
        wall = after["at"] - before["at"]

        def delta(key: str) -> float:
            spent = sum(float(t) - before[key].get(p, 0.0) for p, t in after[key].items())
            return float(spent / wall)

        usage.client = round((after[client] - before[client]) / wall, 2)
        usage.nodes = round(delta("nodes"), 2)
        usage.pg_backends = round(delta("backends"), 2)
        usage.pg_shared = round(delta("shared"), 2)
        usage.machine = round((after["machine"] - before["machine"]) / wall, 2)
        usage.commits_per_s = round((after["commits"] - before["commits"]) / wall, 1)
        usage.wal_syncs_per_s = round((after["wal_sync"] - before["wal_sync"]) / wall, 1)
        usage.wal_mib_per_s = round((after["wal_bytes"] - before["wal_bytes"]) / wall / 2**20, 2)


def _rusage(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


@dataclass
class Row:
    scenario: str
    nodes: int
    result: LoadResult
    usage: Usage


def _one(options: Options, nodes: int, batches: int) -> list[Row]:
    rows: list[Row] = []
    with stand(options, workers=nodes, label=f"saturation-{nodes}") as st:
        print(f"saturation: {nodes} node(s), seeding {options.records:,} ...", flush=True)
        seed.seed(st.server.base_url, st.identity.token, options.records)
        probe = Probe(st)
        usage = Usage()
        print(f"saturation: PATCH at {nodes} node(s) ...", flush=True)
        st.drive("patch", records=options.records, warmup=options.warmup, duration=1)  # warm
        with probe.measure(usage, "children"):
            result = st.drive("patch", records=options.records, warmup=0)
        rows.append(Row("patch", nodes, result, usage))
        print(f"saturation: raw asyncpg UPDATE with {nodes}x the pool ...", flush=True)
        rows.append(_raw(st, probe, nodes, options))
        print(f"saturation: batch ingest at {nodes} node(s) ...", flush=True)
        usage = Usage()
        with probe.measure(usage, "self"):
            result = batch_load.run(st.server.base_url, st.identity.token, batches=batches)
        result.load_avg = round(os.getloadavg()[0], 2)
        rows.append(Row("batch ingest", nodes, result, usage))
    return rows


def per_op(cores: float, rate: float) -> float:
    """CPU microseconds one request (or batch record) cost: what scales to another box."""
    return round(cores / rate * 1e6) if rate > 0 else 0.0


async def _update_loop(
    pool: asyncpg.Pool, tenant_id: str, seconds: float, tasks: int
) -> LoadResult:
    """bench/raw_asyncpg.py's loop on a pool opened outside the measured block, so its
    backends are still there to be sampled when the block ends."""
    rows = await pool.fetch(
        "SELECT seq, external_id FROM resources WHERE tenant_id = $1", tenant_id
    )
    targets = [(int(r["seq"]), str(r["external_id"])) for r in rows]
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker(k: int) -> None:
        rng = random.Random(k)
        while (t0 := time.perf_counter()) < deadline:
            seq, external_id = rng.choice(targets)
            doc = documents.stored_customer(0)
            doc.update(customerId=external_id, email=f"user{rng.randrange(10**9)}@example.com")
            await pool.execute(raw_asyncpg.UPDATE, orjson.dumps(doc).decode(), tenant_id, seq)
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker(k) for k in range(tasks)))
    return from_latencies(latencies, time.perf_counter() - start, 0)


def _raw(st: Stand, probe: Probe, nodes: int, options: Options) -> Row:
    """The primary's own ceiling for one-UPDATE commits, with as many connections as the
    nodes hold (10 each): PATCH ÷ this says whether the database or the nodes limit."""
    usage = Usage()

    async def run() -> LoadResult:
        pool = await asyncpg.create_pool(
            st.db.url, min_size=10 * nodes, max_size=10 * nodes, reset=raw_asyncpg.keep_session
        )
        try:
            await _update_loop(pool, st.identity.tenant_id, 1, options.connections)  # warm
            with probe.measure(usage, "self"):
                return await _update_loop(
                    pool, st.identity.tenant_id, options.duration, options.connections
                )
        finally:
            await pool.close()

    result = asyncio.run(run())
    result.load_avg = round(os.getloadavg()[0], 2)
    result.note = f"asyncpg pool of {10 * nodes}, {options.connections} tasks"
    return Row("raw update", nodes, result, usage)


def render(rows: list[Row]) -> str:
    header = (
        f"{'scenario':<14}{'nodes':>6}{'rate/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'err':>5}"
        f"{'load':>6}  cores busy: {'client':>6}{'nodes':>6}{'pg':>6}{'pg-wal':>7}{'box':>6}"
        f"{'commit/s':>10}{'fsync/s':>9}{'WAL MiB/s':>10}  µs/op: {'node':>6}{'pg':>6}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        u = r.usage
        lines.append(
            f"{r.scenario:<14}{r.nodes:>6}{r.result.rps:>9.0f}{r.result.p50_ms:>9.1f}"
            f"{r.result.p99_ms:>9.1f}{r.result.errors:>5}{r.result.load_avg:>6.1f}  "
            f"{'':12}{u.client:>6.2f}{u.nodes:>6.2f}{u.pg_backends:>6.2f}{u.pg_shared:>7.2f}"
            f"{u.machine:>6.2f}{u.commits_per_s:>10.0f}{u.wal_syncs_per_s:>9.0f}"
            f"{u.wal_mib_per_s:>10.2f}  {'':7}{per_op(u.nodes, r.result.rps):>6.0f}"
            f"{per_op(u.pg_backends, r.result.rps):>6.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None, run: Callable[..., list[Row]] = _one) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.saturation", description=__doc__)
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--nodes", default="1,2,4", help="node counts to run (1,2,4)")
    p.add_argument("--records", type=int, default=10_000, help="customers seeded (10000)")
    p.add_argument("--duration", type=float, default=10, help="seconds of PATCH (10)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--batches", type=int, default=5, help="batches of 1000 ingested (5)")
    args = p.parse_args(argv)
    counts = [int(n) for n in args.nodes.split(",") if n.strip()]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="reach-bench-saturation-") as workdir:
        options = Options(
            engine="postgresql",
            pg_url=args.pg_url,
            records=args.records,
            duration=args.duration,
            connections=args.connections,
            workers=1,
            scenarios=[],
            batches=args.batches,
            scale=None,
            rss_curve=None,
            compare_workers=False,
            pin=False,  # N nodes and the client share every core, as they would on one box
            warmup=2.0,
            workdir=Path(workdir),
            token_ttl=7200,
        )
        rows = [row for n in counts for row in run(options, n, args.batches)]
    print("\n" + render(rows))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}-saturation.json"
    path.write_text(
        json.dumps(
            {
                "started_at": stamp,
                "machine": machine(None),
                "options": vars(args),
                "rows": [
                    {
                        "scenario": r.scenario,
                        "nodes": r.nodes,
                        "result": r.result.to_json(),
                        "usage": asdict(r.usage),
                    }
                    for r in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
