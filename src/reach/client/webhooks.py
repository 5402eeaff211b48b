"""Webhook endpoints (partner) for :class:`reach.client.Client`, and :func:`verify_webhook` for
receivers.

Verification follows the Standard Webhooks spec on its own (no server code): the signed
content is ``{webhook-id}.{webhook-timestamp}.{body}``, the key is the base64 after
``whsec_``, and any one ``v1,`` signature in the space-separated header that matches (compared
in constant time) is enough — during a secret rotation there are two.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import msgspec
import orjson

from reach.client.errors import ReachClientError
from reach.client.partner import segment as path_segment
from reach.client.transport import Transport

TOLERANCE_SECONDS = 5 * 60


class WebhookVerificationError(ReachClientError):
    """A webhook whose headers are missing, too old or too new, or whose signature matches none
    of the secret's: do not act on it."""


class WebhookEndpoint(msgspec.Struct, rename="camel", frozen=True):
    id: str
    url: str
    enabled: bool
    created_at: str
    updated_at: str
    events: list[str] | None = None
    tenants: list[str] | None = None
    schemas: list[str] | None = None
    description: str | None = None
    disabled_reason: str | None = None
    failing_since: str | None = None
    # Only in the answers to create and rotate-secret: keep it, it is not shown again.
    secret: str | None = None
    previous_secret_expires_at: str | None = None


class WebhookDelivery(msgspec.Struct, rename="camel", frozen=True):
    id: str
    endpoint_id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    created_at: str
    tenant_id: str | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    last_response_body: str | None = None
    last_attempt_at: str | None = None
    next_attempt_at: str | None = None
    completed_at: str | None = None


class _DeliveryPagination(msgspec.Struct, rename="camel", frozen=True):
    has_next_page: bool
    cursor: str | None = None


class _DeliveryPage(msgspec.Struct, frozen=True):
    results: list[WebhookDelivery]
    pagination: _DeliveryPagination


class _EndpointPagination(msgspec.Struct, rename="camel", frozen=True):
    has_next_page: bool
    cursor: str | None = None


class _EndpointPage(msgspec.Struct, frozen=True):
    results: list[WebhookEndpoint]
    pagination: _EndpointPagination


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> Any:
    """The delivery's payload (``{"type", "timestamp", "data"}``) once its signature checks out
    against ``secret`` (``whsec_…``); raises :class:`WebhookVerificationError` otherwise.
    ``body`` must be the raw request body, exactly as received."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id = lowered.get("webhook-id")
    stamp = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not (message_id and stamp and signatures):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old or too new")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the secret is not a whsec_ secret") from None
    raw = body.encode() if isinstance(body, str) else bytes(body)
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + raw
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return orjson.loads(raw)
    raise WebhookVerificationError("no signature matches the secret")


class WebhookCalls:
    _transport: Transport

    def create_webhook(
        self,
        url: str,
        *,
        events: Sequence[str] | None = None,
        tenants: Sequence[str] | None = None,
        schemas: Sequence[str] | None = None,
        description: str | None = None,
    ) -> WebhookEndpoint:
        """A new endpoint; its ``secret`` is in this answer only."""
        body: dict[str, Any] = {"url": url}
        for name, value in (("events", events), ("tenants", tenants), ("schemas", schemas)):
            if value is not None:
                body[name] = list(value)
        if description is not None:
            body["description"] = description
        made: WebhookEndpoint = self._transport.call(
            "POST", "/partner/webhooks", WebhookEndpoint, json=body
        )
        return made

    def get_webhook(self, endpoint_id: str) -> WebhookEndpoint:
        found: WebhookEndpoint = self._transport.call(
            "GET", f"/partner/webhooks/{path_segment(endpoint_id)}", WebhookEndpoint
        )
        return found

    def iterate_webhooks(self) -> Iterator[WebhookEndpoint]:
        params: dict[str, str] = {"limit": "100"}
        while True:
            page: _EndpointPage = self._transport.call(
                "GET", "/partner/webhooks", _EndpointPage, params=params
            )
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            params["cursor"] = page.pagination.cursor

    def update_webhook(self, endpoint_id: str, changes: Mapping[str, Any]) -> WebhookEndpoint:
        """Only the fields given change (``url``, ``events``, ``tenants``, ``schemas``,
        ``description``, ``enabled``); None clears a filter."""
        updated: WebhookEndpoint = self._transport.call(
            "PATCH",
            f"/partner/webhooks/{path_segment(endpoint_id)}",
            WebhookEndpoint,
            json=dict(changes),
        )
        return updated

    def delete_webhook(self, endpoint_id: str) -> WebhookEndpoint:
        deleted: WebhookEndpoint = self._transport.call(
            "DELETE", f"/partner/webhooks/{path_segment(endpoint_id)}", WebhookEndpoint
        )
        return deleted

    def rotate_webhook_secret(self, endpoint_id: str) -> WebhookEndpoint:
        """A new ``secret``; the old one keeps signing until ``previous_secret_expires_at``."""
        rotated: WebhookEndpoint = self._transport.call(
            "POST",
            f"/partner/webhooks/{path_segment(endpoint_id)}/rotate-secret",
            WebhookEndpoint,
        )
        return rotated

    def iterate_webhook_deliveries(
        self, endpoint_id: str, *, status: str | None = None
    ) -> Iterator[WebhookDelivery]:
        """Newest first; ``status``: pending, succeeded or failed."""
        params: dict[str, str] = {"limit": "1000"}
        if status is not None:
            params["status"] = status
        while True:
            page: _DeliveryPage = self._transport.call(
                "GET",
                f"/partner/webhooks/{path_segment(endpoint_id)}/deliveries",
                _DeliveryPage,
                params=params,
            )
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            params["cursor"] = page.pagination.cursor

    def retry_webhook_delivery(self, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        queued: WebhookDelivery = self._transport.call(
            "POST",
            f"/partner/webhooks/{path_segment(endpoint_id)}/deliveries/"
            f"{path_segment(delivery_id)}/retry",
            WebhookDelivery,
        )
        return queued
