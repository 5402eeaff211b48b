"""Reading batches back: one batch's status with its errors and waiting items, and the list.

Wire decisions (see docs/batches.md): ``successRate`` is the percentage of processed records
that succeeded (0 before any is processed), rounded to two decimals; ``errors.details`` is keyed
by the item's index in the request (a delete-all's by the order it met records) and lists at most
:data:`DETAILS_LIMIT` items; the list endpoint returns each batch without ``errors.details``
(the summary is there; fetch the batch for details).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import orjson

from reach import clock
from reach.batches.model import BATCH_TYPES, ITEM_FAILED, WAITING
from reach.cursors import decode_cursor, encode_cursor
from reach.domain.tenants import Tenant
from reach.errors import BadRequest, NotFound
from reach.storage import batches as store
from reach.storage.database import Connection, Row

DETAILS_LIMIT = 1000


async def get(
    conn: Connection, tenant: Tenant, batch_id: str, *, include_pending: bool
) -> dict[str, Any]:
    # Another tenant's batch, or no batch, or not even an id: the same 404.
    row = await store.get(conn, tenant.id, batch_id.lower()) if clock.is_uuid(batch_id) else None
    if row is None:
        raise NotFound(f"Batch {batch_id!r} not found")
    ref = store.BatchRef.of(row)
    summaries = await store.failure_summaries(conn, tenant.id, [ref.id])
    failures = await store.items_with_status(conn, ref, ITEM_FAILED, DETAILS_LIMIT)
    details = {
        str(item["position"]): {
            "index": int(item["position"]),
            "externalId": item["external_id"],
            "errors": orjson.loads(item["errors"] or "[]"),
        }
        for item in failures
    }
    wire = batch_wire(row, {s["reason"]: int(s["n"]) for s in summaries}, details)
    if include_pending:
        waiting = await store.items_with_status(conn, ref, WAITING)
        wire["pendingResources"] = [_pending_wire(row, item) for item in waiting]
    return wire


async def page(
    conn: Connection,
    tenant: Tenant,
    *,
    cursor: str | None,
    limit: int,
    batch_type: str | None,
    descending: bool,
) -> dict[str, Any]:
    if batch_type is not None and batch_type not in BATCH_TYPES:
        raise BadRequest(
            "Invalid query parameter batchType",
            errors=[f"batchType: must be one of {', '.join(BATCH_TYPES)}"],
        )
    kind = f"batches:{batch_type or '*'}:{'desc' if descending else 'asc'}"
    after = decode_cursor(cursor, kind, 1)
    # A forged key past 64 bits would reach the database as an overflow (a 500).
    if after is not None and not (isinstance(after[0], int) and 0 <= after[0] < 2**63):
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    rows, total = await store.page(
        conn,
        tenant.id,
        batch_type=batch_type,
        after_seq=None if after is None else int(after[0]),
        descending=descending,
        limit=limit + 1,
    )
    has_next = len(rows) > limit
    rows = rows[:limit]
    summaries: dict[str, dict[str, int]] = defaultdict(dict)
    for s in await store.failure_summaries(conn, tenant.id, [str(r["id"]) for r in rows]):
        summaries[str(s["batch_id"])][s["reason"]] = int(s["n"])
    return {
        "results": [batch_wire(row, summaries.get(str(row["id"]), {}), {}) for row in rows],
        "pagination": {
            "hasNextPage": has_next,
            "total": total,
            "cursor": encode_cursor(kind, [int(rows[-1]["seq"])]) if has_next else None,
        },
    }


def batch_wire(
    row: Row, summary: dict[str, int], details: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    total = int(row["total_records"])
    processed = int(row["processed_records"])
    successful = int(row["successful_records"])
    failed = int(row["failed_records"])
    rate = round(100 * successful / processed, 2) if processed else 0
    return {
        "batchId": str(row["id"]),
        "status": row["status"],
        "batchType": row["batch_type"],
        "progress": {
            "totalRecords": total,
            "processedRecords": processed,
            "successfulRecords": successful,
            "pendingRecords": int(row["pending_records"]),
            "failedRecords": failed,
            "successRate": rate,
        },
        "cascadedRecords": int(row["cascaded_records"]),
        "createdAt": row["created_at"],
        "startedAt": row["started_at"],
        "completedAt": row["completed_at"],
        "schemaName": row["schema_name"],
        "schemaDefinitionId": str(row["schema_id"]),
        "errors": {
            "summary": dict(sorted(summary.items())),
            "details": details,
            "message": _message(failed, total, len(details)),
        },
    }


def _message(failed: int, total: int, shown: int) -> str:
    if not failed:
        return "No errors"
    text = f"{failed} of {total} records failed"
    if shown and shown < failed:
        text += f" (details for the first {shown})"
    return text


def _pending_wire(batch: Row, item: Row) -> dict[str, Any]:
    missing = orjson.loads(item["missing"] or "[]")
    return {
        # Stable per item without a column of its own: derived from the batch id and index.
        "id": str(uuid.uuid5(uuid.UUID(str(batch["id"])), str(item["position"]))),
        "resourceExternalId": item["external_id"],
        "schemaDefinitionId": str(batch["schema_id"]),
        "schemaName": batch["schema_name"],
        "missingDependencies": [
            {
                "schemaDefinitionId": m["schemaDefinitionId"],
                "externalId": m["externalId"],
                "schemaName": m["schemaName"],
            }
            for m in missing
        ],
        "expiresAt": item["expires_at"],
        "createdAt": item["pending_at"],
    }
