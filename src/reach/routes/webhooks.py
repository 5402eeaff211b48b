"""``/partner/webhooks`` — a partner's webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from reach.domain import webhooks
from reach.domain.webhooks import Endpoint
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, query_choice, query_int, refuse_nul

COLLECTION = "/partner/webhooks"
ITEM = "/partner/webhooks/{id}"
ROTATE = "/partner/webhooks/{id}/rotate-secret"
DELIVERIES = "/partner/webhooks/{id}/deliveries"
RETRY = "/partner/webhooks/{id}/deliveries/{deliveryId}/retry"


def endpoint_wire(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "events": endpoint.events,
        "tenants": endpoint.tenants,
        "schemas": endpoint.schemas,
        "enabled": endpoint.enabled,
        "disabledReason": endpoint.disabled_reason,
        "failingSince": endpoint.failing_since,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    }


def _allow_private(call: Call) -> bool:
    return call.services.settings.webhook_allow_private


async def create_webhook(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    endpoint, secret = await webhooks.create(
        conn, call.services.box, call.partner_id, call.body, allow_private=_allow_private(call)
    )
    return ok({**endpoint_wire(endpoint), "secret": secret}, "Webhook endpoint created")


async def list_webhooks(call: Call, conn: Connection) -> Response:
    found, has_next, total, cursor = await webhooks.page(
        conn,
        call.partner_id,
        call.query.get("cursor"),
        query_int(call.query, "limit", 100, low=1, high=100),
    )
    return ok(
        {
            "results": [endpoint_wire(e) for e in found],
            "pagination": {"hasNextPage": has_next, "total": total, "cursor": cursor},
        }
    )


async def get_webhook(call: Call, conn: Connection) -> Response:
    return ok(endpoint_wire(await webhooks.get(conn, call.partner_id, call.path("id"))))


async def update_webhook(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    endpoint = await webhooks.update(
        conn, call.partner_id, call.path("id"), call.body, allow_private=_allow_private(call)
    )
    return ok(endpoint_wire(endpoint), "Webhook endpoint updated")


async def delete_webhook(call: Call, conn: Connection) -> Response:
    endpoint = await webhooks.delete(conn, call.partner_id, call.path("id"))
    return ok(endpoint_wire(endpoint), "Webhook endpoint deleted")


async def rotate_webhook_secret(call: Call, conn: Connection) -> Response:
    endpoint, secret, until = await webhooks.rotate_secret(
        conn, call.services.box, call.partner_id, call.path("id")
    )
    return ok(
        {**endpoint_wire(endpoint), "secret": secret, "previousSecretExpiresAt": until},
        "Webhook secret rotated; the previous secret keeps signing for 24 hours",
    )


async def list_webhook_deliveries(call: Call, conn: Connection) -> Response:
    status = query_choice(call.query, "status", ("all", *webhooks.DELIVERY_STATUSES), "all")
    found, has_next, cursor = await webhooks.deliveries(
        conn,
        call.partner_id,
        call.path("id"),
        status=None if status == "all" else status,
        cursor=call.query.get("cursor"),
        limit=query_int(call.query, "limit", 100, low=1, high=1000),
    )
    return ok({"results": found, "pagination": {"hasNextPage": has_next, "cursor": cursor}})


async def retry_webhook_delivery(call: Call, conn: Connection) -> Response:
    delivery = await webhooks.retry(conn, call.partner_id, call.path("id"), call.path("deliveryId"))
    return ok(delivery, "Webhook delivery queued")


ROUTES: list[Route] = [
    route(COLLECTION, "GET", list_webhooks, access="partner"),
    route(COLLECTION, "POST", create_webhook, access="partner", write=True, body=True),
    route(ITEM, "GET", get_webhook, access="partner"),
    route(ITEM, "PATCH", update_webhook, access="partner", write=True, body=True),
    route(ITEM, "DELETE", delete_webhook, access="partner", write=True),
    route(ROTATE, "POST", rotate_webhook_secret, access="partner", write=True),
    route(DELIVERIES, "GET", list_webhook_deliveries, access="partner"),
    route(RETRY, "POST", retry_webhook_delivery, access="partner", write=True),
]
