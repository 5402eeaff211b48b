"""``python -m bench`` / ``make bench BENCH_ARGS="..."``: the command line of the bench.

Without a mode flag it runs the default suite (bench/suite.py). ``--scale``, ``--rss-curve``
and ``--compare-workers`` each run their own study instead; add ``--scenarios`` to run the
suite as well. Everything a run measured goes to stdout and to
``bench/results/<UTC time>-<engine>.json`` with a PNG chart beside it.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from bench import chart, compare_workers, database, report, rss_curve, scale, suite, wrk
from bench.stand import Options
from bench.stats import LoadResult

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Load-test a fresh reach-server with wrk (see docs/benchmarks.md).",
    )
    p.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument(
        "--pg-url",
        default=DEFAULT_PG_URL,
        help="PostgreSQL server to create scratch databases on (default %(default)s).",
    )
    p.add_argument("--records", type=int, default=10_000, help="dataset size (default 10000)")
    p.add_argument("--duration", type=float, default=15, help="seconds per scenario (15)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    p.add_argument("--workers", type=int, default=1, help="reach serve --workers (1)")
    p.add_argument(
        "--scenarios",
        default=None,
        help=f"comma-separated subset of {','.join(suite.SCENARIOS)} (default: all)",
    )
    p.add_argument("--batches", type=int, default=10, help="batches of 1000 in 'batch' (10)")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds before each (2)")
    p.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the server and wrk to separate CPUs",
    )
    modes = p.add_argument_group("extra modes (each replaces the default suite)")
    modes.add_argument(
        "--scale",
        type=int,
        metavar="N",
        help="bulk-load N records with SQL; GET/PATCH p50 and list pages vs --records",
    )
    modes.add_argument(
        "--rss-curve",
        type=float,
        metavar="SECONDS",
        help="mixed load for SECONDS, server RSS every 5 s, reports the slope",
    )
    modes.add_argument(
        "--compare-workers", action="store_true", help="PATCH with --workers 1 and 2"
    )
    return p


def validate(args: argparse.Namespace) -> None:
    if args.records < 1 or args.duration <= 0 or args.connections < 1 or args.workers < 1:
        raise SystemExit("--records, --duration, --connections and --workers must be positive")
    if args.scale is not None and args.scale <= args.records:
        raise SystemExit("--scale must be larger than --records (its baseline)")
    if args.scenarios is not None:
        unknown = sorted({s.strip() for s in args.scenarios.split(",")} - {"", *suite.SCENARIOS})
        if unknown:
            raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")


def options_from(args: argparse.Namespace, workdir: Path) -> Options:
    any_mode = args.scale is not None or args.rss_curve is not None or args.compare_workers
    if args.scenarios is None:
        scenarios = [] if any_mode else list(suite.SCENARIOS)
    else:
        scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    return Options(
        engine=args.engine,
        pg_url=args.pg_url,
        records=args.records,
        duration=args.duration,
        connections=args.connections,
        workers=args.workers,
        scenarios=scenarios,
        batches=args.batches,
        scale=args.scale,
        rss_curve=args.rss_curve,
        compare_workers=args.compare_workers,
        pin=args.pin,
        warmup=args.warmup,
        workdir=workdir,
        token_ttl=7200 + int(args.rss_curve or 0),
    )


def jsonable(value: Any) -> Any:
    """Results as plain JSON: every LoadResult gets its derived req/s."""
    if isinstance(value, LoadResult):
        return value.to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _print_section(title: str, section: dict[str, Any]) -> None:
    if "rows" in section:
        print("\n" + report.table(section["rows"], title))
    if section.get("skipped"):
        for name, why in section["skipped"].items():
            print(f"{name:<16}skipped: {why}")
    if section.get("ratios"):
        print(report.ratios_text(section["ratios"]))


def _print(results: dict[str, Any]) -> None:
    if "suite" in results:
        s = results["suite"]
        _print_section(
            f"default suite — {results['engine']}, {results['options']['records']:,} records "
            f"(seeded via {s['seed']['method']} in {s['seed']['seconds']} s)",
            s,
        )
    if "scale" in results:
        sc = results["scale"]
        for label in ("baseline", "scale"):
            rows = sc[label]["rows"]
            print("\n" + report.table(rows, f"scale mode — {sc[label]['records']:,} records"))
        print(report.ratios_text(sc["ratios"]))
    if "rss_curve" in results:
        rc = results["rss_curve"]
        print("\n" + report.table({"mixed": rc["load"]}, f"rss curve — {rc['seconds']:.0f} s"))
        print("  RSS MiB every 5 s: " + " ".join(f"{m:.0f}" for _, m in rc["samples"]))
        print(
            f"  start {rc['start_mib']} MiB, end {rc['end_mib']} MiB, peak {rc['peak_mib']} MiB; "
            f"slope {rc['slope_mib_per_min']:+.2f} MiB/min "
            f"(after the first 60 s: {rc['slope_after_60s_mib_per_min']:+.2f} MiB/min)"
        )
    if "compare_workers" in results:
        _print_section("compare workers — PATCH", results["compare_workers"])


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    validate(args)
    wrk.ensure_installed()
    pg_version = database.server_version(args.pg_url) if args.engine == "postgresql" else None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    workdir = Path(tempfile.mkdtemp(prefix="reach-bench-"))
    options = options_from(args, workdir)
    results: dict[str, Any] = {
        "started_at": stamp,
        "engine": options.engine,
        "options": {k: v for k, v in asdict(options).items() if k != "workdir"},
        "machine": report.machine(pg_version),
    }
    parts: list[tuple[str, bool, Callable[[Options], dict[str, Any]]]] = [
        ("suite", bool(options.scenarios), suite.run),
        ("scale", options.scale is not None, scale.run),
        ("rss_curve", options.rss_curve is not None, rss_curve.run),
        ("compare_workers", options.compare_workers, compare_workers.run),
    ]
    ok = False
    try:
        for key, wanted, run in parts:
            if wanted:
                results[key] = run(options)
        ok = True
    finally:
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nbench failed; server logs kept in {workdir}")
    _print(results)
    results = jsonable(results)
    path = report.write(results, stamp, options.engine)
    png = chart.write(results, path.with_suffix(".png"))
    print(f"\nresults: {path}\nchart:   {png}")
    return 0
