"""Running wrk with one of the Lua scenarios in bench/lua and reading its result line.

Every scenario file is run with bench/lua/common.lua prepended (the request builders and the
``done()`` hook that prints one ``BENCH_JSON {...}`` line); settings reach the Lua side through
``BENCH_*`` environment variables, so no secret is ever written into a script file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.server import pinned
from bench.stats import LoadResult

LUA_DIR = Path(__file__).parent / "lua"
MARKER = "BENCH_JSON "


def ensure_installed() -> str:
    """The path of wrk; installs the Debian package when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not installed: trying `apt-get install -y wrk` ...", flush=True)
    install = ["apt-get", "install", "-y", "wrk"]
    # A fresh machine may have no package lists yet: update once, then try again.
    for argv in (install, ["apt-get", "update"], install):
        try:
            subprocess.run(argv, check=False, timeout=600)
        except (OSError, subprocess.TimeoutExpired):
            break  # no apt-get here (not Debian), or it hung
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "bench needs wrk (https://github.com/wg/wrk) and could not install it.\n"
        "Install it yourself (Debian/Ubuntu: `sudo apt-get install wrk`; macOS: "
        "`brew install wrk`) and run `make bench` again."
    )


def version() -> str:
    done = subprocess.run(
        [ensure_installed(), "-v"], capture_output=True, text=True, timeout=10, check=False
    )
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else ""


def script_text(scenario: str) -> str:
    return (LUA_DIR / "common.lua").read_text() + "\n" + (LUA_DIR / f"{scenario}.lua").read_text()


def run(
    scenario: str,
    base_url: str,
    *,
    duration: float,
    connections: int,
    threads: int,
    env: dict[str, str],
    cpus: list[int] | None = None,
    path: str = "/",
) -> LoadResult:
    """Drive ``base_url`` with one scenario for ``duration`` seconds; wrk stops by itself."""
    wrk = ensure_installed()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", prefix=f"bench-{scenario}-") as script:
        script.write(script_text(scenario))
        script.flush()
        argv = [
            wrk,
            "-t",
            str(max(1, min(threads, connections))),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            script.name,
            base_url + path,
        ]
        done = subprocess.run(
            pinned(argv, cpus),
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=duration + 60,  # wrk ends itself after -d; this only guards a hang
            check=False,
        )
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return parse(json.loads(line[len(MARKER) :]))
    raise RuntimeError(f"wrk printed no result (exit {done.returncode}): {done.stderr.strip()}")


def parse(raw: dict[str, int]) -> LoadResult:
    errors = sum(
        raw[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return LoadResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )
