"""Running the raw storage loops (bench/raw_sqlite.py, bench/raw_asyncpg.py) as subprocesses.

A subprocess of its own, pinned to the server's CPUs, so the reference loop gets the same
share of the machine the server had — and nothing of the bench's own process leaks into it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.server import pinned
from bench.stats import LoadResult


def run(
    engine: str,
    database_url: str,
    tenant_id: str,
    *,
    seconds: float,
    tasks: int,
    pool_size: int,
    cpus: list[int] | None,
) -> LoadResult:
    module = "bench.raw_sqlite" if engine == "sqlite" else "bench.raw_asyncpg"
    argv = [
        sys.executable,
        "-m",
        module,
        "--url",
        database_url,
        "--tenant-id",
        tenant_id,
        "--seconds",
        str(seconds),
    ]
    if engine != "sqlite":
        argv += ["--tasks", str(tasks), "--pool-size", str(pool_size)]
    done = subprocess.run(
        pinned(argv, cpus),
        cwd=Path(__file__).resolve().parent.parent,  # where ``-m bench.…`` resolves
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed: {done.stderr.strip()[-500:]}")
    raw = json.loads(done.stdout.strip().splitlines()[-1])
    raw.pop("rps", None)  # derived, not a field
    return LoadResult(**raw)
