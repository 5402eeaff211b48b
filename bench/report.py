"""What a run prints and keeps: the table, the ratios, machine facts, the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import wrk
from bench.stats import LoadResult

RESULTS_DIR = Path(__file__).parent / "results"
PACKAGES = ("reach-server", "granian", "starlette", "msgspec", "orjson", "asyncpg", "pyjwt")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return 0.0


def _git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


def machine(pg_version: str | None) -> dict[str, Any]:
    versions: dict[str, str] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    facts: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk.version(),
        "packages": versions,
        "git": _git_commit(),
        # Others' work on a shared machine moves absolute numbers: keep how busy it was.
        "load_avg_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    if pg_version:
        facts["postgresql"] = pg_version
    return facts


def ratio(top: LoadResult | None, bottom: LoadResult | None) -> float | None:
    if top is None or bottom is None or bottom.rps == 0:
        return None
    return round(top.rps / bottom.rps, 3)


def table(rows: dict[str, LoadResult], title: str) -> str:
    header = (
        f"{'scenario':<16}{'req/s':>10}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'RSS MiB':>9}{'load':>6}  note"
    )
    lines = [title, header, "-" * len(header)]
    busiest = max((r.load_avg for r in rows.values()), default=0.0)
    for name, r in rows.items():
        rss = f"{r.rss_peak_mib:.0f}" if r.rss_peak_mib else "-"
        lines.append(
            f"{name:<16}{r.rps:>10.0f}{r.p50_ms:>9.2f}{r.p95_ms:>9.2f}{r.p99_ms:>9.2f}"
            f"{r.errors:>8}{rss:>9}{r.load_avg:>6.1f}  {r.note}"
        )
    cpus = os.cpu_count() or 1
    if busiest > cpus:
        lines.append(
            f"note: 1-minute load average reached {busiest:.1f} on {cpus} CPU(s): other work "
            "competed with this run; trust the ratios more than the absolute numbers."
        )
    return "\n".join(lines)


def ratios_text(ratios: dict[str, float | None]) -> str:
    lines = ["ratios (same run, same machine — compare these across machines, not req/s):"]
    width = max((len(name) for name in ratios), default=0) + 2
    for name, value in ratios.items():
        if value is None:
            shown = "n/a"
        elif value <= 1:
            shown = f"{value:.3f}  ({value * 100:.1f} %)"
        else:
            shown = f"{value:.3f}  (x{value:.2f})"
        lines.append(f"  {name:<{width}}{shown}")
    return "\n".join(lines)


def write(results: dict[str, Any], stamp: str, engine: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{stamp}-{engine}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
