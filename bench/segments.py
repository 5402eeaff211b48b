"""Segments at scale (issue 15): ``python -m bench.segments --engine sqlite --records 1000000``.

One tenant's customers are bulk-loaded with SQL (bench/bulk.py) before the server starts; then,
over real HTTP, one client at a time (latency, not throughput):

* member count and first page (``GET /api/segments/{id}/members?limit=100``, which answers
  ``pagination.total``) for a narrow segment (one first name) and a broad one (every email
  ending in ``@example.com``: all of them);
* ``GET /api/segments/user/{id}`` with 50 segments defined;
* PATCH of a customer (wrk, as the main suite) before and after the 50 segments exist.

Kept short: a few repetitions each, medians reported. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import documents
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


def _timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, dict[str, Any]]:
    """Median milliseconds of ``repeat`` GETs (after one unmeasured), and the last body."""
    client.get(path)
    times: list[float] = []
    body: dict[str, Any] = {}
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
        body = response.json()
    return round(statistics.median(times), 1), body


def _measure(st: Stand, records: int, repeat: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {st.identity.token}"}
    out: dict[str, Any] = {"records": records, "engine": st.options.engine}
    with httpx.Client(base_url=st.server.base_url, headers=headers, timeout=300) as client:
        out["patch p50 ms, no segments"] = st.drive("patch", records=records).p50_ms
        ids = []
        for i in range(50):
            spec = {"name": f"segment {i}", "conditions": _conditions(i)}
            made = client.post("/api/segments", json=spec)
            made.raise_for_status()
            ids.append(made.json()["data"]["id"])
        for label, segment_id in (("narrow (one first name)", ids[0]), ("broad (all)", ids[1])):
            ms, body = _timed(client, f"/api/segments/{segment_id}/members?limit=100", repeat)
            out[f"members count + first page ms, {label}"] = ms
            out[f"members total, {label}"] = body["data"]["pagination"]["total"]
        user = documents.customer_id(records // 2)
        times: list[float] = []
        for _ in range(max(50, repeat * 10)):
            start = time.perf_counter()
            client.get(f"/api/segments/user/{user}").raise_for_status()
            times.append((time.perf_counter() - start) * 1000)
        out["segments/user p50 ms, 50 segments"] = round(statistics.median(times), 2)
        out["patch p50 ms, 50 segments"] = st.drive("patch", records=records).p50_ms
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segments")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per PATCH run")
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
            print(json.dumps(_measure(st, args.records, args.repeat), indent=2))


if __name__ == "__main__":
    main()
