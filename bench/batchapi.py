"""The client side of the batch API: submit up to 1000 customers, poll until each batch ends.

``POST /api/resources/customers/batch`` answers 202 ``{data: {batchId}}``; ``GET
/api/batches/{batchId}`` reports ``data.status`` until it is one of :data:`TERMINAL`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

BATCH_PATH = "/api/resources/customers/batch"
TERMINAL = frozenset({"success", "partial_success", "failed"})
MAX_ITEMS = 1000


class BatchApiMissing(Exception):
    """The server has no batch route (yet): it answered something other than 202."""


async def submit(client: httpx.AsyncClient, items: list[dict[str, Any]]) -> str:
    response = await client.post(BATCH_PATH, json={"resources": items})
    if response.status_code != 202:
        raise BatchApiMissing(f"{response.status_code} {response.text[:200]}")
    batch_id: str = response.json()["data"]["batchId"]
    return batch_id


async def poll_once(client: httpx.AsyncClient, batch_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The final ``data`` of those of ``batch_ids`` that have ended, by id."""
    finished: dict[str, dict[str, Any]] = {}
    for batch_id in batch_ids:
        response = await client.get(f"/api/batches/{batch_id}")
        response.raise_for_status()
        data: dict[str, Any] = response.json()["data"]
        if str(data.get("status", "")).lower() in TERMINAL:
            finished[batch_id] = data
    return finished


async def wait(
    client: httpx.AsyncClient, batch_ids: list[str], *, within: float, poll: float = 0.1
) -> dict[str, dict[str, Any]]:
    """Poll every batch until all have ended; their final ``data`` by id. Bounded by ``within``."""
    deadline = time.monotonic() + within
    finished: dict[str, dict[str, Any]] = {}
    while len(finished) < len(batch_ids):
        if time.monotonic() > deadline:
            left = len(batch_ids) - len(finished)
            raise TimeoutError(f"{left} batch(es) still running after {within:.0f} s")
        finished.update(await poll_once(client, [b for b in batch_ids if b not in finished]))
        if len(finished) < len(batch_ids):
            await asyncio.sleep(poll)
    return finished


def succeeded(data: dict[str, Any]) -> bool:
    return str(data.get("status", "")).lower() == "success"


def client(base_url: str, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
    )
