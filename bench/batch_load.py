"""The batch scenario: submit K batches of 1000 new customers at once, time them to completion.

Throughput is records per second from the first submit to the last batch's end; the latency
columns hold each batch's submit-to-end time (what a client polling for it waits).
"""

from __future__ import annotations

import asyncio
import time
import uuid

from bench import batchapi, documents
from bench.stats import LoadResult, percentile


async def _run(base_url: str, token: str, batches: int, within: float) -> LoadResult:
    prefix = f"batch-{uuid.uuid4().hex[:8]}-"  # new records, never the seeded ones
    async with batchapi.client(base_url, token) as client:
        start = time.monotonic()
        submitted: dict[str, float] = {}
        for k in range(batches):
            first = k * batchapi.MAX_ITEMS
            items = [documents.customer(first + i, prefix) for i in range(batchapi.MAX_ITEMS)]
            submitted[await batchapi.submit(client, items)] = time.monotonic()
        ended: dict[str, float] = {}
        failed = 0
        deadline = start + within
        while len(ended) < len(submitted):
            if time.monotonic() > deadline:
                raise TimeoutError(f"batches still running after {within:.0f} s")
            # One round of polls: each batch's end is seen within about one poll interval.
            pending = [b for b in submitted if b not in ended]
            finished = await batchapi.poll_once(client, pending)
            now = time.monotonic()
            for batch_id, data in finished.items():
                ended[batch_id] = now
                failed += not batchapi.succeeded(data)
            if len(ended) < len(submitted):
                await asyncio.sleep(0.05)
        seconds = max(ended.values()) - start
    waits = sorted((ended[b] - submitted[b]) * 1000 for b in submitted)
    return LoadResult(
        requests=batches * batchapi.MAX_ITEMS,
        seconds=seconds,
        errors=failed,
        p50_ms=percentile(waits, 50),
        p95_ms=percentile(waits, 95),
        p99_ms=percentile(waits, 99),
        max_ms=waits[-1],
        note=f"{batches} batches x 1000 records; rps = records/s; latency = batch submit-to-end",
    )


def run(base_url: str, token: str, *, batches: int, timeout: float = 600) -> LoadResult:
    return asyncio.run(_run(base_url, token, batches, timeout))
