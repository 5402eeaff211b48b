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

SCENARIOS = ("healthz", "get", "patch", "upsert", "batch", "raw")
WRK_SCENARIOS = ("healthz", "get", "patch", "upsert")


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
                rows[name] = st.drive(name, records=options.records)
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
