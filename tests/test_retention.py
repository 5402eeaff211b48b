"""Retention of finished batches: ``reach prune`` and the workers delete batches (with their
items) that finished more than REACH_BATCH_RETENTION_DAYS ago, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from reach import clock
from reach.batches.worker import Worker
from reach.services import open_services
from reach.storage.database import Connection
from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey
from tests.test_cli import Cli

OLD = clock.format_timestamp(datetime.now(UTC) - timedelta(days=40))


def _submit(api: Harness, headers: dict[str, str], body: dict[str, Any], path: str) -> str:
    response = api.client.post(f"/api/resources/{path}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    batch_id: str = response.json()["data"]["batchId"]
    return batch_id


def _finished_batch(api: Harness, headers: dict[str, str], prefix: str, items: int) -> str:
    rows = [customer(f"{prefix}-{n}") for n in range(items)]
    batch_id = _submit(api, headers, {"resources": rows}, "customers/batch")
    wait_for_batch(api, headers, batch_id)
    return batch_id


def _age(api: Harness, batch_id: str, *, finished: bool = True) -> None:
    """Make the batch look as if it was created (and finished) 40 days ago."""

    async def work(conn: Connection) -> None:
        column = "completed_at = $1, " if finished else ""
        await conn.execute(
            f"UPDATE batches SET {column}created_at = $1 WHERE id = $2",  # noqa: S608 - fixed text
            OLD,
            batch_id,
        )

    api.transaction(work)


def _items(api: Harness, batch_id: str) -> int:
    async def work(conn: Connection) -> int:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM batch_items WHERE batch_id = $1", batch_id
        )
        return count

    return api.transaction(work)


def _status(api: Harness, headers: dict[str, str], batch_id: str) -> int:
    return api.client.get(f"/api/batches/{batch_id}", headers=headers).status_code


def _aged_batches(api: Harness, partner: PartnerKey, tenant: str) -> dict[str, str]:
    headers = api.tenant_headers(partner, tenant)
    old = [_finished_batch(api, headers, f"old{n}", 3) for n in range(3)]
    recent = _finished_batch(api, headers, "recent", 2)
    # Waits (up to a day) for a customer that does not exist yet: unfinished, however old.
    waiting = _submit(
        api,
        headers,
        {
            "resources": [
                {
                    "transactionId": "t-waits",
                    "customerId": "nobody-yet",
                    "transactionDate": "2026-01-02T10:00:00Z",
                    "transactionTotal": 1,
                }
            ],
        },
        "transactions/batch?dependencyWaitTimeout=86400",
    )
    wait_for_batch(api, headers, waiting, until=("processing",))
    for batch_id in old:
        _age(api, batch_id)
    _age(api, waiting, finished=False)
    return {"old0": old[0], "old1": old[1], "old2": old[2], "recent": recent, "waiting": waiting}


def test_reach_prune_deletes_only_batches_finished_before_the_retention_period(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    batches = _aged_batches(api, partner, tenant)
    headers = api.tenant_headers(partner, tenant)

    result = Cli(api.database_url).run("prune", REACH_BATCH_RETENTION_DAYS="30")
    assert result.returncode == 0, result.stderr
    pruned = msgspec.json.decode(result.stdout)
    assert pruned["batches"] == 3
    assert pruned["items"] == 9
    for name in ("old0", "old1", "old2"):
        assert _status(api, headers, batches[name]) == 404
        assert _items(api, batches[name]) == 0
    for name in ("recent", "waiting"):
        assert _status(api, headers, batches[name]) == 200
    assert _items(api, batches["recent"]) == 2

    again = Cli(api.database_url).run("prune")
    assert msgspec.json.decode(again.stdout)["batches"] == 0


def test_a_worker_prunes_on_its_first_poll_then_once_an_interval(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    batches = _aged_batches(api, partner, tenant)
    headers = api.tenant_headers(partner, tenant)
    settings = msgspec.structs.replace(api.settings, batch_retention_days=30)

    async def run() -> tuple[Any, Any]:
        services = await open_services(settings)
        try:
            worker = Worker(services)
            return await worker.prune_when_due(), await worker.prune_when_due()
        finally:
            await services.close()

    first, second = api.loop.run(run())
    assert first is not None
    assert (first.batches, first.items) == (3, 9)
    assert second is None  # not again within the interval
    assert [_status(api, headers, batches[n]) for n in ("old0", "recent", "waiting")] == [
        404,
        200,
        200,
    ]


def test_retention_zero_keeps_batches_and_prune_says_how(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    batch_id = _finished_batch(api, headers, "kept", 1)
    _age(api, batch_id)
    result = Cli(api.database_url).run("prune", REACH_BATCH_RETENTION_DAYS="0")
    assert result.returncode == 1
    assert "--days" in result.stderr

    settings = msgspec.structs.replace(api.settings, batch_retention_days=0)

    async def run() -> Any:
        services = await open_services(settings)
        try:
            return await Worker(services).prune_when_due()
        finally:
            await services.close()

    assert api.loop.run(run()) is None
    assert _status(api, headers, batch_id) == 200
    result = Cli(api.database_url).run("prune", "--days", "30")
    assert msgspec.json.decode(result.stdout)["batches"] >= 1
    assert _status(api, headers, batch_id) == 404
