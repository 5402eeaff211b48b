"""Reference floor for PostgreSQL: bare asyncpg updates through a pool the server's size.

``--tasks`` coroutines (the wrk connection count) share a pool of ``--pool-size`` connections
(the server's ``REACH_DB_POOL_SIZE``) and loop, for ``--seconds``, on
``UPDATE resources SET data = $1, version = version + 1, updated_at = now()
WHERE tenant_id = $2 AND seq = $3`` against random seeded rows. Each is a durable commit, as a
PATCH is. PATCH ÷ this is the share of the database's own update rate the server reaches.

The pool is configured as the server's is: no reset query when a connection goes back (asyncpg's
default sends one, a second round trip per update, which would flatter the server).

Run as ``python -m bench.raw_asyncpg --url postgresql://... --tenant-id ID --seconds S``;
prints one JSON object (a :class:`bench.stats.LoadResult`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time

import asyncpg
import orjson

from bench import documents
from bench.stats import from_latencies

UPDATE = (
    "UPDATE resources SET data = $1, version = version + 1, updated_at = now() "
    "WHERE tenant_id = $2 AND seq = $3"
)


async def keep_session(conn: asyncpg.Connection) -> None:
    """As ``reach.storage.postgres``: nothing to reset on release."""


async def loop(
    url: str, tenant_id: str, seconds: float, tasks: int, pool_size: int
) -> dict[str, object]:
    pool = await asyncpg.create_pool(
        url, min_size=pool_size, max_size=pool_size, reset=keep_session
    )
    try:
        rows = await pool.fetch(
            "SELECT seq, external_id FROM resources WHERE tenant_id = $1", tenant_id
        )
        if not rows:
            raise SystemExit("no seeded rows for that tenant")
        targets = [(int(r["seq"]), str(r["external_id"])) for r in rows]
        latencies: list[float] = []
        errors = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def worker(k: int) -> None:
            nonlocal errors
            rng = random.Random(k)
            while (t0 := time.perf_counter()) < deadline:
                seq, external_id = rng.choice(targets)
                doc = documents.stored_customer(0)
                n = rng.randrange(1_000_000_000)
                doc.update(customerId=external_id, email=f"user{n}@example.com")
                try:
                    await pool.execute(UPDATE, orjson.dumps(doc).decode(), tenant_id, seq)
                except asyncpg.PostgresError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(k) for k in range(tasks)))
        result = from_latencies(latencies, time.perf_counter() - start, errors)
        result.note = f"asyncpg: {tasks} tasks, pool of {pool_size}, one UPDATE per commit"
        return result.to_json()
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tenant-id", required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    result = asyncio.run(loop(args.url, args.tenant_id, args.seconds, args.tasks, args.pool_size))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
