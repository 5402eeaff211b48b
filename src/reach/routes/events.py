"""``GET /api/events`` (the tenant's change feed) and
``GET /api/resources/{schema}/{externalId}/history`` (one record's changes).

Both open their own short transactions (``transaction=False`` in :func:`reach.web.endpoint.route`):
each first stamps what has committed (:mod:`reach.feed`), which is a write, and the feed's
long poll must hold no connection while it waits. A record whose external id itself ends in
``/history`` is read through the list's filter (docs/events.md).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from reach import feed
from reach.domain import events
from reach.domain.events import Actor, EventPage
from reach.domain.resources import check_external_id
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, query_int

FEED = "/api/events"
HISTORY = "/api/resources/{schema}/{externalId:path}/history"
MAX_WAIT_SECONDS = 30


def _page(page: EventPage) -> dict[str, Any]:
    return {
        "results": page.results,
        "pagination": {"hasNextPage": page.has_next_page, "cursor": page.cursor},
    }


async def list_events(call: Call, _conn: Connection) -> Response:
    services = call.services
    query = call.query
    limit = query_int(query, "limit", 100, low=1, high=1000)
    wait = query_int(query, "wait", 0, low=0, high=MAX_WAIT_SECONDS)
    types = events.parse_types(query.getlist("types"))
    schema_id = None
    name = query.get("schema")
    db = services.db
    if name:
        async with db.transaction(write=False) as conn:
            schema_id = (await services.schemas.resolve(conn, call.partner_id, name)).id
    # Within the request's deadline, with a second to spare for the last look.
    wait_for = min(float(wait), max(services.settings.request_timeout_seconds - 1.0, 0.0))
    page = await feed.read_feed(
        db,
        services.event_signal,
        call.tenant.id,
        cursor=query.get("cursor"),
        limit=limit,
        types=types,
        schema_id=schema_id,
        wait=wait_for,
    )
    return ok(_page(page))


async def record_history(call: Call, _conn: Connection) -> Response:
    services = call.services
    external_id = check_external_id(call.path("externalId"), "externalId")
    limit = query_int(call.query, "limit", 100, low=1, high=1000)
    cursor = call.query.get("cursor")
    db = services.db
    await feed.stamp_pending(db, services.event_signal)
    async with db.transaction(write=False) as conn:
        schema = await services.schemas.resolve(conn, call.partner_id, call.path("schema"))
        page = await events.history(
            conn, call.tenant.id, schema.id, external_id, cursor=cursor, limit=limit
        )
    return ok(_page(page))


def actor_of(call: Call) -> Actor:
    """The caller as a change event names it."""
    return Actor(
        partner_id=call.partner_id,
        tenant_token=not call.principal.is_partner,
        via="api",
        request_id=call.scope.get("state", {}).get("request_id"),
    )


async def publish(
    call: Call,
    conn: Connection,
    kind: str,
    data: dict[str, Any],
    *,
    tenant_id: str | None = None,
    schema_id: str | None = None,
) -> None:
    """Append a ``tenant.*`` or ``schema_definition.*`` event in the request's transaction
    (nothing when events are off). Without ``tenant_id`` it is the partner's own event."""
    if not call.services.settings.events:
        return
    await events.append_other(
        conn,
        tenant_id=tenant_id or events.partner_scope(call.partner_id),
        partner_id=call.partner_id,
        kind=kind,
        data=data,
        actor=actor_of(call),
        schema_id=schema_id,
    )


FEED_ROUTES: list[Route] = [
    route(FEED, "GET", list_events, access="tenant", transaction=False),
]

# Before the record routes: ``{externalId:path}`` would take ``…/history`` as part of the id.
HISTORY_ROUTES: list[Route] = [
    route(HISTORY, "GET", record_history, access="tenant", transaction=False),
]
