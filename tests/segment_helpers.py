"""Shared helpers for the segment tests: customers, segments, and reading membership."""

from __future__ import annotations

from typing import Any

from tests.harness import Harness


def put_customer(api: Harness, headers: dict[str, str], external_id: str, **fields: Any) -> None:
    data = {
        "customerId": external_id,
        "firstName": "First",
        "lastName": "Last",
        "createdAt": "2026-01-01T00:00:00Z",
        **fields,
    }
    response = api.client.post("/api/resources/customers", json={"data": data}, headers=headers)
    assert response.status_code == 200, response.text


def new_segment(
    api: Harness, headers: dict[str, str], conditions: list[dict[str, Any]], name: str = "s"
) -> str:
    body = {"name": name, "description": "d", "conditions": conditions, "type": "custom"}
    response = api.client.post("/api/segments", json=body, headers=headers)
    assert response.status_code == 200, response.text
    segment_id: str = response.json()["data"]["id"]
    return segment_id


def member_ids(
    api: Harness, headers: dict[str, str], segment_id: str, limit: int = 100
) -> tuple[list[str], int]:
    """Every member's external id, walking all pages; and the total, which every page gives
    the same (it counts the members of every page, not only those after the cursor)."""
    found: list[str] = []
    cursor: str | None = None
    total = -1
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = api.client.get(
            f"/api/segments/{segment_id}/members", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        if total < 0:
            total = data["pagination"]["total"]
        assert data["pagination"]["total"] == total, (cursor, data["pagination"])
        found += [r["resourceExternalId"] for r in data["results"]]
        cursor = data["pagination"]["cursor"]
        if not data["pagination"]["hasNextPage"]:
            assert cursor is None
            return found, total


def user_segment_ids(api: Harness, headers: dict[str, str], external_id: str) -> set[str]:
    response = api.client.get(f"/api/segments/user/{external_id}", headers=headers)
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()["data"]["segments"]}
