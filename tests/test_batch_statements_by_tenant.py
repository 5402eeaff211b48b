"""Every statement about one batch names the batch's tenant.

On a database distributed by tenant (docs/scaling.md) a statement by batch id alone is sent to
every shard; with the tenant it is a router query to one. Each storage function that addresses
one batch runs here against a real database through a connection that records the SQL it is
given, and every statement must match ``tenant_id``. A function that takes a batch id without
the tenant, or a new one-batch function this test does not run, fails it too.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from reach.storage import batches as store
from reach.storage import resource_keys
from reach.storage.database import Connection, Row
from tests.batch_helpers import wait_for_batch
from tests.contract.resources import url
from tests.harness import Harness, PartnerKey

NOW = "2026-01-01T00:00:00.000000Z"


class Recording:
    """The connection under test, keeping the text of every statement it is given."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.statements: list[str] = []
        self.dialect = conn.dialect

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]:
        self.statements.append(query)
        return await self.conn.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> Row | None:
        self.statements.append(query)
        return await self.conn.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self.conn.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> Any:
        self.statements.append(query)
        return await self.conn.execute(query, *args)

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> Any:
        self.statements.append(query)
        return await self.conn.executemany(query, args)


Call = Callable[[Any, store.BatchRef], Awaitable[object]]
WAIT = (999, "", "x")  # (position, schema id, external id); the schema id is filled in

# One call per function that addresses one batch (harmless on a finished batch of a test).
CALLS: dict[str, Call] = {
    "items_with_status": lambda c, b: store.items_with_status(c, b, "failed"),
    "queued_items": lambda c, b: store.queued_items(c, b, 10),
    "wake": lambda c, b: store.wake(c, [b], NOW),
    "clear_waits": lambda c, b: store.clear_waits(c, b),
    "renew": lambda c, b: store.renew(c, b, "nobody", NOW),
    "release": lambda c, b: store.release(c, b, "nobody", None),
    "mark_succeeded": lambda c, b: store.mark_succeeded(c, b, [0]),
    "mark_items": lambda c, b: store.mark_items(
        c, b, [(0, "succeeded", None, None, None, None, None)]
    ),
    "add_progress": lambda c, b: store.add_progress(
        c, b, processed=0, successful=0, failed=0, pending=0, cascaded=0
    ),
    "finish": lambda c, b: store.finish(c, b, status="completed", at=NOW, total=None),
    "fail_remaining": lambda c, b: store.fail_remaining(c, b, "internal_error", "[]"),
    "counts": lambda c, b: store.counts(c, b),
    "wait_until": lambda c, b: store.wait_until(c, b, NOW),
    "mark_rest_succeeded": lambda c, b: store.mark_rest_succeeded(c, b, 0, 0),
    "failure_summaries": lambda c, b: store.failure_summaries(c, b.tenant_id, [b.id]),
}


def _functions() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(fn)
        for name, fn in vars(store).items()
        if inspect.iscoroutinefunction(fn) and not name.startswith("_")
    }


def test_no_function_takes_a_batch_id_without_its_tenant() -> None:
    for name, signature in _functions().items():
        params = signature.parameters
        if {"batch_id", "batch_ids"} & set(params):
            assert "tenant_id" in params, f"{name} addresses a batch by id alone"


def test_every_one_batch_function_is_run_here() -> None:
    takes_a_ref = {
        name
        for name, signature in _functions().items()
        if any("BatchRef" in str(p.annotation) for p in signature.parameters.values())
    }
    assert takes_a_ref, "no function takes a BatchRef: the test reads the wrong module"
    assert takes_a_ref <= {*CALLS, "add_waits"}, takes_a_ref - {*CALLS, "add_waits"}


def test_each_statement_about_a_batch_matches_its_tenant(api: Harness, partner: PartnerKey) -> None:
    headers = api.tenant_headers(partner, api.new_tenant(partner))
    submitted = api.client.post(
        f"{url('customers')}/batch",
        json={"resources": [{"customerId": "c-1"}, {"customerId": 7}]},
        headers=headers,
    )
    assert submitted.status_code == 202, submitted.text
    batch_id = submitted.json()["data"]["batchId"]
    wait_for_batch(api, headers, batch_id)

    async def run(conn: Connection) -> dict[str, list[str]]:
        row = await conn.fetchrow(
            "SELECT tenant_id, schema_id FROM batches WHERE id = $1", batch_id
        )
        assert row is not None
        ref = store.BatchRef(str(row["tenant_id"]), batch_id)
        wait = (WAIT[0], str(row["schema_id"]), WAIT[2])
        calls: dict[str, Call] = {
            **CALLS,
            "add_waits": lambda c, b: store.add_waits(c, b, [wait]),
        }
        sent: dict[str, list[str]] = {}
        for name, call in calls.items():
            recording = Recording(conn)
            await call(recording, ref)
            sent[name] = recording.statements
        recording = Recording(conn)
        await resource_keys.woken_by_writes(recording, NOW)  # type: ignore[arg-type]
        sent["woken_by_writes"] = recording.statements
        return sent

    sent = api.transaction(run)
    for name, statements in sent.items():
        assert statements, f"{name} sent nothing"
        for sql in statements:
            assert "tenant_id" in sql, f"{name}: {sql}"
