"""``/partner/schema-mappings`` — the partner's mapping of schema fields to Reach's roles."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from reach.domain import mappings
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, refuse_nul

PATH = "/partner/schema-mappings"


async def get_schema_mappings(call: Call, conn: Connection) -> Response:
    return ok(await mappings.get(conn, call.partner_id))


async def replace_schema_mappings(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    mapping = await mappings.replace(conn, call.partner_id, call.body)
    return ok(mapping, "Schema mappings updated")


ROUTES: list[Route] = [
    route(PATH, "GET", get_schema_mappings, access="partner", replica=True),
    route(PATH, "POST", replace_schema_mappings, access="partner", write=True, body=True),
]
