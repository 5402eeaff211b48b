"""From a write to a signed POST: the worker's dispatcher reads the event log and delivers
each change to the endpoints that want it (issue 14)."""

from __future__ import annotations

import orjson
import standardwebhooks

from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey
from tests.webhook_helpers import create_endpoint
from tests.webhook_receiver import receiving


def test_writes_reach_the_endpoint_as_signed_events_in_order(
    api: Harness, partner: PartnerKey
) -> None:
    tenant = api.new_tenant(partner)
    other = api.new_tenant(partner)
    with receiving() as receiver:
        endpoint = create_endpoint(
            api,
            partner,
            receiver.url,
            tenants=[tenant],
            events=["resource.created", "resource.updated", "resource.deleted"],
        )
        headers = api.tenant_headers(partner, tenant)
        made = api.client.post(
            "/api/resources/customers", json={"data": customer("c-1")}, headers=headers
        )
        assert made.status_code == 200, made.text
        # Not wanted: another tenant's write, and a tenant event.
        api.client.post(
            "/api/resources/customers",
            json={"data": customer("c-x")},
            headers=api.tenant_headers(partner, other),
        )
        api.client.patch(
            "/api/resources/customers/c-1", json={"data": {"firstName": "Ada"}}, headers=headers
        )
        api.client.delete("/api/resources/customers/c-1", headers=headers)
        received = receiver.wait_for(3)
    verifier = standardwebhooks.Webhook(endpoint["secret"])
    payloads = [verifier.verify(r.body, r.headers) for r in received]
    assert sorted(p["type"] for p in payloads) == sorted(
        ["resource.created", "resource.updated", "resource.deleted"]
    )
    by_type = {p["type"]: p for p in payloads}
    updated = by_type["resource.updated"]
    assert updated["data"]["resourceExternalId"] == "c-1"
    assert updated["data"]["changes"]["firstName"]["to"] == "Ada"
    assert updated["timestamp"] == updated["data"]["occurredAt"]
    assert {r.headers["webhook-id"] for r in received} == {p["data"]["id"] for p in payloads}
    assert all(b"c-x" not in r.body for r in received)
    assert len(receiver.requests) == 3, [orjson.loads(r.body)["type"] for r in receiver.requests]


def test_partner_level_events_reach_a_partner_wide_endpoint(
    api: Harness, partner: PartnerKey
) -> None:
    with receiving() as receiver:
        endpoint = create_endpoint(
            api, partner, receiver.url, events=["tenant.created", "schema_definition.created"]
        )
        tenant = api.new_tenant(partner)
        schema = {
            "name": "hookthings",
            "pluralName": "hookthingses",
            "category": "custom_schema",
            "externalIdField": "thingId",
            "schema": {"type": "object", "properties": {"thingId": {"type": "string"}}},
        }
        made = api.client.post(
            "/partner/schema-definitions", json=schema, headers=api.partner_headers(partner)
        )
        assert made.status_code == 200, made.text
        received = receiver.wait_for(2)
    verifier = standardwebhooks.Webhook(endpoint["secret"])
    kinds = {verifier.verify(r.body, r.headers)["type"] for r in received}
    assert kinds == {"tenant.created", "schema_definition.created"}
    assert tenant.encode() in b"".join(r.body for r in received)
