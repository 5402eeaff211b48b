"""``POST /api/segments/text-to-segment``: the documented phrasings, deterministically; a
helpful failure otherwise; and every answer's conditions make a valid segment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Harness, PartnerKey
from tests.segment_helpers import member_ids, new_segment, put_customer

PHRASINGS: list[tuple[str, list[dict[str, Any]]]] = [
    ("customers named Ada", [{"field": "firstName", "operator": "equals", "value": ["Ada"]}]),
    (
        "Users named Ada Lovelace",
        [
            {"field": "firstName", "operator": "equals", "value": ["Ada"]},
            {"field": "lastName", "operator": "equals", "value": ["Lovelace"]},
        ],
    ),
    ("customers without a phone", [{"field": "phone", "operator": "not_exists", "value": []}]),
    ("customers with an email", [{"field": "email", "operator": "exists", "value": []}]),
    (
        "customers whose createdAt is in March",
        [{"field": "createdAt", "operator": "between_month_day", "value": ["03-01", "03-31"]}],
    ),
    (
        "customers whose first name is Grace",
        [{"field": "firstName", "operator": "equals", "value": ["Grace"]}],
    ),
    (
        "customers who opted out of SMS",
        [{"field": "smsOptOut", "operator": "equals", "value": [True]}],
    ),
    (
        "customers created after 2024-01-31",
        [{"field": "createdAt", "operator": "greater_than", "value": ["2024-01-31T00:00:00Z"]}],
    ),
    (
        "emails ending in @example.com",
        [{"field": "email", "operator": "ends_with", "value": ["@example.com"]}],
    ),
]


def _ask(api: Harness, h: dict[str, str], text: str, **extra: Any) -> dict[str, Any]:
    response = api.client.post(
        "/api/segments/text-to-segment", json={"text": text, **extra}, headers=h
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    assert set(data) == {"success", "failureReason", "conditions", "title", "description"}
    return data


@pytest.mark.parametrize(("text", "conditions"), PHRASINGS)
def test_documented_phrasings(
    api: Harness, partner: PartnerKey, tenant: str, text: str, conditions: list[dict[str, Any]]
) -> None:
    h = api.tenant_headers(partner, tenant)
    data = _ask(api, h, text)
    assert data["success"] is True
    assert data["failureReason"] is None
    assert data["conditions"] == conditions
    assert data["title"]
    assert data["description"]
    new_segment(api, h, data["conditions"])  # what it answers is a valid segment


def test_the_answer_selects_the_right_customers(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    h = api.tenant_headers(partner, tenant)
    put_customer(api, h, "e1", email="one@example.com")
    put_customer(api, h, "e2", email="two@example.org")
    put_customer(api, h, "e3")
    data = _ask(api, h, "emails ending in @example.com")
    assert member_ids(api, h, new_segment(api, h, data["conditions"]))[0] == ["e1"]


def test_custom_verb_and_failures(api: Harness, partner: PartnerKey, tenant: str) -> None:
    h = api.tenant_headers(partner, tenant)
    assert _ask(api, h, "patients named Ada", userCustomVerb="patient")["success"] is True
    vague = _ask(api, h, "my best customers")
    assert vague["success"] is False
    assert "Try one of" in vague["failureReason"]
    assert vague["conditions"] == []
    unknown = _ask(api, h, "customers whose shoe size is 42")
    assert unknown["success"] is False
    assert "shoeSize" in unknown["failureReason"]
    month = _ask(api, h, "customers whose createdAt is in Smarch")
    assert month["success"] is False
    assert "month" in month["failureReason"]
    bad = api.client.post("/api/segments/text-to-segment", json={"text": ""}, headers=h)
    assert bad.status_code == 400
