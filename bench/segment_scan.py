"""Segment member scans on SQLite, measured as CPU, not wall time (issue 15, Scale).

    python -m bench.segment_scan --db /tmp/segments-1m.db --records 1000000 [--rounds 3]

Makes the database once (migrated, one tenant's customers bulk-loaded as bench/bulk.py stores
them) and reuses it on later runs. Then, in rounds that alternate the variants:

* ``sql:<name>``: one ``count(*)`` statement over the tenant's contacts with a predicate, on a
  plain sqlite3 connection: CPU of the statement (``time.process_time``).
* ``door:<segment>:<threads>``: the server's own path — ``SegmentRecords.members``: first
  page (101 rows) and the count, through ``SqliteDatabase``
  with ``threads`` reader threads (0: on the request's connection). Reported: the process's
  CPU (all threads), the busiest thread's CPU (what bounds the wall time on an idle machine
  with as many CPUs as threads) and the wall time (inflated by other load).

Medians per variant, with the load average. Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import bulk, database, reachcli
from reach.domain.field_paths import Path as FieldPath
from reach.domain.segment_conditions import Compiler, Condition
from reach.storage.segments import FIRST_ARG, SegmentRecords
from reach.storage.sqlite import SqliteDatabase, configure

SEGMENTS: dict[str, list[Condition]] = {
    "narrow": [Condition("firstName", "equals", ["First0"])],
    "broad": [Condition("email", "ends_with", ["@example.com"])],
    "none": [Condition("email", "ends_with", ["@nowhere.test"])],
    "december": [Condition("createdAt", "between_month_day", ["12-01", "01-31"])],
}
FIELDS: dict[str, FieldPath] = {
    "firstName": ("firstName",),
    "email": ("email",),
    "createdAt": ("createdAt",),
}
_PLACEHOLDER = re.compile(r"[$]([0-9]+)")
_BASE = "SELECT count(*) FROM {table} WHERE tenant_id = ?1 AND schema_id = ?2 AND seq > 0"


def _prepare(path: Path, records: int) -> tuple[str, str]:
    if not path.exists():
        db = database.create("sqlite", path.parent, "")
        identity = reachcli.provision(db.url, 3600)
        seconds = bulk.load("sqlite", db.name, identity.partner_id, identity.tenant_id, records)
        print(f"bulk-loaded {records:,} customers in {seconds:.0f} s")
        os.rename(db.name, path)
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT tenant_id, schema_id FROM resources LIMIT 1").fetchone()
    finally:
        conn.close()
    return str(row[0]), str(row[1])


def _compiled(name: str) -> tuple[str, list[Any]]:
    compiler = Compiler("sqlite", FIRST_ARG)
    return compiler.predicate(SEGMENTS[name], FIELDS), compiler.args


def _sql_variants() -> dict[str, tuple[str, list[Any]]]:
    """Predicates over ``data`` (arguments from ?4 on), for one count statement each."""
    variants: dict[str, tuple[str, list[Any]]] = {
        "rows (typeof)": ("typeof(data) = 'text'", []),
        "rows + text search": ("instr(data, '\"zzz\"') = 0", []),
        "one json_extract": ("json_extract(data, '$.\"email\"') IS NOT NULL", []),
        "json_valid": ("json_valid(data)", []),
    }
    for name in SEGMENTS:
        variants[f"{name} (as compiled)"] = _compiled(name)
    email = '$."email"'
    variants["broad, -> text ends with suffix + quote"] = (
        "substr(data -> ?4, -length(?5)) = ?5",
        [email, '@example.com"'],
    )
    variants["broad, ->> ends with, no type test"] = (
        "substr(data ->> ?4, -length(?5)) = ?5",
        [email, "@example.com"],
    )
    variants["broad, literal path"] = (
        f"substr(json_extract(data, '{email}'), -12) = '@example.com' "
        f"AND json_type(data, '{email}') = 'text'",
        [],
    )
    variants["broad, as compiled, CASE for the type"] = (
        "CASE WHEN substr(json_extract(data, ?4), -length(?5)) = ?5 "
        "THEN json_type(data, ?4) = 'text' ELSE FALSE END",
        [email, "@example.com"],
    )
    return variants


def _thread_cpu() -> dict[str, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[task] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def _busiest(before: dict[str, float], after: dict[str, float]) -> float:
    return max((v - before.get(k, 0.0) for k, v in after.items()), default=0.0)


def _sql(
    path: Path, tenant: str, schema: str, where: str, args: list[Any], table: str = "resources"
) -> dict[str, float]:
    conn = sqlite3.connect(path)
    configure(conn)
    # The compiler numbers arguments from $4; sqlite3 takes ?N.
    numbered = _PLACEHOLDER.sub(r"?\1", where)
    sql = f"{_BASE.format(table=table)} AND seq <= ?3 AND ({numbered})"
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        conn.execute(sql, [tenant, schema, 2**63 - 1, *args]).fetchone()
        return {"cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall}
    finally:
        conn.close()


async def _door(path: Path, tenant: str, schema: str, name: str, threads: int) -> dict[str, float]:
    db = SqliteDatabase(str(path), scan_threads=threads)
    predicate = _compiled(name)
    try:
        if threads:  # open the readers (and their threads) before the clock starts
            await db._readers.fetch([("SELECT 1", [])] * threads)  # type: ignore[union-attr]
        tasks, cpu, wall = _thread_cpu(), time.process_time(), time.perf_counter()
        async with db.transaction(write=False) as conn:
            door = SegmentRecords(conn, tenant, schema)
            await door.members(predicate, after_seq=0, limit=101)
        return {
            "cpu": time.process_time() - cpu,
            "busiest": _busiest(tasks, _thread_cpu()),
            "wall": time.perf_counter() - wall,
        }
    finally:
        await db.close()


def _door_sync(path: Path, tenant: str, schema: str, name: str, threads: int) -> dict[str, float]:
    return asyncio.run(_door(path, tenant, schema, name, threads))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segment_scan", description=__doc__)
    parser.add_argument("--db", type=Path, required=True, help="made on the first run")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated variant name prefixes")
    parser.add_argument("--threads", default="0,1,2", help="reader threads for door variants")
    args = parser.parse_args()
    tenant, schema = _prepare(args.db, args.records)
    runs: dict[str, Callable[[], dict[str, float]]] = {}
    for label, (where, more) in _sql_variants().items():
        runs[f"sql:{label}"] = functools.partial(_sql, args.db, tenant, schema, where, more)
    # The table read in rowid order instead of through ix_resources_listing.
    for label in ("rows (typeof)", "broad (as compiled)", "narrow (as compiled)"):
        where, more = _sql_variants()[label]
        runs[f"sql:{label}, NOT INDEXED"] = functools.partial(
            _sql, args.db, tenant, schema, where, more, "resources NOT INDEXED"
        )
    for name in ("narrow", "broad"):
        for threads in (int(t) for t in args.threads.split(",")):
            runs[f"door:{name}:{threads}"] = functools.partial(
                _door_sync, args.db, tenant, schema, name, threads
            )
    wanted = [p for p in args.only.split(",") if p]
    if wanted:
        runs = {k: v for k, v in runs.items() if any(k.startswith(p) for p in wanted)}
    results: dict[str, list[dict[str, float]]] = {}
    for n in range(args.rounds):
        order = list(runs.items()) if n % 2 == 0 else list(runs.items())[::-1]
        for label, run in order:
            got = run()
            results.setdefault(label, []).append(got)
            shown = "  ".join(f"{k} {v * 1000:7.0f} ms" for k, v in got.items())
            print(f"round {n + 1} {label:34} {shown}  load {os.getloadavg()[0]:.1f}", flush=True)
    print("\nmedians:")
    for label, measured in results.items():
        shown = "  ".join(
            f"{k} {statistics.median(m[k] for m in measured) * 1000:7.0f} ms" for k in measured[0]
        )
        print(f"  {label:34} {shown}")


if __name__ == "__main__":
    main()
