"""The feed under concurrency: every event exactly once, never skipping one that committed late
with a lower sequence, per record in version order, and nothing of it in another tenant's feed
(docs/events.md explains why stamping after commit gives this)."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from typing import Any

import httpx
import orjson

from reach import clock
from reach.storage import events as store
from tests.batch_helpers import customer
from tests.contract.resources import url
from tests.harness import Harness, PartnerKey

WRITERS = 50
WRITES_EACH = 4
RECORDS = 10


async def _tail(
    client: httpx.AsyncClient, headers: dict[str, str], cursor: str | None, done: asyncio.Event
) -> list[dict[str, Any]]:
    """Follow the feed with long polls until the writers are done and a poll comes back empty."""
    seen: list[dict[str, Any]] = []
    quiet_after_done = 0
    while quiet_after_done < 2:
        params: dict[str, Any] = {"limit": 50, "wait": 1}
        if cursor:
            params["cursor"] = cursor
        response = await client.get("/api/events", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()["data"]
        seen += page["results"]
        cursor = page["pagination"]["cursor"]
        if not page["results"] and done.is_set():
            quiet_after_done += 1
    return seen


async def _write(client: httpx.AsyncClient, headers: dict[str, str], writer: int) -> int:
    written = 0
    for n in range(WRITES_EACH):
        # Spread over few records, so writers collide on rows and commit out of seq order.
        key = f"r-{(writer * 7 + n * 3) % RECORDS}"
        response = await client.patch(
            url("customers", key), json={"data": {"phone": f"+{writer}-{n}"}}, headers=headers
        )
        assert response.status_code == 200, response.text
        written += 1
    return written


def test_fifty_writers_and_a_tailing_reader_see_every_event_exactly_once_in_version_order(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    other = api.tenant_headers(partner, api.new_tenant(partner))
    for r in range(RECORDS):
        created = api.client.post(
            "/api/resources/customers", json={"data": customer(f"r-{r}")}, headers=headers
        )
        assert created.status_code == 200, created.text
    start = api.client.get("/api/events", headers=headers).json()["data"]["pagination"]["cursor"]
    other_start = api.client.get("/api/events", headers=other).json()["data"]["pagination"]

    async def run() -> tuple[list[dict[str, Any]], int]:
        limits = httpx.Limits(max_connections=WRITERS + 2)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=60, limits=limits) as client:
            done = asyncio.Event()
            reader = asyncio.create_task(_tail(client, headers, start, done))
            counts = await asyncio.gather(*(_write(client, headers, w) for w in range(WRITERS)))
            done.set()
            return await reader, sum(counts)

    seen, writes = api.loop.run(asyncio.wait_for(run(), 55))

    ids = Counter(e["id"] for e in seen)
    assert [i for i, n in ids.items() if n > 1] == []
    # Every PATCH changed its record (each sets a value no other write sets): one event each.
    assert len(seen) == writes == WRITERS * WRITES_EACH
    sequences = [e["sequence"] for e in seen]
    assert sequences == sorted(sequences)
    versions: dict[str, list[int]] = defaultdict(list)
    for event in seen:
        versions[event["resourceExternalId"]].append(event["version"])
    for key, found in versions.items():
        assert found == list(range(2, 2 + len(found))), key
    # The history agrees with the feed, record by record.
    for key, found in versions.items():
        newest = api.client.get(f"{url('customers', key)}/history?limit=1", headers=headers)
        assert newest.json()["data"]["results"][0]["version"] == found[-1]
    leaked = api.client.get(
        "/api/events", params={"cursor": other_start["cursor"]}, headers=other
    ).json()["data"]["results"]
    assert leaked == []


def test_an_event_that_commits_late_with_a_lower_sequence_is_not_skipped(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """A transaction appends its event (lower ``seq``) and stays open while a later write
    commits and is read; once it commits, the next read returns it after the later one."""
    headers = api.tenant_headers(partner, tenant)
    first = api.client.post(
        "/api/resources/customers", json={"data": customer("late-0")}, headers=headers
    )
    tenant_id = first.json()["data"]["businessId"]
    cursor = api.client.get("/api/events", headers=headers).json()["data"]["pagination"]["cursor"]
    late_id = clock.new_id()
    body = orjson.dumps({"id": late_id, "type": "resource.updated"}).decode()

    def read(after: str) -> tuple[list[str], str]:
        page = api.client.get("/api/events", params={"cursor": after}, headers=headers)
        data = page.json()["data"]
        return [e["id"] for e in data["results"]], data["pagination"]["cursor"]

    async def race() -> tuple[list[str], list[str]]:
        async with api.db.transaction(write=True) as conn:
            row = (
                late_id,
                tenant_id,
                partner.id,
                "resource.updated",
                None,
                "late-held",
                2,
                clock.now(),
                body,
            )
            await store.append(conn, [row])
            loop = asyncio.get_running_loop()

            def later_write() -> list[str]:
                response = api.client.post(
                    "/api/resources/customers", json={"data": customer("late-1")}, headers=headers
                )
                assert response.status_code == 200, response.text
                found, _ = read(cursor)
                return found

            if api.engine == "sqlite":
                # SQLite has one writer at a time: the later write cannot commit while this
                # transaction is open, so the race cannot happen there (writes are serial).
                return [], []
            before_commit = await loop.run_in_executor(None, later_write)
        after_commit, _ = await loop.run_in_executor(None, read, cursor)
        return before_commit, after_commit

    before_commit, after_commit = api.loop.run(race())
    if api.engine == "sqlite":
        return
    assert late_id not in before_commit
    assert len(before_commit) == 1
    assert after_commit == [*before_commit, late_id]
