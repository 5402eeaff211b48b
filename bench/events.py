"""Change events (issue 14): ``python -m bench.events --engine sqlite --records 10000``.

Two measurements, kept short (a shared machine gives noisy absolute numbers; the ratio of
back-to-back runs is what matters):

* **PATCH with events on vs off**: the main suite's wrk ``patch`` scenario against a server
  with ``REACH_EVENTS=true`` and one with ``false``, alternated ``--rounds`` times on fresh
  databases of ``--records`` customers; the goal is on ≥ 90 % of off.
* **A feed page at scale**: ``--events`` stamped events for the bench tenant inserted with
  SQL (one statement), then ``GET /api/events?limit=1000`` from a cursor in the middle, one
  client, ``--repeat`` times; the goal is ≤ 50 ms p50 at 1M events.

Results: docs/benchmarks.md (*Change events*).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.served import tree_cpu_seconds
from bench.stand import Options, Stand, stand
from reach.cursors import encode_cursor

_BODY = (
    '{"id":"00000000-0000-4000-8000-000000000000","type":"resource.updated",'
    '"occurredAt":"2026-12-02T10:00:00.000Z","schemaDefinitionId":'
    '"00000000-0000-4000-8000-000000000001","schemaName":"customers",'
    '"resourceExternalId":"bench-1","version":2,"changes":{"phone":{"from":"+1","to":"+2"}},'
    '"data":{"customerId":"bench-1","firstName":"Ada","lastName":"Lovelace","phone":"+2",'
    '"email":"ada@example.com","createdAt":"2026-01-01T00:00:00Z"},"actor":{"partnerId":'
    '"00000000-0000-4000-8000-000000000002","tenantToken":true,"via":"api","batchId":null,'
    '"requestId":"bench"}}'
)


def _options(args: argparse.Namespace, workdir: Path) -> Options:
    return Options(
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
        workdir=workdir,
        token_ttl=7200,
    )


def _patch(options: Options, records: int, events: bool) -> dict[str, float]:
    os.environ["REACH_EVENTS"] = "true" if events else "false"
    try:
        with stand(options, bulk_records=records, label=f"events-{events}") as st:
            result = st.drive("patch", records=records)
    finally:
        del os.environ["REACH_EVENTS"]
    return {"rps": round(result.rps), "p50_ms": result.p50_ms}


# SQLite: seq and position are the same number (migration 0015); the sequence moves past them.
_SQLITE_FILL = (
    "INSERT INTO events (seq, id, tenant_id, partner_id, position, type, schema_id, "
    "external_id, version, occurred_at, body, prev) WITH RECURSIVE s(n) AS "
    "(SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ?1) "
    "SELECT n, lower(hex(randomblob(16))), ?2, ?3, n, 'resource.updated', "
    "'00000000-0000-4000-8000-000000000001', 'bench-' || (n % 1000), 2, "
    # Each key's previous event is 1000 before (migration 0020's chain; given here, so that the
    # trigger chaining an insert without ``prev`` stays out of the fill).
    "'2026-12-02T10:00:00.000Z', ?4, max(n - 1000, 0) FROM s"
)
_POSTGRES_FILL = (
    "INSERT INTO events (id, tenant_id, partner_id, position, type, schema_id, external_id, "
    "version, occurred_at, body) "
    "SELECT gen_random_uuid(), $2::uuid, $3::uuid, n, 'resource.updated', "
    "'00000000-0000-4000-8000-000000000001'::uuid, 'bench-' || (n % 1000), 2, "
    "'2026-12-02T10:00:00Z'::timestamptz, $4 FROM generate_series(1, $1::bigint) AS n"
)


# The webhook dispatcher's cursor past the filled events, as if it had kept up with them: a
# server that has to fan a backlog of a million events out first measures that, not the feed.
_DISPATCHED = (
    "INSERT INTO webhook_dispatch (name, position, updated_at) "
    "VALUES ('events', ?, '2026-12-02T10:00:00.000Z') "
    "ON CONFLICT (name) DO UPDATE SET position = excluded.position"
)


def _fill(st: Stand, count: int) -> None:
    """``count`` stamped events for the bench tenant, positions 1..count, in one statement."""
    args = (count, st.identity.tenant_id, st.identity.partner_id, _BODY)
    if st.db.engine == "sqlite":
        with sqlite3.connect(st.db.name) as conn:
            conn.execute(_SQLITE_FILL, args)
            conn.execute("UPDATE event_stamp SET last_position = ?", (count,))
            conn.execute("UPDATE sequences SET last = ? WHERE name = 'events'", (count,))
            conn.execute(_DISPATCHED, (count,))
        # Copied into the database file here, not by the server's checkpointer while the
        # pages are timed (a million events is a gigabyte of WAL).
        with sqlite3.connect(st.db.name) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return

    async def run() -> None:
        conn = await asyncpg.connect(st.db.url)
        try:
            await conn.execute(_POSTGRES_FILL, *args)
            await conn.execute("UPDATE event_stamp SET last_position = $1", count)
            await conn.execute(_DISPATCHED.replace("?", "$1"), count)
            await conn.execute("ANALYZE events")
        finally:
            await conn.close()

    asyncio.run(run())


def _feed(options: Options, count: int, repeat: int) -> dict[str, Any]:
    with stand(options, bulk_records=0, label="events-feed") as st:
        start = time.monotonic()
        _fill(st, count)
        filled = time.monotonic() - start
        print(f"  {count:,} events inserted in {filled:.1f} s", flush=True)
        headers = {"Authorization": f"Bearer {st.identity.token}"}
        cursor = encode_cursor("events", [count // 2])
        times: list[float] = []
        with httpx.Client(base_url=st.server.base_url, headers=headers, timeout=60) as client:
            path = f"/api/events?limit=1000&cursor={cursor}"
            client.get(path).raise_for_status()
            cpu_before = tree_cpu_seconds(st.server.pid)
            for _ in range(repeat):
                began = time.perf_counter()
                response = client.get(path)
                times.append((time.perf_counter() - began) * 1000)
                response.raise_for_status()
                if len(response.json()["data"]["results"]) != 1000:
                    raise RuntimeError("the feed page is not 1000 events long")
            cpu = tree_cpu_seconds(st.server.pid) - cpu_before
        return {
            "events": count,
            "filled in s": round(filled, 1),
            "page of 1000 p50 ms": round(statistics.median(times), 1),
            "page of 1000 max ms": round(max(times), 1),
            "server CPU ms per page": round(cpu / repeat * 1000, 2),
            "load average": round(os.getloadavg()[0], 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per PATCH run")
    parser.add_argument(
        "--rounds", type=int, default=2, help="on/off pairs, alternated (0: the feed only)"
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    out: dict[str, Any] = {"engine": args.engine, "records": args.records}
    with tempfile.TemporaryDirectory(prefix="reach-bench-events-") as workdir:
        options = _options(args, Path(workdir))
        on: list[dict[str, float]] = []
        off: list[dict[str, float]] = []
        for _ in range(args.rounds):
            off.append(_patch(options, args.records, events=False))
            on.append(_patch(options, args.records, events=True))
            print(f"  events off {off[-1]}, on {on[-1]}", flush=True)
        if args.rounds:
            out["patch, events off"] = off
            out["patch, events on"] = on
            best_on = max(r["rps"] for r in on)
            best_off = max(r["rps"] for r in off)
            out["on / off (best of each)"] = round(best_on / best_off, 3)
            out["on / off (median of each)"] = round(
                statistics.median(r["rps"] for r in on) / statistics.median(r["rps"] for r in off),
                3,
            )
        if args.events:
            out["feed"] = _feed(options, args.events, args.repeat)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
