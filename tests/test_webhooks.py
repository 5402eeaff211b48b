"""``/partner/webhooks``: endpoints, secrets shown once, rotation, validation (issue 14)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reach.domain.webhooks import EVENT_TYPES
from tests.harness import Harness, PartnerKey
from tests.servers import extra_server
from tests.webhook_helpers import create_endpoint

BASE = "/partner/webhooks"


def test_create_shows_the_secret_once_and_the_endpoint_reads_back(
    api: Harness, partner: PartnerKey
) -> None:
    tenant = api.new_tenant(partner)
    made = create_endpoint(
        api,
        partner,
        "https://hooks.example.com/reach",
        events=["resource.created", "tenant.deleted"],
        tenants=[tenant],
        schemas=["customers"],
        description="CRM sync",
    )
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"), validate=True)) >= 24
    assert made["enabled"] is True
    assert made["events"] == ["resource.created", "tenant.deleted"]
    assert len(made["tenants"]) == 1
    assert made["tenants"][0] != tenant  # stored as the id
    headers = api.partner_headers(partner)
    got = api.client.get(f"{BASE}/{made['id']}", headers=headers).json()["data"]
    assert "secret" not in got
    assert {k: v for k, v in made.items() if k != "secret"} == got
    listed = api.client.get(BASE, headers=headers).json()["data"]
    assert [e["id"] for e in listed["results"]] == [made["id"]]
    assert listed["pagination"]["total"] == 1
    assert made["secret"] not in api.client.get(BASE, headers=headers).text


def test_update_and_delete(api: Harness, partner: PartnerKey) -> None:
    made = create_endpoint(api, partner, "https://hooks.example.com/a")
    headers = api.partner_headers(partner)
    changed = api.client.patch(
        f"{BASE}/{made['id']}",
        json={
            "url": "https://hooks.example.com/b",
            "events": ["batch.completed"],
            "enabled": False,
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    data = changed.json()["data"]
    assert data["url"] == "https://hooks.example.com/b"
    assert data["events"] == ["batch.completed"]
    assert data["enabled"] is False
    assert data["disabledReason"] == "Disabled by the partner"
    again = api.client.patch(
        f"{BASE}/{made['id']}", json={"enabled": True, "events": None}, headers=headers
    ).json()["data"]
    assert again["enabled"] is True
    assert again["disabledReason"] is None
    assert again["events"] is None
    assert api.client.delete(f"{BASE}/{made['id']}", headers=headers).status_code == 200
    assert api.client.get(f"{BASE}/{made['id']}", headers=headers).status_code == 404
    assert api.client.delete(f"{BASE}/{made['id']}", headers=headers).status_code == 404


def test_rotation_returns_a_new_secret_and_when_the_old_one_stops(
    api: Harness, partner: PartnerKey
) -> None:
    made = create_endpoint(api, partner, "https://hooks.example.com/r")
    rotated = api.client.post(
        f"{BASE}/{made['id']}/rotate-secret", headers=api.partner_headers(partner)
    )
    assert rotated.status_code == 200, rotated.text
    data = rotated.json()["data"]
    assert data["secret"].startswith("whsec_")
    assert data["secret"] != made["secret"]
    assert data["previousSecretExpiresAt"] > data["updatedAt"]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "url: required"),
        ({"url": 5}, "url: expected string"),
        ({"url": "ftp://example.com/x"}, "url: must be an http"),
        ({"url": "https://"}, "url: has no host"),
        ({"url": "https://u:p@example.com/"}, "credentials"),
        ({"url": "https://example.com:99999/"}, "url: not a URL"),
        ({"url": "https://example.com/", "events": ["resource.exploded"]}, "unknown event type"),
        ({"url": "https://example.com/", "events": []}, "events: empty list"),
        ({"url": "https://example.com/", "tenants": ["nobody"]}, "tenants[0]: no tenant"),
        ({"url": "https://example.com/", "schemas": ["nothing"]}, "schemas[0]: no schema"),
        ({"url": "https://example.com/", "secret": "mine"}, "secret: unknown field"),
        ({"url": "https://example.com/", "description": 3}, "description: expected"),
        (["https://example.com/"], "body: expected object"),
    ],
)
def test_bad_endpoints_are_400_naming_the_problem(
    api: Harness, partner: PartnerKey, body: Any, problem: str
) -> None:
    response = api.client.post(BASE, json=body, headers=api.partner_headers(partner))
    assert response.status_code == 400, response.text
    assert any(problem in e for e in response.json()["errors"]), response.json()


def test_a_literal_private_address_is_refused_when_private_addresses_are_off(
    api: Harness, partner: PartnerKey
) -> None:
    with extra_server(api, webhook_allow_private=False) as base:
        import httpx

        for url in (
            "http://127.0.0.1:8080/x",
            "http://10.1.2.3/x",
            "http://[::1]/x",
            "http://[::ffff:192.168.0.1]/x",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/x",
            "http://localhost:9000/x",
        ):
            response = httpx.post(
                f"{base}{BASE}", json={"url": url}, headers=api.partner_headers(partner)
            )
            assert response.status_code == 400, (url, response.text)


def test_tenant_tokens_cannot_manage_webhooks(api: Harness, partner: PartnerKey) -> None:
    tenant = api.new_tenant(partner)
    response = api.client.post(
        BASE, json={"url": "https://example.com/"}, headers=api.tenant_headers(partner, tenant)
    )
    assert response.status_code == 403


def test_every_event_type_is_accepted(api: Harness, partner: PartnerKey) -> None:
    made = create_endpoint(api, partner, "https://example.com/all", events=list(EVENT_TYPES))
    assert made["events"] == list(EVENT_TYPES)


def test_deliveries_of_an_unknown_endpoint_are_404(api: Harness, partner: PartnerKey) -> None:
    headers = api.partner_headers(partner)
    assert api.client.get(f"{BASE}/nope/deliveries", headers=headers).status_code == 404
    made = create_endpoint(api, partner, "https://example.com/d")
    bad = api.client.get(f"{BASE}/{made['id']}/deliveries?status=lost", headers=headers)
    assert bad.status_code == 400
    retry = api.client.post(f"{BASE}/{made['id']}/deliveries/nope/retry", headers=headers)
    assert retry.status_code == 404
