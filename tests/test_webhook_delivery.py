"""Webhook delivery through the real worker to a real receiver: retried until a 2xx, signed
so the Standard Webhooks reference verifier accepts it, filtered, held for disabled
endpoints, and never sent to a forbidden address (issue 14)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import standardwebhooks

from reach import clock
from reach.webhooks import addresses, sender, signing
from reach.webhooks.addresses import Refused, refusal
from tests.harness import Harness, PartnerKey
from tests.webhook_helpers import (
    Event,
    create_endpoint,
    deliveries,
    fan_out,
    wait_for_status,
)
from tests.webhook_receiver import receiving


def test_a_500_is_retried_and_the_204_ends_it_signed_for_the_reference_verifier(
    api: Harness, partner: PartnerKey
) -> None:
    with receiving(lambda n: (500, 0.0) if n == 0 else (204, 0.0)) as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        event = Event(partner.id, "tenant.updated", body={"id": "t-1", "name": "Renamed"})
        assert fan_out(api, event) == 1
        first, second = receiver.wait_for(2)
        done = wait_for_status(api, partner, endpoint["id"], "succeeded")
    assert done["attempts"] == 2
    assert done["lastStatusCode"] == 204
    assert done["eventId"] == event.id
    assert done["nextAttemptAt"] is None
    verifier = standardwebhooks.Webhook(endpoint["secret"])
    for request in (first, second):
        payload = verifier.verify(request.body, request.headers)
        assert payload == {
            "type": "tenant.updated",
            "timestamp": event.occurred_at,
            "data": event.body,
        }
        assert request.headers["webhook-id"] == event.id  # the same on every attempt
        assert request.headers["content-type"] == "application/json"
    assert first.body == second.body
    tampered = second.body.replace(b"Renamed", b"Renamer")
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        verifier.verify(tampered, second.headers)


def test_a_failed_attempt_keeps_at_most_1_kb_of_the_answer(
    api: Harness, partner: PartnerKey
) -> None:
    with receiving(lambda n: (500, 0.0) if n == 0 else (204, 0.0)) as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        fan_out(api, Event(partner.id))
        receiver.wait_for(1)
        deadline = time.monotonic() + 10
        found = deliveries(api, partner, endpoint["id"])
        while found[0]["lastStatusCode"] is None and time.monotonic() < deadline:
            time.sleep(0.02)
            found = deliveries(api, partner, endpoint["id"])
        wait_for_status(api, partner, endpoint["id"], "succeeded")
    first = found[0]
    assert first["lastStatusCode"] in (500, 204)
    if first["lastStatusCode"] == 500:
        assert first["lastError"] == "HTTP 500"
        assert first["lastResponseBody"] == "x" * 1024


def test_during_a_rotation_both_secrets_sign(api: Harness, partner: PartnerKey) -> None:
    with receiving() as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        rotated = api.client.post(
            f"/partner/webhooks/{endpoint['id']}/rotate-secret",
            headers=api.partner_headers(partner),
        ).json()["data"]
        fan_out(api, Event(partner.id))
        (request,) = receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (rotated["secret"], endpoint["secret"]):
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def test_filters_pick_the_endpoints_an_event_goes_to(api: Harness, partner: PartnerKey) -> None:
    one, two = api.new_tenant(partner), api.new_tenant(partner)
    headers = api.partner_headers(partner)
    ids = {
        key: api.client.get(f"/partner/tenants/{key}", headers=headers).json()["data"]["id"]
        for key in (one, two)
    }
    customers = api.client.get("/partner/schema-definitions/customers", headers=headers)
    customers_id = customers.json()["data"]["id"]
    url = "http://127.0.0.1:9/never"  # disabled below: nothing is sent
    every = create_endpoint(api, partner, url)
    created_only = create_endpoint(api, partner, url, events=["resource.created"])
    tenant_one = create_endpoint(api, partner, url, tenants=[one])
    customers_only = create_endpoint(api, partner, url, schemas=["customers"])
    for made in (every, created_only, tenant_one, customers_only):
        api.client.patch(
            f"/partner/webhooks/{made['id']}", json={"enabled": False}, headers=headers
        )
        api.transaction(
            lambda conn, made=made: conn.execute(
                "UPDATE webhook_endpoints SET enabled = true WHERE id = $1", made["id"]
            )
        )
    other = api.new_partner()
    events = {
        "created-one-customers": Event(
            partner.id, "resource.created", ids[one], {"schemaDefinitionId": customers_id}
        ),
        "updated-two-customers": Event(
            partner.id, "resource.updated", ids[two], {"schemaDefinitionId": customers_id}
        ),
        "created-two-other": Event(
            partner.id,
            "resource.created",
            ids[two],
            {"schemaDefinitionId": "00000000-0000-0000-0000-000000000000"},
        ),
        "tenant-one": Event(partner.id, "tenant.updated", ids[one], {"id": ids[one]}),
        "other-partner": Event(other.id, "resource.created", None, {}),
    }
    fan_out(api, *events.values())

    def got(endpoint: dict[str, object]) -> set[str]:
        found = {d["eventId"] for d in deliveries(api, partner, str(endpoint["id"]))}
        return {name for name, e in events.items() if e.id in found}

    assert got(every) == set(events) - {"other-partner"}
    assert got(created_only) == {"created-one-customers", "created-two-other"}
    assert got(tenant_one) == {"created-one-customers", "tenant-one"}
    assert got(customers_only) == {"created-one-customers", "updated-two-customers", "tenant-one"}
    # Fanning the same events out again (a dispatcher that died before moving its cursor
    # cannot, but the outbox would not care): no second delivery.
    fan_out(api, *events.values())
    assert len(deliveries(api, partner, str(every["id"]))) == 4


def test_a_disabled_endpoint_gets_nothing_until_enabled(api: Harness, partner: PartnerKey) -> None:
    with receiving() as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        headers = api.partner_headers(partner)
        fan_out(api, Event(partner.id))
        receiver.wait_for(1)
        api.client.patch(
            f"/partner/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
        )
        assert fan_out(api, Event(partner.id)) == 0  # not queued for a disabled endpoint
        time.sleep(0.5)
        assert len(receiver.requests) == 1
        api.client.patch(
            f"/partner/webhooks/{endpoint['id']}", json={"enabled": True}, headers=headers
        )
        fan_out(api, Event(partner.id))
        receiver.wait_for(2)


def test_an_endpoint_failing_for_days_is_disabled_and_says_why(
    api: Harness, partner: PartnerKey
) -> None:
    with receiving(lambda n: (503, 0.0)) as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        long_ago = clock.format_timestamp(datetime.now(UTC) - timedelta(days=6))
        api.transaction(
            lambda conn: conn.execute(
                "UPDATE webhook_endpoints SET failing_since = $2 WHERE id = $1",
                endpoint["id"],
                long_ago,
            )
        )
        fan_out(api, Event(partner.id))
        receiver.wait_for(1)
        headers = api.partner_headers(partner)
        deadline = time.monotonic() + 10
        got = api.client.get(f"/partner/webhooks/{endpoint['id']}", headers=headers).json()["data"]
        while got["enabled"] and time.monotonic() < deadline:
            time.sleep(0.05)
            got = api.client.get(f"/partner/webhooks/{endpoint['id']}", headers=headers).json()[
                "data"
            ]
        assert got["enabled"] is False
        assert "every delivery attempt has failed since" in got["disabledReason"]
        count = len(receiver.requests)
        time.sleep(1.0)  # retries would come every few tenths of a second
        assert len(receiver.requests) == count


def test_a_redirect_is_a_failure_and_is_not_followed(api: Harness, partner: PartnerKey) -> None:
    with receiving(lambda n: (302, 0.0) if n == 0 else (200, 0.0)) as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        fan_out(api, Event(partner.id))
        receiver.wait_for(2)
        done = wait_for_status(api, partner, endpoint["id"], "succeeded")
    assert done["attempts"] == 2
    assert all(r.path == "/hook" for r in receiver.requests)


def test_a_failed_delivery_is_retried_by_hand(api: Harness, partner: PartnerKey) -> None:
    with receiving() as receiver:
        endpoint = create_endpoint(api, partner, receiver.url)
        fan_out(api, Event(partner.id))
        receiver.wait_for(1)
        done = wait_for_status(api, partner, endpoint["id"], "succeeded")
        headers = api.partner_headers(partner)
        again = api.client.post(
            f"/partner/webhooks/{endpoint['id']}/deliveries/{done['id']}/retry", headers=headers
        )
        assert again.status_code == 200, again.text
        assert again.json()["data"]["status"] == "pending"
        receiver.wait_for(2)
        assert wait_for_status(api, partner, endpoint["id"], "succeeded")["attempts"] == 2


def test_deliveries_page_newest_first_and_filter_by_status(
    api: Harness, partner: PartnerKey
) -> None:
    endpoint = create_endpoint(api, partner, "http://127.0.0.1:9/never")
    headers = api.partner_headers(partner)
    api.client.patch(
        f"/partner/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
    )
    api.transaction(
        lambda conn: conn.execute(
            "UPDATE webhook_endpoints SET enabled = true WHERE id = $1", endpoint["id"]
        )
    )
    events = [Event(partner.id) for _ in range(5)]
    fan_out(api, *events)
    api.client.patch(
        f"/partner/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
    )
    base = f"/partner/webhooks/{endpoint['id']}/deliveries"
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2&status=pending" + (f"&cursor={cursor}" if cursor else "")
        page = api.client.get(base + query, headers=headers).json()["data"]
        seen += [d["eventId"] for d in page["results"]]
        cursor = page["pagination"]["cursor"]
        if not page["pagination"]["hasNextPage"]:
            break
    assert seen == [e.id for e in reversed(events)]
    assert (
        api.client.get(base + "?status=succeeded", headers=headers).json()["data"]["results"] == []
    )


# -- the address rule, at send time


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address refused, never bound
        "224.0.0.1",
        "100.64.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_pass(address: str) -> None:
    import ipaddress

    assert refusal(ipaddress.ip_address(address)) is None


def test_a_name_that_resolves_to_loopback_is_refused_at_send_time_and_nothing_connects() -> None:
    with receiving() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]

        async def go() -> sender.Result:
            async with sender.new_client(4) as client:
                return await sender.attempt(
                    client,
                    f"http://localhost:{port}/hook",
                    [signing.key_of(signing.new_secret())],
                    "msg_1",
                    b"{}",
                    within=5,
                    allow_private=False,
                )

        result = asyncio.run(go())
        assert not result.ok
        assert result.error is not None
        assert "refused" in result.error
        assert "127.0.0.1" in result.error
        time.sleep(0.2)
        assert receiver.requests == []

        with pytest.raises(Refused):
            asyncio.run(addresses.resolve("localhost", int(port), allow_private=False))
        assert asyncio.run(addresses.resolve("localhost", int(port), allow_private=True))


def test_the_request_goes_to_the_address_checked_with_the_url_host_kept() -> None:
    with receiving() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]

        async def go() -> sender.Result:
            async with sender.new_client(4) as client:
                return await sender.attempt(
                    client,
                    f"http://localhost:{port}/hook",
                    [signing.key_of(signing.new_secret())],
                    "msg_2",
                    orjson.dumps({"a": 1}),
                    within=5,
                    allow_private=True,
                )

        assert asyncio.run(go()).ok
        (request,) = receiver.wait_for(1)
    assert request.headers["host"] == f"localhost:{port}"


def test_a_slow_answer_is_a_timeout() -> None:
    with receiving(lambda n: (204, 2.0)) as receiver:

        async def go() -> sender.Result:
            async with sender.new_client(4) as client:
                return await sender.attempt(
                    client,
                    receiver.url,
                    [signing.key_of(signing.new_secret())],
                    "m",
                    b"{}",
                    within=0.3,
                    allow_private=True,
                )

        result = asyncio.run(go())
    assert not result.ok
    assert result.error is not None
    assert "timed out" in result.error


def test_backoff_starts_within_ten_seconds_grows_and_gives_up_after_the_window() -> None:
    created = datetime.now(UTC)
    settings = {"first": 5.0, "cap": 6 * 3600.0, "give_up_after": timedelta(hours=72)}
    first = sender.next_attempt(1, created, created, **settings)  # type: ignore[arg-type]
    assert first is not None
    assert 2.5 <= (first - created).total_seconds() <= 5.0
    now, attempts, waits = created, 1, []
    while True:
        due = sender.next_attempt(attempts, now, created, **settings)  # type: ignore[arg-type]
        if due is None:
            break
        waits.append((due - now).total_seconds())
        now, attempts = due, attempts + 1
    assert max(waits) <= 6 * 3600
    assert waits[5] > waits[0]
    assert timedelta(hours=60) < now - created <= timedelta(hours=72)
    assert 15 <= attempts <= 40


def test_finished_deliveries_past_retention_are_pruned_by_the_worker(
    api: Harness, partner: PartnerKey
) -> None:
    import msgspec

    from reach.services import open_services
    from reach.webhooks.runner import WebhookWorker

    endpoint = create_endpoint(api, partner, "http://127.0.0.1:9/never")
    headers = api.partner_headers(partner)
    api.client.patch(
        f"/partner/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
    )
    api.transaction(
        lambda conn: conn.execute(
            "UPDATE webhook_endpoints SET enabled = true WHERE id = $1", endpoint["id"]
        )
    )
    old, recent, waiting = Event(partner.id), Event(partner.id), Event(partner.id)
    fan_out(api, old, recent, waiting)
    api.client.patch(
        f"/partner/webhooks/{endpoint['id']}", json={"enabled": False}, headers=headers
    )
    long_ago = clock.format_timestamp(datetime.now(UTC) - timedelta(days=40))
    for event, status, completed in (
        (old, "succeeded", long_ago),
        (recent, "failed", clock.now()),
        (waiting, "pending", None),
    ):
        api.transaction(
            lambda conn, e=event, s=status, c=completed: conn.execute(
                "UPDATE webhook_deliveries SET status = $2, completed_at = $3, created_at = $4 "
                "WHERE event_id = $1",
                e.id,
                s,
                c,
                long_ago,
            )
        )

    async def prune() -> int:
        settings = msgspec.structs.replace(api.settings, webhook_delivery_retention_days=30)
        services = await open_services(settings)
        try:
            return await WebhookWorker(services, name="test").prune_when_due()
        finally:
            await services.close()

    assert api.loop.run(prune()) >= 1
    left = {d["eventId"] for d in deliveries(api, partner, endpoint["id"])}
    assert left == {recent.id, waiting.id}
