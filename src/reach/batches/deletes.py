"""The steps of a deletion batch: its queued items (each with the cascade it allows), or the
next chunk of a delete-all walk over the records that existed when it was accepted. Each
deletes through the resource door with a ``resource.deleted`` event per record, in the step's
transaction (reach.batches.process records the outcomes and finishes the batch).
"""

from __future__ import annotations

import orjson

from reach.batches import deletion
from reach.batches.model import ITEM_FAILED, SUCCEEDED, Options, Outcome, Reason, failed
from reach.domain import events
from reach.domain.resources import Scope
from reach.storage import batches as store
from reach.storage.database import Connection, Row


async def delete_items(
    scope: Scope, options: Options, queued: list[Row]
) -> tuple[list[Outcome], int]:
    keys = [r["external_id"] for r in queued]
    rows = await scope.rows.load_many(scope.schema.id, keys, for_update=True)
    by_key = {row["external_id"]: row for row in rows}
    targets = [
        deletion.Target(int(r["position"]), r["external_id"], by_key.get(r["external_id"]))
        for r in queued
    ]
    plan = await deletion.plan(scope, targets, cascade=options.cascade, delete_all=False)
    await _delete_planned(scope, plan)
    return _delete_outcomes(scope, plan), len(plan.cascaded)


async def _delete_planned(scope: Scope, plan: deletion.Plan) -> None:
    """Delete what ``plan`` takes, with a ``resource.deleted`` event for each record."""
    rows = await scope.rows.delete_many(plan.seqs())
    if scope.events is None:
        return
    deleted = [r for r in rows if int(r["seq"]) not in plan.cascaded]
    cascaded = [r for r in rows if int(r["seq"]) in plan.cascaded]
    await events.record_deletions(scope, deleted, cascaded)


def _delete_outcomes(scope: Scope, plan: deletion.Plan) -> list[Outcome]:
    outcomes = [
        Outcome(position=t.position, status=SUCCEEDED, external_id=t.external_id)
        for t in plan.deleted
    ]
    outcomes += [
        failed(t.position, t.external_id, Reason.REFERENCED, [deletion.referenced_message(refs)])
        for t, refs in plan.skipped
    ]
    outcomes += [
        failed(
            t.position,
            t.external_id,
            Reason.NOT_FOUND,
            [f"no {scope.schema.name} record {t.external_id!r}"],
        )
        for t in plan.not_found
    ]
    return sorted(outcomes, key=lambda o: o.position)


async def delete_all_chunk(
    conn: Connection, scope: Scope, batch: Row, options: Options, chunk_size: int
) -> int | None:
    """Delete the next chunk of the records that existed when the batch was accepted; None
    while more may follow, else how many records the walk found in all (the batch's total)."""
    ref = store.BatchRef.of(batch)
    state = orjson.loads(batch["state"])
    rows = await scope.rows.page_between(
        scope.schema.id,
        after_seq=int(state["after"]),
        until_seq=int(state["until"]),
        limit=chunk_size,
        for_update=True,
    )
    processed = int(batch["processed_records"])
    if rows:
        first = int(state["next"])
        targets = [
            deletion.Target(first + i, row["external_id"], row) for i, row in enumerate(rows)
        ]
        plan = await deletion.plan(scope, targets, cascade=options.cascade, delete_all=True)
        await _delete_planned(scope, plan)
        outcomes = _delete_outcomes(scope, plan)
        await store.insert_failures(
            conn,
            ref.id,
            ref.tenant_id,
            [
                (o.position, o.external_id, o.reason or "", orjson.dumps(o.errors).decode())
                for o in outcomes
                if o.status == ITEM_FAILED
            ],
        )
        state = {**state, "after": int(rows[-1]["seq"]), "next": first + len(rows)}
        await store.add_progress(
            conn,
            ref,
            processed=len(rows),
            successful=len(plan.deleted),
            failed=len(plan.skipped),
            pending=0,
            cascaded=len(plan.cascaded),
            state=state,
        )
        processed += len(rows)
        if len(rows) == chunk_size:
            return None
    return processed
