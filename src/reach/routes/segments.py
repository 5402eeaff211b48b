"""``/api/segments`` — a tenant's segments, their members, a user's segments, and
text-to-segment."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from reach.domain import segments, text_to_segment
from reach.domain.compiled import json_type
from reach.domain.segments import Segment
from reach.errors import BadRequest
from reach.routes.resources import record_wire
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, query_int, refuse_nul

COLLECTION = "/api/segments"
TEXT = "/api/segments/text-to-segment"
USER = "/api/segments/user/{externalId:path}"
ITEM = "/api/segments/{id}"
MEMBERS = "/api/segments/{id}/members"


def segment_wire(segment: Segment) -> dict[str, Any]:
    return {
        "id": segment.id,
        "name": segment.name,
        "description": segment.description,
        "createdAt": segment.created_at,
        "type": segment.type,
        "conditions": [
            {"field": c.field, "operator": c.operator, "value": c.value} for c in segment.conditions
        ],
        "updatedAt": segment.updated_at,
    }


async def create_segment(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    segment = await segments.create(conn, call.services.schemas, call.tenant, call.body)
    return ok(segment_wire(segment), "Segment created")


async def list_segments(call: Call, conn: Connection) -> Response:
    found, has_next, total, cursor = await segments.page(
        conn,
        call.tenant,
        call.query.get("cursor"),
        query_int(call.query, "limit", 100, low=1, high=1000),
    )
    return ok(
        {
            "results": [segment_wire(s) for s in found],
            "pagination": {"hasNextPage": has_next, "total": total, "cursor": cursor},
        }
    )


async def get_segment(call: Call, conn: Connection) -> Response:
    return ok(segment_wire(await segments.get(conn, call.tenant, call.path("id"))))


async def update_segment(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    segment = await segments.update(
        conn, call.services.schemas, call.tenant, call.path("id"), call.body
    )
    return ok(segment_wire(segment), "Segment updated")


async def delete_segment(call: Call, conn: Connection) -> Response:
    segment = await segments.delete(conn, call.tenant, call.path("id"))
    return ok(segment_wire(segment), "Segment deleted")


async def segment_members(call: Call, conn: Connection) -> Response:
    page = await segments.members(
        conn,
        call.services.schemas,
        call.tenant,
        call.path("id"),
        cursor=call.query.get("cursor"),
        limit=query_int(call.query, "limit", 100, low=1, high=1000),
    )
    return ok(
        {
            "results": [record_wire(r) for r in page.results],
            "pagination": {
                "hasNextPage": page.has_next_page,
                "total": page.total,
                "cursor": page.cursor,
            },
        }
    )


async def user_segments(call: Call, conn: Connection) -> Response:
    found = await segments.of_user(
        conn, call.services.schemas, call.tenant, call.path("externalId")
    )
    return ok({"segments": [segment_wire(s) for s in found]})


async def text_to_segment_route(call: Call, conn: Connection) -> Response:
    body = call.body
    refuse_nul(body)
    if not isinstance(body, dict):
        raise BadRequest(
            "Validation failed", errors=[f"body: expected object, got {json_type(body)}"]
        )
    errors = [f"{k}: unknown field" for k in body if k not in ("text", "userCustomVerb")]
    text, verb = body.get("text"), body.get("userCustomVerb", "user")
    if not isinstance(text, str) or not text.strip() or len(text) > 1000:
        errors.append("text: required, a string of 1 to 1000 characters")
    if not isinstance(verb, str) or len(verb) > 50:
        errors.append("userCustomVerb: a string of at most 50 characters")
    if errors or not isinstance(text, str) or not isinstance(verb, str):
        raise BadRequest("Validation failed", errors=errors)
    found = await segments.contacts(conn, call.services.schemas, call.partner_id)
    return ok(text_to_segment.translate(text, verb, found.fields))


ROUTES: list[Route] = [
    route(COLLECTION, "GET", list_segments, access="tenant", replica=True),
    route(COLLECTION, "POST", create_segment, access="tenant", write=True, body=True),
    # Literal paths before /{id}: "text-to-segment" and "user" are not segment ids.
    route(TEXT, "POST", text_to_segment_route, access="tenant", body=True),
    route(USER, "GET", user_segments, access="tenant", replica=True),
    route(ITEM, "GET", get_segment, access="tenant", replica=True),
    route(ITEM, "PATCH", update_segment, access="tenant", write=True, body=True),
    route(ITEM, "DELETE", delete_segment, access="tenant", write=True),
    route(MEMBERS, "GET", segment_members, access="tenant", replica=True),
]
