"""``reach.client``: webhook management, and ``verify_webhook`` checked against the Standard
Webhooks reference library both ways (issue 14)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import standardwebhooks

from reach.client import Client, NotFoundError, WebhookVerificationError, verify_webhook
from tests.harness import Harness, PartnerKey
from tests.webhook_helpers import Event, fan_out, wait_for_status
from tests.webhook_receiver import receiving


@pytest.fixture
def client(api: Harness, partner: PartnerKey) -> Iterator[Client]:
    with Client.for_partner(api.base_url, partner.id, partner.secret) as made:
        yield made


def test_webhooks_are_managed_and_deliveries_listed_and_retried(
    api: Harness, partner: PartnerKey, client: Client
) -> None:
    with receiving() as receiver:
        made = client.create_webhook(receiver.url, events=["tenant.updated"], description="d")
        assert made.secret is not None
        assert made.secret.startswith("whsec_")
        assert client.get_webhook(made.id).secret is None
        assert [e.id for e in client.iterate_webhooks()] == [made.id]
        fan_out(api, Event(partner.id))
        (request,) = receiver.wait_for(1)
        payload = verify_webhook(made.secret, request.headers, request.body)
        assert payload["type"] == "tenant.updated"
        done = wait_for_status(api, partner, made.id, "succeeded")
        listed = list(client.iterate_webhook_deliveries(made.id, status="succeeded"))
        assert [d.id for d in listed] == [done["id"]]
        again = client.retry_webhook_delivery(made.id, done["id"])
        assert again.status == "pending"
        receiver.wait_for(2)
        rotated = client.rotate_webhook_secret(made.id)
        assert rotated.secret not in (None, made.secret)
        assert rotated.previous_secret_expires_at is not None
        off = client.update_webhook(made.id, {"enabled": False})
        assert off.enabled is False
        client.delete_webhook(made.id)
        with pytest.raises(NotFoundError):
            client.get_webhook(made.id)


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _signed(secret: str, body: str, msg_id: str = "msg_1") -> dict[str, str]:
    timestamp = datetime.now(UTC).replace(microsecond=0)
    signature = standardwebhooks.Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }


def test_verify_webhook_accepts_what_the_reference_signs_and_refuses_tampering() -> None:
    body = '{"type":"resource.created","timestamp":"2026-12-02T00:00:00.000Z","data":{}}'
    headers = _signed(SECRET, body)
    assert verify_webhook(SECRET, headers, body.encode())["type"] == "resource.created"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, headers, body.replace("created", "deleted"))
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 32, headers, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, {**headers, "webhook-id": "msg_2"}, body)
    stale = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, stale, body)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, {"webhook-id": "x"}, body)
    # One of several signatures matching is enough (a rotation sends two).
    other = _signed("whsec_" + "B" * 32, body)["webhook-signature"]
    both = {**headers, "webhook-signature": f"{other} {headers['webhook-signature']}"}
    assert verify_webhook(SECRET, both, body) is not None
