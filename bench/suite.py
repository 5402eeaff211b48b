"""The default suite: seed N customers, then /healthz, GET, PATCH, upsert, batch, raw floor.

Order matters a little: the read-only scenarios run before the ones that add records, and the
raw storage loop runs last on the same (by then well-exercised) database.
"""

from __future__ import annotations

import os
from typing import Any

from bench import batch_load, batchapi, reference, seed
from bench.report import ratio
from bench.rss import Sampler
from bench.stand import Options, stand
from bench.stats import LoadResult
from reach.config import load_settings

SCENARIOS = ("healthz", "get", "patch", "patch_idem", "upsert", "batch", "raw")
WRK_SCENARIOS = ("healthz", "get", "patch", "patch_idem", "upsert")


def pooled(rows: dict[str, LoadResult], name: str) -> LoadResult | None:
    """Every run of one scenario as one (requests and seconds summed): interleaved repeats
    average out the machine's noise."""
    runs = [row for key, row in rows.items() if key.split("#")[0] == name]
    if not runs:
        return None
    return LoadResult(
        requests=sum(r.requests for r in runs),
        seconds=sum(r.seconds for r in runs),
        errors=sum(r.errors for r in runs),
        p50_ms=sorted(r.p50_ms for r in runs)[len(runs) // 2],
        p95_ms=max(r.p95_ms for r in runs),
        p99_ms=max(r.p99_ms for r in runs),
    )


def run(options: Options) -> dict[str, Any]:
    rows: dict[str, LoadResult] = {}
    skipped: dict[str, str] = {}
    with stand(options, label="suite") as st:
        print(f"seeding {options.records:,} customers ...", flush=True)
        seeded = seed.seed(st.server.base_url, st.identity.token, options.records)
        print(
            f"  {seeded.records:,} via {seeded.method} in {seeded.seconds:.1f} s "
            f"({seeded.records / seeded.seconds:,.0f} records/s, {seeded.failed} failed)"
        )
        for name in options.scenarios:
            print(f"scenario {name} ({options.duration:.0f} s) ...", flush=True)
            if name in WRK_SCENARIOS:
                # A scenario named again (interleaved runs on a noisy machine) is kept as
                # name#2, name#3, ...
                repeat = sum(1 for row in rows if row.split("#")[0] == name)
                rows[f"{name}#{repeat + 1}" if repeat else name] = st.drive(
                    name, records=options.records
                )
            elif name == "batch":
                try:
                    with Sampler(st.server.pid) as rss:
                        rows[name] = batch_load.run(
                            st.server.base_url, st.identity.token, batches=options.batches
                        )
                    rows[name].rss_peak_mib = round(rss.peak, 1)
                except batchapi.BatchApiMissing as exc:
                    skipped[name] = f"batch API not available: {exc}"
            elif name == "raw":
                label = "raw-sqlite3" if options.engine == "sqlite" else "raw-asyncpg"
                rows[label] = reference.run(
                    options.engine,
                    st.db.url,
                    st.identity.tenant_id,
                    seconds=options.duration,
                    tasks=options.connections,
                    pool_size=load_settings().db_pool_size,
                    cpus=st.place.server,
                )
            if name in skipped:
                print(f"  skipped: {skipped[name]}")
            else:
                last = rows[next(reversed(rows))]
                last.load_avg = last.load_avg or round(os.getloadavg()[0], 2)
                print(f"  {last.rps:,.0f}/s p50 {last.p50_ms:.2f} ms, {last.errors} errors")
    raw = rows.get("raw-sqlite3") or rows.get("raw-asyncpg")
    ratios = {
        "PATCH / healthz": ratio(rows.get("patch"), rows.get("healthz")),
        "PATCH with Idempotency-Key / PATCH": ratio(
            pooled(rows, "patch_idem"), pooled(rows, "patch")
        ),
        "GET / healthz": ratio(rows.get("get"), rows.get("healthz")),
        "upsert / healthz": ratio(rows.get("upsert"), rows.get("healthz")),
        f"PATCH / {'raw sqlite3' if options.engine == 'sqlite' else 'raw asyncpg'}": ratio(
            rows.get("patch"), raw
        ),
    }
    return {
        "seed": {
            "method": seeded.method,
            "records": seeded.records,
            "seconds": round(seeded.seconds, 2),
            "failed": seeded.failed,
        },
        "rows": rows,
        "skipped": skipped,
        "ratios": ratios,
        "placement": {"server_cpus": st.place.server, "load_cpus": st.place.load},
    }
