"""Shared steps of the webhook tests: make an endpoint, queue an event's deliveries, wait."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from reach import clock
from reach.webhooks import dispatcher
from tests.harness import Harness, PartnerKey


@dataclass(frozen=True)
class Event:
    """A stored event as the dispatcher reads it (``reach.storage.events.StoredEvent``)."""

    partner_id: str
    type: str = "tenant.updated"
    tenant_id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    position: int = 0
    occurred_at: str = field(default_factory=clock.now)


def create_endpoint(api: Harness, partner: PartnerKey, url: str, **extra: Any) -> dict[str, Any]:
    response = api.client.post(
        "/partner/webhooks", json={"url": url, **extra}, headers=api.partner_headers(partner)
    )
    assert response.status_code == 200, response.text
    made: dict[str, Any] = response.json()["data"]
    return made


def fan_out(api: Harness, *events: Event) -> int:
    """Queue the events' deliveries as the dispatcher does (its own fan-out, real storage)."""
    return api.transaction(lambda conn: dispatcher.fan_out(conn, list(events)))


def deliveries(
    api: Harness, partner: PartnerKey, endpoint_id: str, query: str = ""
) -> list[dict[str, Any]]:
    response = api.client.get(
        f"/partner/webhooks/{endpoint_id}/deliveries{query}", headers=api.partner_headers(partner)
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]["results"]
    return found


def wait_for_status(
    api: Harness, partner: PartnerKey, endpoint_id: str, status: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        seen = deliveries(api, partner, endpoint_id)
        if seen and seen[0]["status"] == status:
            return seen[0]
        time.sleep(0.05)
    raise AssertionError(f"no delivery reached {status}: {seen}")
