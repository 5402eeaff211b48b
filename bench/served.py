"""The served server's CPU per request, A/B and interleaved: ``python -m bench.served``.

Wall-clock req/s on a shared machine moves with the neighbours; the CPU the server process
tree spends (user + system of every thread, from /proc) per completed request moves far
less. Each side gets its own stand (fresh database bulk-loaded with SQL, its own
``reach serve`` pinned as in ``make bench``); the rounds alternate between the sides and
the medians are printed.

A side is ``NAME=KEY=VALUE[,KEY=VALUE]``: environment variables for that side's server (and
its CLI calls), e.g. ``PYTHONPATH`` pointing at another checkout's ``src``.

    python -m bench.served --side base=PYTHONPATH=../base/src --side new=PYTHONPATH=src
    python -m bench.served --side … --scenarios batch --batches 20   # CPU per ingested record
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench import batch_load, database, rss, stand


def tree_cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants (threads included: /proc/<pid>/stat
    counts a process's threads)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in rss.tree(pid):
        try:
            with open(f"/proc/{p}/stat", encoding="ascii", errors="replace") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / ticks


def _run(
    st: stand.Stand, scenario: str, args: argparse.Namespace, db_pid: int | None
) -> tuple[float, float, float, Any]:
    """One measured run of ``scenario`` (after a short unmeasured one): the server's CPU, the
    database's (``db_pid``'s tree; 0 without it) and the clock before it, and its result.
    ``batch`` submits ``--batches`` batches of 1000 new customers and waits for them (a
    "request" is then one record)."""
    if scenario == "batch":
        batch_load.run(st.server.base_url, st.identity.token, batches=1)
        db_before = tree_cpu_seconds(db_pid) if db_pid else 0.0
        before, began = tree_cpu_seconds(st.server.pid), time.monotonic()
        return (
            before,
            db_before,
            began,
            batch_load.run(st.server.base_url, st.identity.token, batches=args.batches),
        )
    st.drive(scenario, records=args.records, duration=1, warmup=0)
    db_before = tree_cpu_seconds(db_pid) if db_pid else 0.0
    before, began = tree_cpu_seconds(st.server.pid), time.monotonic()
    return before, db_before, began, st.drive(scenario, records=args.records, warmup=0)


def _parse_side(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition("=")
    env: dict[str, str] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        env[key] = value
    return name, env


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.served", description=__doc__)
    parser.add_argument("--side", action="append", required=True)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--scenarios", default="patch,get")
    parser.add_argument("--duration", type=float, default=6)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batches", type=int, default=10, help="batches of 1000 in 'batch'")
    args = parser.parse_args()
    sides = [_parse_side(s) for s in args.side]
    # On PostgreSQL the database's CPU is a second column: a keyed write that moves work into
    # the database would otherwise look free (all of the host's PostgreSQL, so run alone).
    db_pid = database.postmaster_pid(args.pg_url) if args.engine == "postgresql" else None
    scenarios = [s for s in args.scenarios.split(",") if s]
    results: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="reach-served-") as tmp, ExitStack() as stack:
        opts = stand.Options(
            engine=args.engine,
            pg_url=args.pg_url,
            records=args.records,
            duration=args.duration,
            connections=args.connections,
            workers=1,
            scenarios=scenarios,
            batches=0,
            scale=None,
            rss_curve=None,
            compare_workers=False,
            pin=True,
            warmup=2,
            workdir=Path(tmp),
            token_ttl=7200,
        )
        stands = {}
        saved = dict(os.environ)
        for name, env in sides:
            # Each stand's CLI calls and server inherit the side's environment.
            os.environ.clear()
            os.environ.update({**saved, **env})
            stands[name] = stack.enter_context(
                stand.stand(opts, bulk_records=args.records, label=name)
            )
            os.environ.clear()
            os.environ.update(saved)
        for n in range(args.rounds):
            order = sides if n % 2 == 0 else sides[::-1]
            for name, _ in order:
                st = stands[name]
                for scenario in scenarios:
                    before, db_before, began, result = _run(st, scenario, args, db_pid)
                    cpu = tree_cpu_seconds(st.server.pid) - before
                    db_cpu = tree_cpu_seconds(db_pid) - db_before if db_pid else 0.0
                    elapsed = time.monotonic() - began
                    per = cpu / max(1, result.requests) * 1e6
                    rate = result.requests / elapsed
                    db_per = db_cpu / max(1, result.requests) * 1e6
                    results.setdefault((name, scenario), []).append((per, rate, db_per))
                    db_text = f" + db {db_per:6.1f} µs" if db_pid else ""
                    print(
                        f"round {n + 1} {name:10} {scenario:8} {per:7.1f} µs CPU/request{db_text} "
                        f"{rate:8.0f} req/s  errors {result.errors}  load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
    print("\nmedians:")
    for scenario in scenarios:
        for name, _ in sides:
            runs = results[(name, scenario)]
            db_text = f" + db {statistics.median(r[2] for r in runs):6.1f} µs" if db_pid else ""
            print(
                f"  {scenario:8} {name:10} "
                f"{statistics.median(r[0] for r in runs):7.1f} µs CPU/request{db_text}  "
                f"{statistics.median(r[1] for r in runs):8.0f} req/s  "
                f"(µs: {', '.join(f'{r[0]:.0f}' for r in runs)})"
            )


if __name__ == "__main__":
    main()
