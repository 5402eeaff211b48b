"""The one result shape every load generator reports, wrk or an in-process loop alike."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class LoadResult:
    """Throughput and latency of one scenario. Latencies are in milliseconds."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float = 0.0
    rss_peak_mib: float = 0.0
    # The machine's 1-minute load average when the scenario ended: on a shared machine it
    # says whether other work competed with this measurement.
    load_avg: float = 0.0
    note: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def from_latencies(latencies_s: list[float], seconds: float, errors: int) -> LoadResult:
    """A result from per-operation latencies measured in seconds (the raw reference loops)."""
    ordered = sorted(latencies_s)
    ms = [v * 1000 for v in ordered]
    return LoadResult(
        requests=len(ordered),
        seconds=seconds,
        errors=errors,
        p50_ms=percentile(ms, 50),
        p95_ms=percentile(ms, 95),
        p99_ms=percentile(ms, 99),
        max_ms=ms[-1] if ms else 0.0,
    )
