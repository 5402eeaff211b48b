"""Seeding N customers through the API: the batch API when the server has it, else single POSTs.

Seeding through the API (not SQL) means the records are exactly what the server would store.
The ``--scale`` mode is the exception, see bench/bulk.py.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench import batchapi, documents


@dataclass
class SeedResult:
    method: str  # "batch API" or "single POSTs (batch API not available)"
    records: int
    seconds: float
    failed: int


async def _via_batches(client: httpx.AsyncClient, records: int) -> SeedResult:
    start = time.monotonic()
    ids = []
    for first in range(0, records, batchapi.MAX_ITEMS):
        items = [documents.customer(i) for i in range(first, min(records, first + 1000))]
        ids.append(await batchapi.submit(client, items))
    finished = await batchapi.wait(client, ids, within=max(300.0, records / 50))
    failed = sum(1 for data in finished.values() if not batchapi.succeeded(data))
    return SeedResult("batch API", records, time.monotonic() - start, failed)


async def _via_single_posts(
    client: httpx.AsyncClient, first: int, records: int, concurrency: int
) -> tuple[int, float]:
    start = time.monotonic()
    queue = iter(range(first, records))
    failed = 0

    async def worker() -> None:
        nonlocal failed
        for i in queue:  # one shared iterator: each index is taken exactly once
            response = await client.post(
                "/api/resources/customers", json={"data": documents.customer(i)}
            )
            failed += response.status_code != 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return failed, time.monotonic() - start


async def _seed(base_url: str, token: str, records: int, concurrency: int) -> SeedResult:
    async with batchapi.client(base_url, token) as client:
        try:
            return await _via_batches(client, records)
        except batchapi.BatchApiMissing as exc:
            print(f"  batch API not available ({exc}); seeding with concurrent single POSTs")
        failed, seconds = await _via_single_posts(client, 0, records, concurrency)
        return SeedResult("single POSTs (batch API not available)", records, seconds, failed)


def seed(base_url: str, token: str, records: int, *, concurrency: int = 32) -> SeedResult:
    return asyncio.run(_seed(base_url, token, records, concurrency))
