"""Shared helpers for the batch tests: bodies, and polling a batch until it settles."""

from __future__ import annotations

import time
from typing import Any

from tests.harness import Harness

DONE = ("success", "partial_success", "failed")


def customer(external_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "customerId": external_id,
        "firstName": f"First {external_id}",
        "lastName": "Last",
        "createdAt": "2026-01-01T00:00:00Z",
        **fields,
    }


def batch_status(
    api: Harness, headers: dict[str, str], batch_id: str, **params: str
) -> dict[str, Any]:
    response = api.client.get(f"/api/batches/{batch_id}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def wait_for_batch(
    api: Harness,
    headers: dict[str, str],
    batch_id: str,
    *,
    until: tuple[str, ...] = DONE,
    deadline_seconds: float = 30.0,
    **params: str,
) -> dict[str, Any]:
    """Poll until the batch reaches one of ``until`` (bounded; fails past the deadline)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        batch = batch_status(api, headers, batch_id, **params)
        if batch["status"] in until:
            return batch
        assert time.monotonic() < deadline, f"batch still {batch['status']}: {batch}"
        time.sleep(0.02)
