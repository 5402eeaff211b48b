"""Batch worker throughput: records per second for 1000-customer batches.

Measures the worker's processing rate — from the claim to the batch's completion — on a
fresh database per engine, with the batches accepted the way the route accepts them (same
domain call, same transaction) beforehand. Three scenarios, each ``--batches`` batches:

* ``create``  — uploads of new customers (insert path);
* ``upsert``  — the same customers uploaded again with a changed field (merge + update path);
* ``patch``   — batch patches of one field on existing customers.

Usage::

    python -m bench.batch_throughput                       # SQLite only
    python -m bench.batch_throughput --pg-url postgresql://postgres@127.0.0.1/reach_bench

The PostgreSQL database given is wiped (its ``public`` schema dropped): use a scratch one.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reach.batches import accept
from reach.batches.model import INGEST, PATCH, Options
from reach.batches.worker import CHUNK_SIZE, Worker
from reach.config import load_settings
from reach.domain import partners, tenants
from reach.domain.resources import Scope
from reach.secretbox import new_key
from reach.services import Services, open_services
from reach.storage import migrate

ITEMS = 1000


def customer(n: int, generation: int) -> dict[str, Any]:
    return {
        "customerId": f"cust-{n:07d}",
        "email": f"customer{n}@example.com",
        "phone": f"+1555{n:07d}",
        "firstName": f"First{n}",
        "lastName": f"Last{generation}",
        "createdAt": "2026-01-01T00:00:00Z",
        "customerDetailUrl": f"https://example.com/customers/{n}",
    }


async def _reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def _scope(services: Services, tenant: tenants.Tenant, conn: Any) -> Scope:
    schema = await services.schemas.resolve(conn, tenant.partner_id, "customers")
    return Scope(conn, tenant, schema, services.schemas)


async def _scenario(
    services: Services,
    tenant: tenants.Tenant,
    worker: Worker,
    batch_type: str,
    make: Callable[[int], list[dict[str, Any]]],
    batches: int,
) -> tuple[float, float, float]:
    """Accept ``batches`` batches, then time the worker through them; returns (records/s of
    the worker, seconds it took, CPU seconds this process spent meanwhile)."""
    for k in range(batches):
        async with services.db.transaction(write=True) as conn:
            scope = await _scope(services, tenant, conn)
            await accept.accept_writes(scope, batch_type, make(k), Options())
    start = time.perf_counter()
    cpu = time.process_time()
    while await worker.run_once(wake=False):
        pass
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    return batches * ITEMS / elapsed, elapsed, cpu


async def run_engine(url: str, batches: int, chunk_size: int) -> dict[str, float]:
    # A throwaway key: the bench's partner secret is never used.
    settings = load_settings(env={}, database_url=url, batch_worker=False, secret_key=new_key())
    services = await open_services(settings)
    try:
        async with services.db.transaction(write=True) as conn:
            partner = await partners.create(conn, services.box, "bench")
            tenant = await tenants.create(
                conn,
                partner.id,
                external_id="bench-tenant",
                name="Bench",
                website=None,
                attributes={},
            )
        worker = Worker(services, chunk_size=chunk_size, poll_seconds=0)
        results: dict[str, float] = {}
        scenarios: list[tuple[str, str, Callable[[int], list[dict[str, Any]]]]] = [
            (
                "create",
                INGEST,
                lambda k: [customer(k * ITEMS + i, 0) for i in range(ITEMS)],
            ),
            (
                "upsert",
                INGEST,
                lambda k: [customer(k * ITEMS + i, 1) for i in range(ITEMS)],
            ),
            (
                "patch",
                PATCH,
                lambda k: [
                    {"customerId": f"cust-{k * ITEMS + i:07d}", "phone": f"+1666{i:07d}"}
                    for i in range(ITEMS)
                ],
            ),
        ]
        for name, batch_type, make in scenarios:
            rate, elapsed, cpu = await _scenario(
                services, tenant, worker, batch_type, make, batches
            )
            results[name] = rate
            # On a shared machine the wall clock includes other processes' turns; the CPU
            # figure is what this process itself spent (the database server's is not in it).
            print(
                f"  {name:<7} {batches * ITEMS:>6} records in {elapsed:6.2f}s "
                f"= {rate:>9,.0f} records/s  (process CPU {cpu:5.2f}s "
                f"= {batches * ITEMS / cpu:>9,.0f} records per CPU-second)",
                flush=True,
            )
        return results
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="batches per scenario")
    parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE)
    parser.add_argument("--pg-url", default=None, help="a scratch PostgreSQL database (wiped)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        print(f"SQLite (chunk {args.chunk_size}):", flush=True)
        sqlite_url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        migrate.upgrade(sqlite_url)
        asyncio.run(run_engine(sqlite_url, args.batches, args.chunk_size))
    if args.pg_url and not args.sqlite_only:
        print(f"PostgreSQL (chunk {args.chunk_size}):", flush=True)
        asyncio.run(_reset_postgres(args.pg_url))
        migrate.upgrade(args.pg_url)
        asyncio.run(run_engine(args.pg_url, args.batches, args.chunk_size))


if __name__ == "__main__":
    main()
