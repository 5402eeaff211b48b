"""Reference floor for SQLite: a bare ``sqlite3`` read-merge-write loop, no HTTP, no framework.

Each iteration does what a PATCH must do at the very least, in one process and one thread
(like one server worker): ``BEGIN IMMEDIATE; SELECT; merge; UPDATE; COMMIT`` on a random
seeded row. PATCH ÷ this is the share of the storage floor the server reaches.

Run as ``python -m bench.raw_sqlite --url sqlite:///path.db --tenant-id ID --seconds S``;
prints one JSON object (a :class:`bench.stats.LoadResult`).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import time
from datetime import UTC, datetime

import orjson

from bench.stats import from_latencies


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def loop(path: str, tenant_id: str, seconds: float) -> dict[str, object]:
    conn = sqlite3.connect(path, isolation_level=None)  # explicit BEGIN/COMMIT below
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    seqs = [
        r[0] for r in conn.execute("SELECT seq FROM resources WHERE tenant_id = ?", (tenant_id,))
    ]
    if not seqs:
        raise SystemExit("no seeded rows for that tenant")
    rng = random.Random(1)
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + seconds
    while (t0 := time.perf_counter()) < deadline:
        seq = rng.choice(seqs)
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT data FROM resources WHERE tenant_id = ? AND seq = ?", (tenant_id, seq)
            ).fetchone()
            doc = orjson.loads(row[0])
            n = rng.randrange(1_000_000_000)
            doc["email"] = f"user{n}@example.com"
            doc["firstName"] = f"First{n}"
            conn.execute(
                "UPDATE resources SET data = ?, version = version + 1, updated_at = ? "
                "WHERE tenant_id = ? AND seq = ?",
                (orjson.dumps(doc).decode(), _now(), tenant_id, seq),
            )
            conn.execute("COMMIT")
        except sqlite3.Error:
            errors += 1
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            continue
        latencies.append(time.perf_counter() - t0)
    result = from_latencies(latencies, time.perf_counter() - start, errors)
    result.note = "sqlite3: BEGIN IMMEDIATE; SELECT; merge; UPDATE; COMMIT (1 thread)"
    conn.close()
    return result.to_json()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    path = args.url.removeprefix("sqlite:///")
    print(json.dumps(loop(path, args.tenant_id, args.seconds)))


if __name__ == "__main__":
    main()
