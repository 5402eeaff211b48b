"""The PNG next to each results file: throughput, latency, and the RSS curve when there is one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt


def _rows(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every measured row of the run, named by section, as JSON dicts."""
    rows: dict[str, dict[str, Any]] = {}
    for name, row in results.get("suite", {}).get("rows", {}).items():
        rows[name] = row
    for label in ("baseline", "scale"):
        part = results.get("scale", {}).get(label)
        if part:
            for name, row in part["rows"].items():
                rows[f"{name} @{part['records']:,}"] = row
    for name, row in results.get("compare_workers", {}).get("rows", {}).items():
        rows[name] = row
    return rows


def write(results: dict[str, Any], path: Path) -> Path:
    rows = _rows(results)
    curve = results.get("rss_curve", {}).get("samples")
    panels = (2 if rows else 0) + (1 if curve else 0)
    if panels == 0:
        return path
    fig, axes = plt.subplots(panels, 1, figsize=(11, 4.2 * panels), squeeze=False)
    title = (
        f"reach-server bench — {results['engine']}, {results['started_at']}, "
        f"{results['machine']['nproc']} CPU(s)"
    )
    fig.suptitle(title)
    at = 0
    if rows:
        names = list(rows)
        xs = range(len(names))
        ax = axes[at][0]
        ax.bar(xs, [rows[n]["rps"] for n in names], color="#4c72b0")
        ax.set_ylabel("requests/s (batch: records/s)")
        ax.set_xticks(list(xs), names, rotation=20, ha="right")
        for x, n in zip(xs, names, strict=True):
            ax.annotate(f"{rows[n]['rps']:,.0f}", (x, rows[n]["rps"]), ha="center", va="bottom")
        ax = axes[at + 1][0]
        width = 0.27
        for k, (key, color) in enumerate(
            (("p50_ms", "#55a868"), ("p95_ms", "#dd8452"), ("p99_ms", "#c44e52"))
        ):
            ax.bar(
                [x + (k - 1) * width for x in xs],
                [rows[n][key] for n in names],
                width,
                label=key.removesuffix("_ms"),
                color=color,
            )
        ax.set_yscale("log")
        ax.set_ylabel("latency ms (log)")
        ax.set_xticks(list(xs), names, rotation=20, ha="right")
        ax.legend()
        at += 2
    if curve:
        ax = axes[at][0]
        ax.plot([t for t, _ in curve], [m for _, m in curve], marker=".")
        slope = results["rss_curve"]["slope_after_60s_mib_per_min"]
        ax.set_title(f"server RSS under mixed load (slope after 60 s: {slope:+.2f} MiB/min)")
        ax.set_xlabel("seconds")
        ax.set_ylabel("RSS MiB (all processes)")
        ax.set_ylim(0, max(m for _, m in curve) * 1.15)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
