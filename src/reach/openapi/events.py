"""Operations of issue 14: the tenant's change feed and a record's history. Shapes follow
:mod:`reach.routes.events` and :mod:`reach.domain.events`."""

from __future__ import annotations

from typing import Any

from reach.domain.events import TYPES
from reach.openapi.components import (
    BOOLEAN,
    STRING,
    TIMESTAMP,
    UUID,
    Schema,
    envelope,
    errors,
    obj,
    param_ref,
    path_param,
    query_param,
    response,
    schema_ref,
)
from reach.openapi.operations import Operation

TAG = "Events"
TAG_TEXT = "Change events: a tenant's feed (long poll) and each record's history"

_NULLABLE_STRING = {**STRING, "nullable": True}
_ACTOR = obj(
    {
        "partnerId": UUID,
        "tenantToken": {**BOOLEAN, "description": "The change was made with a tenant token"},
        "via": {"type": "string", "enum": ["api", "batch", "cascade", "pending"]},
        "batchId": {**UUID, "nullable": True},
        "requestId": _NULLABLE_STRING,
    },
    ["partnerId", "tenantToken", "via", "batchId", "requestId"],
    nullable=True,
)
EVENT = obj(
    {
        "id": UUID,
        "sequence": {
            "type": "integer",
            "nullable": True,
            "description": "The event's place in the tenant's feed (commit order); increases "
            "with every event, with gaps",
        },
        "type": {"type": "string", "enum": list(TYPES)},
        "occurredAt": TIMESTAMP,
        "schemaDefinitionId": {**UUID, "description": "resource.* events"},
        "schemaName": {**STRING, "description": "resource.* events"},
        "resourceExternalId": {**STRING, "description": "resource.* events"},
        "version": {
            "type": "integer",
            "description": "resource.*: the record's version after "
            "the change (before it, for a delete)",
        },
        "changes": {
            "type": "object",
            "description": "resource.*: each changed top-level field as {from, to}; an absent "
            "field is null",
            "additionalProperties": obj({"from": {}, "to": {}}),
        },
        "data": {
            "type": "object",
            "description": "resource.*: the record's document after the change (before it, for "
            "a delete); tenant.*, schema_definition.*: the object as the API serves it; "
            "batch.completed: {id, type, status, schemaDefinitionId, schemaName, counts}",
            "additionalProperties": True,
        },
        "actor": _ACTOR,
    },
    ["id", "sequence", "type", "occurredAt", "data", "actor"],
)
EVENT_PAGE = obj(
    {
        "results": {"type": "array", "items": schema_ref("ChangeEvent")},
        "pagination": obj(
            {
                "hasNextPage": BOOLEAN,
                "cursor": {
                    **_NULLABLE_STRING,
                    "description": "Feed: where to resume (also when nothing was new); history: "
                    "the next page, null on the last",
                },
            },
            ["hasNextPage", "cursor"],
        ),
    },
    ["results", "pagination"],
)

SCHEMAS: dict[str, Schema] = {"ChangeEvent": EVENT, "ChangeEventPage": EVENT_PAGE}


def _ok(description: str) -> dict[str, Any]:
    return {"200": response(description, envelope(schema_ref("ChangeEventPage")))}


OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/events",
        "listEvents",
        "The tenant's change feed",
        TAG,
        {**_ok("Events after the cursor, oldest first"), **errors("400", "401", "403", "404")},
        "Every change to the tenant's records (`resource.created|updated|deleted`), to the "
        "tenant itself and its finished batches, oldest first, each exactly once in commit "
        "order. Resume with `pagination.cursor`; with `wait` the request waits up to that many "
        "seconds for something new. docs/events.md.",
        parameters=(
            param_ref("Cursor"),
            param_ref("Limit"),
            query_param(
                "types",
                STRING,
                "Only these event types, comma-separated: " + ", ".join(TYPES),
            ),
            query_param("schema", STRING, "Only events of this schema (name or id)"),
            query_param(
                "wait",
                {"type": "integer", "minimum": 0, "maximum": 30, "default": 0},
                "Seconds to wait when nothing is new (long poll)",
            ),
        ),
    ),
    Operation(
        "GET",
        "/api/resources/{schemaDefinitionNameOrId}/{externalId}/history",
        "getResourceHistory",
        "A record's history",
        TAG,
        {**_ok("The record's change events, newest first"), **errors("400", "401", "403", "404")},
        "Every change to the record, newest first, also after it was deleted. A record whose "
        "external id itself ends in `/history` is read through the list's filter; its history "
        "is at `…/{externalId}/history`.",
        parameters=(
            path_param("schemaDefinitionNameOrId", "The schema's name or id"),
            path_param("externalId", "The record's external id"),
            param_ref("Cursor"),
            param_ref("Limit"),
        ),
    ),
]
