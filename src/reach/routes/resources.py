"""``/api/resources/{schema}[/{externalId}]`` — one implementation for every schema.

``customers``, ``locations`` and ``transactions`` are not special routes: they are schema
names like any other, resolved by the same lookup.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from reach.domain import conditions, documents, listing, resources
from reach.domain.conditions import Conditions, etag
from reach.domain.resources import Record, Scope
from reach.errors import BadRequest
from reach.routes.events import actor_of
from reach.storage.database import Connection, on_replica
from reach.web.endpoint import Call, route
from reach.web.http import ok, query_bool, query_choice, query_int

SCHEMA = "/api/resources/{schema}"
RECORD = "/api/resources/{schema}/{externalId:path}"


def record_wire(record: Record) -> dict[str, Any]:
    """The contract's record: camelCase fields and their deprecated snake_case twins."""
    return {
        "id": record.id,
        "schemaDefinitionId": record.schema_id,
        "schema_definition_id": record.schema_id,
        "platformId": record.partner_id,
        "platform_id": record.partner_id,
        "businessId": record.tenant_id,
        "business_id": record.tenant_id,
        "resourceExternalId": record.external_id,
        "resource_external_id": record.external_id,
        "createdAt": record.created_at,
        "created_at": record.created_at,
        "updatedAt": record.updated_at,
        "updated_at": record.updated_at,
        "data": record.data,
    }


async def scope_of(call: Call, conn: Connection) -> Scope:
    schema = await call.services.schemas.resolve(conn, call.partner_id, call.path("schema"))
    services = call.services
    # A replica's copy may be older than this process's hint: remembering it would only cost
    # the next PATCH a lost compare-and-set.
    recent = None if on_replica(conn) else services.records
    return Scope(
        conn,
        call.tenant,
        schema,
        services.schemas,
        recent,
        actor_of(call) if services.settings.events else None,
    )


def _fields(call: Call, scope: Scope) -> dict[str, Any]:
    ignore = query_bool(call.query, "ignoreUnknownFields")
    return documents.unwrap(call.body, scope.compiled, ignore_unknown=ignore)


def _on_conflict(call: Call) -> str:
    return query_choice(call.query, "onconflict", ("upsert", "reject"), "upsert")


def _conditions(call: Call) -> Conditions | None:
    """``If-Match`` / ``If-None-Match``, or None (then nothing is checked)."""
    return conditions.from_headers(call.scope["headers"])


def _tagged(response: Response, record: Record) -> Response:
    # Straight onto the raw list: the response is ours and has no ETag yet, and
    # ``response.headers`` builds a header view to search first.
    response.raw_headers.append((b"etag", etag(record.id, record.version).encode()))
    return response


async def create_resource(call: Call, conn: Connection) -> Response:
    scope = await scope_of(call, conn)
    on_conflict = _on_conflict(call)
    record, created = await resources.upsert(
        scope,
        _fields(call, scope),
        path_external_id=None,
        on_conflict=on_conflict,
        conditions=_conditions(call),
    )
    return _tagged(
        ok(record_wire(record), "Resource created" if created else "Resource updated"), record
    )


async def create_resource_at(call: Call, conn: Connection) -> Response:
    """The legacy ``POST /api/resources/{schema}/{externalId}`` form."""
    scope = await scope_of(call, conn)
    on_conflict = _on_conflict(call)
    record, created = await resources.upsert(
        scope,
        _fields(call, scope),
        path_external_id=call.path("externalId"),
        on_conflict=on_conflict,
        conditions=_conditions(call),
    )
    return _tagged(
        ok(record_wire(record), "Resource created" if created else "Resource updated"), record
    )


async def patch_resource(call: Call, conn: Connection) -> Response:
    scope = await scope_of(call, conn)
    record = await resources.patch(
        scope, call.path("externalId"), _fields(call, scope), _conditions(call)
    )
    return _tagged(ok({"result": record_wire(record), "included": []}, "Resource updated"), record)


def _include(call: Call) -> list[str]:
    names: list[str] = []
    for value in call.query.getlist("include"):
        names.extend(part.strip() for part in value.split(",") if part.strip())
    return list(dict.fromkeys(names))


async def get_resource(call: Call, conn: Connection) -> Response:
    scope = await scope_of(call, conn)
    include = _include(call)
    record, included = await resources.get(scope, call.path("externalId"), include)
    found = _conditions(call)
    # With ``include`` the body also shows other records, which the record's tag does not
    # follow: never 304 then (docs/decisions.md, *Conditional requests*).
    if found is not None and found.not_modified(etag(record.id, record.version)) and not include:
        return _tagged(Response(status_code=304), record)
    body = {"result": record_wire(record), "included": [record_wire(r) for r in included]}
    return _tagged(ok(body), record)


async def delete_resource(call: Call, conn: Connection) -> Response:
    scope = await scope_of(call, conn)
    cascade = query_bool(call.query, "cascade")
    record, cascaded = await resources.delete(
        scope, call.path("externalId"), cascade=cascade, conditions=_conditions(call)
    )
    message = "Resource deleted" + (f" with {cascaded} referencing records" if cascaded else "")
    return _tagged(ok(record_wire(record), message), record)


def _filters(call: Call) -> dict[str, str]:
    filters: dict[str, str] = {}
    for key, value in call.query.multi_items():
        if key.startswith("filter[") and key.endswith("]"):
            field = key[7:-1]
            if field in filters:
                raise BadRequest("Invalid filter", errors=[f"{key}: given more than once"])
            filters[field] = value
    return filters


async def list_resources(call: Call, conn: Connection) -> Response:
    scope = await scope_of(call, conn)
    result = await listing.page(
        scope,
        cursor=call.query.get("cursor"),
        limit=query_int(call.query, "limit", 100, low=1, high=1000),
        filters=_filters(call),
    )
    return ok(
        {
            "results": [record_wire(r) for r in result.results],
            "pagination": {
                "hasNextPage": result.has_next_page,
                "total": result.total,
                "cursor": result.cursor,
            },
        }
    )


COLLECTION_ROUTES: list[Route] = [
    route(SCHEMA, "POST", create_resource, access="tenant", write=True, body=True),
    route(SCHEMA, "GET", list_resources, access="tenant", replica=True),
]

RECORD_ROUTES: list[Route] = [
    route(RECORD, "GET", get_resource, access="tenant", replica=True),
    route(RECORD, "PATCH", patch_resource, access="tenant", write=True, body=True),
    route(RECORD, "POST", create_resource_at, access="tenant", write=True, body=True),
    route(RECORD, "DELETE", delete_resource, access="tenant", write=True),
]
