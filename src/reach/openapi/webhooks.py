"""Operations of ``/partner/webhooks``; shapes follow :mod:`reach.routes.webhooks`."""

from __future__ import annotations

from typing import Any

from reach.domain.webhooks import EVENT_TYPES, MAX_DESCRIPTION, MAX_FILTER_ITEMS, MAX_URL_LENGTH
from reach.openapi.components import (
    BOOLEAN,
    STRING,
    TIMESTAMP,
    UUID,
    Schema,
    array,
    envelope,
    errors,
    obj,
    page_of,
    param_ref,
    path_param,
    query_param,
    response,
    schema_ref,
)
from reach.openapi.operations import Operation
from reach.storage.webhook_deliveries import STATUSES

TAG = "Webhooks"
TAGS = [(TAG, "Standard Webhooks: signed HTTP POSTs of the partner's change events")]


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


_EVENT_TYPE: Schema = {"type": "string", "enum": list(EVENT_TYPES)}
_URL: Schema = {
    "type": "string",
    "format": "uri",
    "maxLength": MAX_URL_LENGTH,
    "description": "http:// or https:// URL; must resolve to a public address when sent",
    "example": "https://hooks.example.com/reach",
}


def _filter(item: Schema, text: str) -> Schema:
    return _nullable(
        array(item, minItems=1, maxItems=MAX_FILTER_ITEMS, description=f"{text}; null: all")
    )


