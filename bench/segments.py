"""Segments at scale (issue 15): ``python -m bench.segments --engine sqlite --records 1000000``.

One tenant's customers are bulk-loaded with SQL (bench/bulk.py) before the server starts; then,
over real HTTP, one client at a time (latency, not throughput):

* member count and first page (``GET /api/segments/{id}/members?limit=100``, which answers
  ``pagination.total``) for a narrow segment (one first name), a broad one (every email
  ending in ``@example.com``: all of them) and a date one (``createdAt`` between December 1st
  and January 31st: all of them too);
* ``GET /api/segments/user/{id}`` with 50 segments defined;
* PATCH of a customer (wrk, as the main suite) before and after the 50 segments exist.

Besides wall time, each member request reports the server's CPU (every thread of its process
tree, from /proc) and its busiest thread's CPU: on a shared machine wall time follows the
neighbours, and with the scan split over reader threads the busiest thread is what bounds
the wall time on an idle machine. How long that thread was runnable but waited for a CPU is
reported too: on a shared machine it is most of what wall time adds to the busiest thread.
The server is pinned to one CPU for the PATCH runs (as in ``make bench``); ``--scan-cpus
all`` lets it use every CPU for the member requests (the scan's threads need more than one to
run side by side).

Kept short: a few repetitions each, medians reported. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import documents, rss
from bench.stand import Options, Stand, stand


def _conditions(i: int) -> list[dict[str, Any]]:
    """50 segments of the kinds a tenant defines: names, domains, dates, opt-outs."""
    kinds: list[list[dict[str, Any]]] = [
        [{"field": "firstName", "operator": "equals", "value": [f"First{i}"]}],
        [{"field": "email", "operator": "ends_with", "value": ["@example.com"]}],
        [{"field": "createdAt", "operator": "between_month_day", "value": ["12-01", "01-31"]}],
        [
            {"field": "smsOptOut", "operator": "equals", "value": [True]},
            {"field": "phone", "operator": "exists", "value": []},
        ],
        [{"field": "lastName", "operator": "not_equals", "value": [f"Last{i}"]}],
    ]
    return kinds[i % len(kinds)]


def _threads(pid: int) -> dict[str, tuple[float, float]]:
    """Of every thread of ``pid``'s process tree, by thread id: seconds on a CPU, and seconds
    spent runnable but waiting for one (the scheduler's ``schedstat``, in nanoseconds)."""
    out: dict[str, tuple[float, float]] = {}
    for p in rss.tree(pid):
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/schedstat", encoding="ascii") as f:
                    on_cpu, waiting = f.read().split()[:2]
            except (OSError, ValueError):
                continue
            out[task] = (int(on_cpu) / 1e9, int(waiting) / 1e9)
    return out


def _pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the server on ``cpus`` (threads it starts later inherit it)."""
    for p in rss.tree(pid):
        for task in os.listdir(f"/proc/{p}/task"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(int(task), cpus)


def _timed(
    client: httpx.Client, path: str, repeat: int, pid: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Medians of ``repeat`` GETs (after one unmeasured) in milliseconds — wall, server CPU,
    the server's busiest thread, and how long that thread waited for a CPU (taken by other
    processes or by the server's own threads) — and the last body."""
    client.get(path)
    runs: list[tuple[float, float, float, float]] = []
    body: dict[str, Any] = {}
    for _ in range(repeat):
        before = _threads(pid)
        start = time.perf_counter()
        response = client.get(path)
        wall = time.perf_counter() - start
        after = _threads(pid)
        zero = (0.0, 0.0)
        spent = [
            (cpu - before.get(k, zero)[0], waited - before.get(k, zero)[1])
            for k, (cpu, waited) in after.items()
        ]
        busiest = max(spent, default=zero)
        runs.append((wall, sum(cpu for cpu, _ in spent), *busiest))
        response.raise_for_status()
        body = response.json()
    names = ("wall", "cpu", "busiest thread", "busiest thread waiting for a CPU")
    return {
        n: round(statistics.median(r[i] for r in runs) * 1000, 1) for i, n in enumerate(names)
    }, body


def _measure(st: Stand, records: int, repeat: int, scan_cpus: str, patch: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {st.identity.token}"}
    out: dict[str, Any] = {"records": records, "engine": st.options.engine}
    with httpx.Client(base_url=st.server.base_url, headers=headers, timeout=300) as client:
        if patch:
            out["patch p50 ms, no segments"] = st.drive("patch", records=records).p50_ms
        ids = []
        for i in range(50):
            spec = {"name": f"segment {i}", "conditions": _conditions(i)}
            made = client.post("/api/segments", json=spec)
            made.raise_for_status()
            ids.append(made.json()["data"]["id"])
        pid = st.server.pid
        if scan_cpus == "all":
            _pin(pid, os.sched_getaffinity(0))
        load = os.getloadavg()[0]
        for label, segment_id in (
            ("narrow (one first name)", ids[0]),
            ("broad (all)", ids[1]),
            ("date (all, createdAt in Dec-Jan)", ids[2]),
        ):
            path = f"/api/segments/{segment_id}/members?limit=100"
            ms, body = _timed(client, path, repeat, pid)
            for name, value in ms.items():
                out[f"members count + first page ms ({name}), {label}"] = value
            out[f"members total, {label}"] = body["data"]["pagination"]["total"]
        out["load average during members"] = round((load + os.getloadavg()[0]) / 2, 1)
        if scan_cpus == "all" and st.place.server:
            _pin(pid, set(st.place.server))
        user = documents.customer_id(records // 2)
        times: list[float] = []
        for _ in range(max(50, repeat * 10)):
            start = time.perf_counter()
            client.get(f"/api/segments/user/{user}").raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
        out["segments/user p50 ms, 50 segments"] = round(statistics.median(times), 2)
        if patch:
            out["patch p50 ms, 50 segments"] = st.drive("patch", records=records).p50_ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segments")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per PATCH run")
    parser.add_argument(
        "--scan-cpus",
        choices=("pinned", "all"),
        default="all",
        help="CPUs the server may use for the member requests (PATCH runs stay pinned)",
    )
    parser.add_argument("--skip-patch", action="store_true", help="no PATCH runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reach-bench-segments-") as workdir:
        options = Options(
            engine=args.engine,
            pg_url=args.pg_url,
            records=args.records,
            duration=args.duration,
            connections=8,
            workers=1,
            scenarios=[],
            batches=0,
            scale=None,
            rss_curve=None,
            compare_workers=False,
            pin=True,
            warmup=1.0,
            workdir=Path(workdir),
            token_ttl=7200,
        )
        with stand(options, bulk_records=args.records, label="segments") as st:
            print(
                json.dumps(
                    _measure(st, args.records, args.repeat, args.scan_cpus, not args.skip_patch),
                    indent=2,
                )
            )


if __name__ == "__main__":
    main()
