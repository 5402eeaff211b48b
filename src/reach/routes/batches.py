"""Batch routes: upload, patch and delete in bulk (202 + a batch id), and reading batches.

``/api/resources/{schema}/batch`` is mounted before ``/api/resources/{schema}/{externalId}``,
which would otherwise take ``batch`` for an external id.
"""

from __future__ import annotations

from typing import Any

from starlette.background import BackgroundTask
from starlette.responses import Response
from starlette.routing import Route

from reach.batches import accept, status
from reach.batches.model import INGEST, MAX_WAIT_SECONDS, PATCH, Options
from reach.batches.worker import kick
from reach.domain.resources import Scope
from reach.routes.resources import scope_of
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, query_bool, query_choice, query_int

BATCH = "/api/resources/{schema}/batch"


def _accepted(call: Call, accepted: accept.Accepted, what: str) -> Response:
    response = ok(
        {
            "batchId": accepted.batch_id,
            "message": f"{what} of {accepted.record_count} records queued; "
            f"poll /api/batches/{accepted.batch_id} for its status",
            "recordCount": accepted.record_count,
            "schemaDefinitionId": accepted.schema_id,
        },
        "Batch accepted for processing",
        status=202,
    )
    # After the response, i.e. after the transaction committed: the worker finds the batch.
    response.background = BackgroundTask(kick, call.services)
    return response


def _ignore_unknown(call: Call) -> bool:
    return query_bool(call.query, "ignoreUnknownFields")


async def _writes(
    call: Call, conn: Connection, batch_type: str
) -> tuple[Scope, Options, list[Any]]:
    # Query parameters before the schema lookup: a bad request is a 400 whatever it names.
    ignore_unknown = _ignore_unknown(call)
    options = Options(ignore_unknown=ignore_unknown)
    if batch_type == INGEST:
        options = Options(
            ignore_unknown=ignore_unknown,
            on_conflict=query_choice(call.query, "onconflict", ("upsert", "reject"), "upsert"),
            wait_seconds=query_int(
                call.query, "dependencyWaitTimeout", 0, low=0, high=MAX_WAIT_SECONDS
            ),
        )
    items = accept.resources_of(call.body, ignore_unknown=ignore_unknown)
    return await _live_scope(call, conn), options, items


async def _live_scope(call: Call, conn: Connection) -> Scope:
    """The scope, its tenant checked live (and share-locked until commit on PostgreSQL): a
    process whose cached tenant another node deleted must not queue a batch into it. The
    guard's :class:`~reach.errors.StaleScope` makes the route look the tenant up again (404)."""
    scope = await scope_of(call, conn)
    await scope.rows.guard.hold(conn, schema=False)
    return scope


async def upload_batch(call: Call, conn: Connection) -> Response:
    scope, options, items = await _writes(call, conn, INGEST)
    accepted = await accept.accept_writes(scope, INGEST, items, options)
    return _accepted(call, accepted, "Upload")


async def patch_batch(call: Call, conn: Connection) -> Response:
    scope, options, items = await _writes(call, conn, PATCH)
    accepted = await accept.accept_writes(scope, PATCH, items, options)
    return _accepted(call, accepted, "Patch")


async def delete_batch(call: Call, conn: Connection) -> Response:
    request = accept.delete_request(call.body)
    scope = await _live_scope(call, conn)
    if request.dry_run:
        preview = await accept.preview_delete(scope, request)
        return ok(preview, "Dry run: nothing was deleted")
    accepted = await accept.accept_delete(scope, request)
    return _accepted(call, accepted, "Delete")


async def get_batch(call: Call, conn: Connection) -> Response:
    include_pending = query_bool(call.query, "includePendingDetails")
    found = await status.get(
        conn, call.tenant, call.path("batchId"), include_pending=include_pending
    )
    return ok(found)


async def list_batches(call: Call, conn: Connection) -> Response:
    query = call.query
    query_choice(query, "sortBy", ("createdAt",), "createdAt")
    order = query_choice(query, "sortOrder", ("desc", "asc"), "desc")
    found = await status.page(
        conn,
        call.tenant,
        cursor=query.get("cursor"),
        limit=query_int(query, "limit", 20, low=1, high=1000),
        batch_type=query.get("batchType") or None,
        descending=order == "desc",
    )
    return ok(found)


ROUTES: list[Route] = [
    route(BATCH, "POST", upload_batch, access="tenant", write=True, body=True),
    route(BATCH, "PATCH", patch_batch, access="tenant", write=True, body=True),
    route(BATCH, "DELETE", delete_batch, access="tenant", write=True, body=True),
    route("/api/batches", "GET", list_batches, access="tenant"),
    route("/api/batches/{batchId}", "GET", get_batch, access="tenant"),
]
