"""One step of a claimed batch, inside one transaction.

A step applies one chunk of items *and* records their outcomes and the batch's progress in
the same transaction, so a crash loses either the whole chunk or nothing: after a restart the
chunk's items are still ``queued`` and are applied once, by whoever claims the batch next.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.batches import deletes
from reach.batches.apply import Item, apply_items, timed_out
from reach.batches.model import (
    DELETE,
    ITEM_FAILED,
    SUCCEEDED,
    WAITING,
    Options,
    Outcome,
    Reason,
    final_status,
)
from reach.domain import events, schemas
from reach.domain.events import Actor
from reach.domain.resources import Scope
from reach.domain.tenants import Tenant
from reach.domain.write_rule import Missing
from reach.errors import NotFound
from reach.services import Services
from reach.storage import batches as store
from reach.storage import tenants as tenant_store
from reach.storage.database import Connection, Row

CONTINUE = "continue"  # more to do now
DONE = "done"  # complete
WAITING_ON_DEPENDENCIES = "waiting"  # only items waiting for dependencies remain; lease given up


async def step(
    services: Services, conn: Connection, batch: Row, *, chunk_size: int, now: datetime
) -> str:
    options = msgspec.json.decode(batch["options"], type=Options)
    scope = await _scope(services, conn, batch, options)
    if isinstance(scope, str):
        return await _abandon(conn, batch, scope, now, services.settings.events)
    if batch["batch_type"] == DELETE and options.delete_all:
        total = await deletes.delete_all_chunk(conn, scope, batch, options, chunk_size)
        if total is None:
            return CONTINUE
        # The walk is over: the total is what was found, not the estimate made on acceptance.
        await _finish(conn, batch, now, total=total, with_events=scope.events is not None)
        return DONE
    ref = store.BatchRef.of(batch)
    pending = int(batch["pending_records"])
    queued = await store.queued_items(conn, ref, chunk_size)
    if queued:
        if batch["batch_type"] == DELETE:
            outcomes, cascaded = await deletes.delete_items(scope, options, queued)
        else:
            items = [Item(int(r["position"]), _payload(r), r["external_id"]) for r in queued]
            outcomes = await apply_items(scope, batch["batch_type"], options, items, now)
            cascaded = 0
        pending += await _record(conn, scope, batch, outcomes, waited=False, cascaded=cascaded)
        if len(queued) == chunk_size:
            return CONTINUE
        if pending:
            # The pending items were checked a moment ago: wait for a write or their expiry.
            return await _wait(conn, ref, now)
    elif pending:
        pending += await _retry_waiting(conn, scope, batch, options, now)
        if pending:
            return await _wait(conn, ref, now)
    await _finish(conn, batch, now, total=None, with_events=services.settings.events)
    return DONE


def _payload(row: Row) -> Any:
    raw = row["payload"]
    return None if raw is None else orjson.loads(raw)


async def _scope(services: Services, conn: Connection, batch: Row, options: Options) -> Scope | str:
    """The tenant and schema the batch writes to, or the reason they are gone."""
    partner_id = str(batch["partner_id"])
    tenant_row = await tenant_store.get_for_writing(conn, partner_id, str(batch["tenant_id"]))
    if tenant_row is None or tenant_row["deleted_at"] is not None:
        return Reason.TENANT_UNAVAILABLE
    try:
        # Read, not cached: the step's writes are guarded against this version, and a cached
        # one another node has replaced would fail the guard at every retry.
        schema = await schemas.get(conn, partner_id, str(batch["schema_id"]))
    except NotFound:
        return Reason.SCHEMA_UNAVAILABLE
    actor = None
    if services.settings.events:
        actor = Actor(
            partner_id=partner_id,
            tenant_token=options.tenant_token,
            via="batch",
            batch_id=str(batch["id"]),
            request_id=options.request_id,
        )
    tenant = Tenant.from_row(tenant_row)
    return Scope(conn, tenant, schema, services.schemas, actor=actor)


async def _abandon(
    conn: Connection, batch: Row, reason: str, now: datetime, with_events: bool
) -> str:
    """The tenant was deleted or the schema deactivated after the batch was accepted."""
    ref = store.BatchRef.of(batch)
    what = "tenant" if reason == Reason.TENANT_UNAVAILABLE else "schema definition"
    errors = orjson.dumps([f"the {what} no longer exists"]).decode()
    count = await store.fail_remaining(conn, ref, reason, errors)
    await store.add_progress(
        conn,
        ref,
        processed=count,
        successful=0,
        failed=count,
        pending=-int(batch["pending_records"]),
        cascaded=0,
    )
    await _finish(conn, batch, now, total=None, with_events=with_events)
    return DONE


async def _record(
    conn: Connection,
    scope: Scope,
    batch: Row,
    outcomes: list[Outcome],
    *,
    waited: bool,
    cascaded: int,
) -> int:
    """Store the outcomes and the progress they make; returns the change in waiting items.

    ``waited``: the outcomes are of items that were waiting, whose progress is already counted
    in ``pending_records``.
    """
    ref = store.BatchRef.of(batch)
    succeeded = [o.position for o in outcomes if o.status == SUCCEEDED]
    others = [o for o in outcomes if o.status != SUCCEEDED]
    await store.mark_items(
        conn,
        ref,
        [
            (
                o.position,
                o.status,
                o.reason,
                None if o.errors is None else orjson.dumps(o.errors).decode(),
                None if o.missing is None else orjson.dumps(o.missing).decode(),
                o.pending_at,
                o.expires_at,
            )
            for o in others
        ],
    )
    if waited:
        await store.mark_succeeded(conn, ref, succeeded)
    elif succeeded:
        # A chunk is a run of queued items, so what is left queued in its span succeeded.
        positions = [o.position for o in outcomes]
        await store.mark_rest_succeeded(conn, ref, min(positions), max(positions))
    n_failed = sum(1 for o in others if o.status == ITEM_FAILED)
    waiting = [o for o in others if o.status == WAITING]
    if not waited:
        await store.add_waits(
            conn,
            ref,
            [
                (o.position, m["schemaDefinitionId"], m["externalId"])
                for o in waiting
                for m in o.missing or []
            ],
        )
    done = len(succeeded) + n_failed
    delta_pending = -done if waited else len(waiting)
    await store.add_progress(
        conn,
        ref,
        processed=done,
        successful=len(succeeded),
        failed=n_failed,
        pending=delta_pending,
        cascaded=cascaded,
    )
    return delta_pending


async def _retry_waiting(
    conn: Connection, scope: Scope, batch: Row, options: Options, now: datetime
) -> int:
    """Apply waiting items whose dependencies now exist, fail those past their expiry."""
    ref = store.BatchRef.of(batch)
    rows = await store.items_with_status(conn, ref, WAITING)
    at = clock.format_timestamp(now)
    wanted: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for dep in orjson.loads(row["missing"] or "[]"):
            wanted[dep["schemaDefinitionId"]].add(dep["externalId"])
    existing = {
        schema_id: await scope.rows.existing_keys(schema_id, sorted(keys))
        for schema_id, keys in wanted.items()
    }
    ready: list[Item] = []
    expired: list[Outcome] = []
    for row in rows:
        missing = [
            dep
            for dep in orjson.loads(row["missing"] or "[]")
            if dep["externalId"] not in existing.get(dep["schemaDefinitionId"], ())
        ]
        item = Item(
            int(row["position"]),
            _payload(row),
            row["external_id"],
            pending_at=row["pending_at"],
            expires_at=row["expires_at"],
        )
        if not missing:
            ready.append(item)
        elif at >= row["expires_at"]:
            expired.append(
                timed_out(
                    item.position, item.external_id, [Missing.of(m) for m in missing], options
                )
            )
    outcomes = expired
    if ready:
        outcomes += await apply_items(scope, batch["batch_type"], options, ready, now, waited=True)
    delta = await _record(conn, scope, batch, outcomes, waited=True, cascaded=0)
    # Rebuild the wait list from what still waits (an item may now wait for something else).
    await store.clear_waits(conn, ref)
    still = await store.items_with_status(conn, ref, WAITING)
    await store.add_waits(
        conn,
        ref,
        [
            (int(r["position"]), dep["schemaDefinitionId"], dep["externalId"])
            for r in still
            for dep in orjson.loads(r["missing"] or "[]")
        ],
    )
    return delta


async def _wait(conn: Connection, ref: store.BatchRef, now: datetime) -> str:
    """Give up the lease until the earliest waiting item expires (or a write wakes it)."""
    rows = await store.items_with_status(conn, ref, WAITING)
    wake_at = min((r["expires_at"] for r in rows), default=clock.format_timestamp(now))
    await store.wait_until(conn, ref, wake_at)
    return WAITING_ON_DEPENDENCIES


async def _finish(
    conn: Connection, batch: Row, now: datetime, *, total: int | None, with_events: bool
) -> None:
    """Complete the batch; ``total`` replaces the accepted count (a delete-all's estimate).
    With ``with_events`` it also appends ``batch.completed``, in the same transaction."""
    ref = store.BatchRef.of(batch)
    row = await store.counts(conn, ref)
    if row is None:  # cannot happen: the caller holds the batch row locked
        return
    final_total = int(row["total_records"]) if total is None else total
    await store.clear_waits(conn, ref)
    status = final_status(final_total, int(row["successful_records"]))
    await store.finish(conn, ref, status=status, at=clock.format_timestamp(now), total=total)
    if with_events:
        await events.append_other(
            conn,
            tenant_id=str(batch["tenant_id"]),
            partner_id=str(batch["partner_id"]),
            kind="batch.completed",
            schema_id=str(batch["schema_id"]),
            data={
                "id": ref.id,
                "type": batch["batch_type"],
                "status": status,
                "schemaDefinitionId": str(batch["schema_id"]),
                "schemaName": batch["schema_name"],
                "counts": {
                    "total": final_total,
                    "processed": int(row["processed_records"]),
                    "successful": int(row["successful_records"]),
                    "failed": int(row["failed_records"]),
                    "cascaded": int(row["cascaded_records"]),
                },
            },
        )


async def fail_next(conn: Connection, batch: Row, now: datetime, with_events: bool = False) -> None:
    """A step keeps raising even for a single item: fail that item (or, for a delete-all walk
    or the waiting items, the rest of the batch) so the batch can still complete."""
    ref = store.BatchRef.of(batch)
    errors = orjson.dumps(["the server could not apply this item; see the server log"]).decode()
    queued = await store.queued_items(conn, ref, 1)
    if queued:
        position = int(queued[0]["position"])
        await store.mark_items(
            conn,
            ref,
            [(position, ITEM_FAILED, Reason.INTERNAL_ERROR, errors, None, None, None)],
        )
        await store.add_progress(
            conn, ref, processed=1, successful=0, failed=1, pending=0, cascaded=0
        )
        return
    count = await store.fail_remaining(conn, ref, Reason.INTERNAL_ERROR, errors)
    await store.add_progress(
        conn,
        ref,
        processed=count,
        successful=0,
        failed=count,
        pending=-int(batch["pending_records"]),
        cascaded=0,
    )
    await _finish(conn, batch, now, total=None, with_events=with_events)