_FIELDS: dict[str, Schema] = {
    "events": _filter(_EVENT_TYPE, "Event types to deliver"),
    "tenants": _filter(
        STRING, "Tenants (id or external id; stored as ids) whose events to deliver"
    ),
    "schemas": _filter(
        STRING, "Schema definitions (name or id; stored as ids) whose events to deliver"
    ),
    "description": _nullable({**STRING, "maxLength": MAX_DESCRIPTION}),
}
ENDPOINT = obj(
    {
        "id": UUID,
        "url": _URL,
        "description": _nullable(STRING),
        "events": _nullable(array(_EVENT_TYPE)),
        "tenants": _nullable(array(UUID)),
        "schemas": _nullable(array(UUID)),
        "enabled": BOOLEAN,
        "disabledReason": _nullable(
            {**STRING, "description": "Why it is disabled (by the partner, or automatically)"}
        ),
        "failingSince": _nullable(
            {**TIMESTAMP, "description": "Since when every attempt has failed"}
        ),
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ["id", "url", "events", "tenants", "schemas", "enabled", "createdAt", "updatedAt"],
)
_SECRET: Schema = {
    **STRING,
    "description": "whsec_ + base64 of the key: shown only here; verify deliveries with it",
    "example": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}
ENDPOINT_WITH_SECRET = {
    **ENDPOINT,
    "properties": {**ENDPOINT["properties"], "secret": _SECRET},
    "required": [*ENDPOINT["required"], "secret"],
}
ROTATED = {
    **ENDPOINT_WITH_SECRET,
    "properties": {
        **ENDPOINT_WITH_SECRET["properties"],
        "previousSecretExpiresAt": {
            **TIMESTAMP,
            "description": "Until then the previous secret signs too (a second v1 signature)",
        },
    },
    "required": [*ENDPOINT_WITH_SECRET["required"], "previousSecretExpiresAt"],
}
ENDPOINT_CREATE = obj({"url": _URL, **_FIELDS}, ["url"], additionalProperties=False)
ENDPOINT_UPDATE = obj(
    {"url": _URL, **_FIELDS, "enabled": BOOLEAN},
    additionalProperties=False,
    description="Only the fields sent change; enabling a disabled endpoint clears its record",
)
DELIVERY = obj(
    {
        "id": UUID,
        "endpointId": UUID,
        "eventId": STRING,
        "eventType": _EVENT_TYPE,
        "tenantId": _nullable(UUID),
        "status": {"type": "string", "enum": list(STATUSES)},
        "attempts": {"type": "integer"},
        "lastStatusCode": _nullable({"type": "integer"}),
        "lastError": _nullable(STRING),
        "lastResponseBody": _nullable(
            {**STRING, "description": "The first 1 KB of the last answer"}
        ),
        "lastAttemptAt": _nullable(TIMESTAMP),
        "nextAttemptAt": _nullable({**TIMESTAMP, "description": "Set while pending"}),
        "createdAt": TIMESTAMP,
        "completedAt": _nullable(TIMESTAMP),
    },
    ["id", "endpointId", "eventId", "eventType", "status", "attempts", "createdAt"],
)
DELIVERY_PAGE = obj(
    {
        "results": array(schema_ref("WebhookDelivery")),
        "pagination": obj(
            {
                "hasNextPage": BOOLEAN,
                "cursor": {
                    "type": "string",
                    "nullable": True,
                    "description": "Pass as ?cursor= for the next page; null on the last page",
                },
            },
            ["hasNextPage", "cursor"],
        ),
    },
    ["results", "pagination"],
)

SCHEMAS: dict[str, Schema] = {
    "WebhookEndpoint": ENDPOINT,
    "WebhookEndpointWithSecret": ENDPOINT_WITH_SECRET,
    "WebhookEndpointRotated": ROTATED,
    "WebhookEndpointCreate": ENDPOINT_CREATE,
    "WebhookEndpointUpdate": ENDPOINT_UPDATE,
    "WebhookDelivery": DELIVERY,
    "WebhookDeliveryPage": DELIVERY_PAGE,
}


def _ok(data: Schema) -> dict[str, Any]:
    return {"200": response("Status 200 response", envelope(data))}


_ID = path_param("id", "The webhook endpoint's id")
_READ = errors("400", "401", "403", "404")
_WRITE = errors("400", "401", "403", "404", "409", "413", "415")
_SIGNING = (
    "Each delivery is a POST of {type, timestamp, data: event} with the Standard Webhooks "
    "headers webhook-id (the event id: de-duplicate on it), webhook-timestamp and "
    "webhook-signature (v1,<base64 HMAC-SHA256 of id.timestamp.body>). A 2xx answer ends it; "
    "anything else is retried with exponential backoff for about 3 days."
)

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/partner/webhooks",
        "listWebhooks",
        "List webhook endpoints",
        TAG,
        {**_ok(page_of(schema_ref("WebhookEndpoint"))), **errors("400", "401", "403")},
        "Oldest first; secrets are never listed.",
        parameters=(
            param_ref("Cursor"),
            query_param("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Page size"),
        ),
    ),
    Operation(
        "POST",
        "/partner/webhooks",
        "createWebhook",
        "Create webhook endpoint",
        TAG,
        {**_ok(schema_ref("WebhookEndpointWithSecret")), **_WRITE},
        "The answer carries the signing secret, shown only here. " + _SIGNING,
        body=schema_ref("WebhookEndpointCreate"),
    ),
    Operation(
        "GET",
        "/partner/webhooks/{id}",
        "getWebhook",
        "Get webhook endpoint",
        TAG,
        {**_ok(schema_ref("WebhookEndpoint")), **_READ},
        parameters=(_ID,),
    ),
    Operation(
        "PATCH",
        "/partner/webhooks/{id}",
        "updateWebhook",
        "Update webhook endpoint",
        TAG,
        {**_ok(schema_ref("WebhookEndpoint")), **_WRITE},
        "Fields not sent are unchanged; null clears a filter (all).",
        parameters=(_ID,),
        body=schema_ref("WebhookEndpointUpdate"),
    ),
    Operation(
        "DELETE",
        "/partner/webhooks/{id}",
        "deleteWebhook",
        "Delete webhook endpoint",
        TAG,
        {**_ok(schema_ref("WebhookEndpoint")), **errors("401", "403", "404")},
        "Deletes it with its delivery log; nothing more is sent to it.",
        parameters=(_ID,),
    ),
    Operation(
        "POST",
        "/partner/webhooks/{id}/rotate-secret",
        "rotateWebhookSecret",
        "Rotate webhook secret",
        TAG,
        {**_ok(schema_ref("WebhookEndpointRotated")), **errors("401", "403", "404")},
        "A new secret, shown only here; for 24 hours deliveries carry two signatures, one per "
        "secret, so receivers can switch without missing one.",
        parameters=(_ID,),
    ),
    Operation(
        "GET",
        "/partner/webhooks/{id}/deliveries",
        "listWebhookDeliveries",
        "List webhook deliveries",
        TAG,
        {**_ok(schema_ref("WebhookDeliveryPage")), **_READ},
        "Newest first.",
        parameters=(
            _ID,
            param_ref("Cursor"),
            param_ref("Limit"),
            query_param(
                "status", {"type": "string", "enum": ["all", *STATUSES]}, "Only these; all"
            ),
        ),
    ),
    Operation(
        "POST",
        "/partner/webhooks/{id}/deliveries/{deliveryId}/retry",
        "retryWebhookDelivery",
        "Retry webhook delivery",
        TAG,
        {**_ok(schema_ref("WebhookDelivery")), **errors("401", "403", "404")},
        "Due again now, whatever it came to (a succeeded one is sent once more).",
        parameters=(_ID, path_param("deliveryId", "The delivery's id")),
    ),
]
