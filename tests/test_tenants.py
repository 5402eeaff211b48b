"""``/partner/tenants`` (reach-api.md §5): create, read, update, soft-delete, isolation.

Listing (pages, order, search) is in ``test_tenant_listing``.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from reach.domain import tenants
from reach.errors import Conflict
from reach.storage.database import Connection
from tests.harness import Harness, PartnerKey

BASE = "/partner/tenants"


def _create(api: Harness, partner: PartnerKey, **body: Any) -> httpx.Response:
    payload: dict[str, Any] = {"external_id": f"t-{uuid.uuid4().hex[:8]}", "name": "A tenant"}
    payload["locations"] = []
    payload.update(body)
    return api.client.post(BASE, json=payload, headers=api.partner_headers(partner))


def _made(api: Harness, partner: PartnerKey, **body: Any) -> dict[str, Any]:
    response = _create(api, partner, **body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _get(api: Harness, partner: PartnerKey, key: str, **params: str) -> httpx.Response:
    return api.client.get(f"{BASE}/{key}", params=params, headers=api.partner_headers(partner))


def _patch(api: Harness, partner: PartnerKey, key: str, body: Any) -> httpx.Response:
    return api.client.patch(f"{BASE}/{key}", json=body, headers=api.partner_headers(partner))


def _delete(api: Harness, partner: PartnerKey, key: str) -> httpx.Response:
    return api.client.delete(f"{BASE}/{key}", headers=api.partner_headers(partner))


def _list(api: Harness, partner: PartnerKey, **params: Any) -> httpx.Response:
    return api.client.get(BASE, params=params, headers=api.partner_headers(partner))


def _listed(api: Harness, partner: PartnerKey, **params: Any) -> dict[str, Any]:
    response = _list(api, partner, **params)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _walk(api: Harness, partner: PartnerKey, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every page of a listing; returns the results in order and the number of pages."""
    results: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        data = _listed(api, partner, **params, **({"cursor": cursor} if cursor else {}))
        pages += 1
        results.extend(data["results"])
        pagination = data["pagination"]
        if not pagination["hasNextPage"]:
            assert pagination["cursor"] is None
            return results, pages
        cursor = pagination["cursor"]
        assert isinstance(cursor, str)
        assert cursor
        assert pages < 100


def _assert_400_naming(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert any(field in error for error in body["errors"]), body


# -- create


def test_create_returns_the_tenant_in_reach_shape(api: Harness, partner: PartnerKey) -> None:
    location = {"addressLine1": "1 Main St", "locality": "New York", "postalCode": "10001"}
    made = _made(
        api,
        partner,
        external_id="biz-1",
        name="Biz One",
        website="https://biz.example",
        locations=[location],
        smsOptInImageUrls=["https://img.example/1.png"],
    )
    assert made["externalId"] == "biz-1"
    assert made["name"] == "Biz One"
    assert made["website"] == "https://biz.example"
    assert made["locations"] == [location]
    assert made["smsOptInImageUrls"] == ["https://img.example/1.png"]
    assert made["dataIntegrationComplete"] is False
    assert made["deletedAt"] is None
    assert uuid.UUID(made["id"])
    assert made["createdAt"].endswith("Z")


def test_create_with_data_integration_timestamp_marks_it_complete(
    api: Harness, partner: PartnerKey
) -> None:
    made = _made(api, partner, dataIntegrationCompletedAt="2026-01-01T00:00:00Z")
    assert made["dataIntegrationComplete"] is True
    assert made["dataIntegrationCompletedAt"] == "2026-01-01T00:00:00Z"


def test_create_duplicate_external_id_is_409(api: Harness, partner: PartnerKey) -> None:
    _made(api, partner, external_id="dup")
    response = _create(api, partner, external_id="dup", name="Another")
    assert response.status_code == 409, response.text
    assert response.json()["success"] is False
    assert _listed(api, partner)["pagination"]["total"] == 1


@pytest.mark.parametrize("field", ["external_id", "name", "locations"])
def test_create_without_a_required_field_is_400_naming_it(
    api: Harness, partner: PartnerKey, field: str
) -> None:
    body = {"external_id": "x-1", "name": "X", "locations": []}
    del body[field]
    response = api.client.post(BASE, json=body, headers=api.partner_headers(partner))
    _assert_400_naming(response, field)
    assert _listed(api, partner)["pagination"]["total"] == 0


@pytest.mark.parametrize("field", ["colour", "externalId"])
def test_create_with_an_unknown_field_is_400_naming_it(
    api: Harness, partner: PartnerKey, field: str
) -> None:
    # Create takes snake_case external_id, so the camelCase spelling is unknown here.
    response = _create(api, partner, **{field: "x"})
    _assert_400_naming(response, field)
    assert _listed(api, partner)["pagination"]["total"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),
        ({"external_id": 7}, "external_id"),
        ({"locations": "Main St"}, "locations"),
        ({"locations": [{"postalCode": 10001}]}, "locations[0].postalCode"),
        ({"locations": [{"street": "Main"}]}, "street"),
        ({"website": ["a"]}, "website"),
        ({"smsOptInImageUrls": "https://x"}, "smsOptInImageUrls"),
        ({"uiDefaults": {"emailHelpDialogShow": "yes"}}, "uiDefaults.emailHelpDialogShow"),
        ({"dataIntegrationCompletedAt": "yesterday"}, "dataIntegrationCompletedAt"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
        ({"name": ""}, "name"),
        ({"name": "  "}, "name"),
    ],
)
def test_create_with_a_bad_value_is_400_naming_the_field(
    api: Harness, partner: PartnerKey, body: dict[str, Any], field: str
) -> None:
    _assert_400_naming(_create(api, partner, **body), field)
    assert _listed(api, partner)["pagination"]["total"] == 0


def test_create_body_must_be_an_object(api: Harness, partner: PartnerKey) -> None:
    response = api.client.post(BASE, json=[{"name": "x"}], headers=api.partner_headers(partner))
    assert response.status_code == 400, response.text


# -- read


def test_get_by_uuid_and_by_external_id(api: Harness, partner: PartnerKey) -> None:
    made = _made(api, partner, external_id="lookup-me")
    by_id = _get(api, partner, made["id"])
    by_external_id = _get(api, partner, "lookup-me")
    assert by_id.status_code == by_external_id.status_code == 200
    assert by_id.json()["data"] == by_external_id.json()["data"] == made


def test_get_unknown_tenant_is_404_envelope(api: Harness, partner: PartnerKey) -> None:
    for key in ("nope", str(uuid.uuid4())):
        response = _get(api, partner, key)
        assert response.status_code == 404, response.text
        body = response.json()
        assert body["success"] is False
        assert isinstance(body["data"]["error"], str)


# -- update


def test_patch_renames_external_id(api: Harness, partner: PartnerKey) -> None:
    made = _made(api, partner, external_id="old-name", name="Keep me")
    response = _patch(api, partner, "old-name", {"externalId": "new-name"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["externalId"] == "new-name"
    assert _get(api, partner, "old-name").status_code == 404
    renamed = _get(api, partner, "new-name")
    assert renamed.status_code == 200
    assert renamed.json()["data"]["id"] == made["id"]
    assert renamed.json()["data"]["name"] == "Keep me"


def test_patch_rename_onto_an_existing_external_id_is_409(
    api: Harness, partner: PartnerKey
) -> None:
    _made(api, partner, external_id="first")
    _made(api, partner, external_id="second")
    response = _patch(api, partner, "second", {"externalId": "first", "name": "Changed"})
    assert response.status_code == 409, response.text
    assert _get(api, partner, "second").json()["data"]["name"] == "A tenant"


def test_patch_changes_only_the_fields_given(api: Harness, partner: PartnerKey) -> None:
    made = _made(api, partner, website="https://old.example", name="Before")
    response = _patch(api, partner, made["id"], {"name": "After", "website": None})
    assert response.status_code == 200, response.text
    after = _get(api, partner, made["id"]).json()["data"]
    assert after["name"] == "After"
    assert after["website"] is None
    assert after["externalId"] == made["externalId"]
    assert after["updatedAt"] >= made["updatedAt"]
    assert after["createdAt"] == made["createdAt"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"externalId": None}, "externalId"),
        ({"externalId": ""}, "externalId"),
        ({"name": 3}, "name"),
        ({"external_id": "snake"}, "external_id"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_patch_with_a_bad_value_is_400_and_changes_nothing(
    api: Harness, partner: PartnerKey, body: dict[str, Any], field: str
) -> None:
    made = _made(api, partner)
    _assert_400_naming(_patch(api, partner, made["id"], body), field)
    assert _get(api, partner, made["id"]).json()["data"] == made


def test_patch_unknown_tenant_is_404(api: Harness, partner: PartnerKey) -> None:
    assert _patch(api, partner, "ghost", {"name": "x"}).status_code == 404


# -- delete


def test_delete_is_soft(api: Harness, partner: PartnerKey) -> None:
    made = _made(api, partner, external_id="doomed")
    response = _delete(api, partner, "doomed")
    assert response.status_code == 200, response.text
    assert response.json()["data"]["deletedAt"] is not None

    assert _get(api, partner, "doomed").status_code == 404
    assert _get(api, partner, made["id"]).status_code == 404
    kept = _get(api, partner, made["id"], includeDeleted="true")
    assert kept.status_code == 200
    assert kept.json()["data"]["deletedAt"] == response.json()["data"]["deletedAt"]

    assert _listed(api, partner)["pagination"]["total"] == 0
    listed = _listed(api, partner, includeDeleted="true")
    assert [t["id"] for t in listed["results"]] == [made["id"]]
    assert listed["pagination"]["total"] == 1

    assert _delete(api, partner, "doomed").status_code == 404
    assert _patch(api, partner, "doomed", {"name": "zombie"}).status_code == 404


def test_deleted_tenant_still_holds_its_external_id(api: Harness, partner: PartnerKey) -> None:
    # Decision: soft-deleted tenants keep their external id (they can be listed and read).
    _made(api, partner, external_id="reused")
    assert _delete(api, partner, "reused").status_code == 200
    assert _create(api, partner, external_id="reused").status_code == 409


# -- isolation


def test_another_partner_cannot_see_or_touch_a_tenant(api: Harness, partner: PartnerKey) -> None:
    victim = _made(api, partner, external_id="secret-biz", name="Secret Biz")
    intruder = api.new_partner()
    unknown = {key: _get(api, intruder, key).json() for key in ("no-such", str(uuid.uuid4()))}

    for key in (victim["id"], "secret-biz"):
        got = _get(api, intruder, key)
        assert got.status_code == 404
        assert got.json() == unknown["no-such"]
        assert _get(api, intruder, key, includeDeleted="true").status_code == 404
        assert _patch(api, intruder, key, {"name": "pwned"}).status_code == 404
        assert _delete(api, intruder, key).status_code == 404

    for params in ({}, {"includeDeleted": "true"}, {"search": "secret"}):
        listed = _listed(api, intruder, **params)
        assert listed["results"] == []
        assert listed["pagination"]["total"] == 0

    # A cursor names a position, not a partner: replayed by the intruder it still shows only
    # the intruder's own (here: no) tenants.
    _made(api, partner)
    cursor = _listed(api, partner, limit=1)["pagination"]["cursor"]
    assert _listed(api, intruder, cursor=cursor)["results"] == []

    assert _get(api, partner, "secret-biz").json()["data"] == victim


def test_external_ids_are_unique_per_partner_only(api: Harness, partner: PartnerKey) -> None:
    _made(api, partner, external_id="shared-id")
    other = api.new_partner()
    theirs = _made(api, other, external_id="shared-id")
    assert _get(api, other, "shared-id").json()["data"]["id"] == theirs["id"]
    assert _get(api, partner, "shared-id").json()["data"]["id"] != theirs["id"]


def test_concurrent_creates_of_one_external_id_yield_one_tenant_and_409s(
    api: Harness, partner: PartnerKey
) -> None:
    headers = api.partner_headers(partner)
    body = {"external_id": "racy", "name": "Racy", "locations": []}

    def attempt(_: int) -> int:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.post(BASE, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(attempt, range(16)))
    assert statuses == [200] + [409] * 15
    assert _listed(api, partner)["pagination"]["total"] == 1


def test_create_racing_an_uncommitted_create_is_a_conflict(
    api: Harness, partner: PartnerKey
) -> None:
    """The second writer passes the existence check, then meets the unique index: 409, not 500."""
    if api.engine != "postgresql":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE; there is no such race")

    async def create(conn: Connection) -> tenants.Tenant:
        return await tenants.create(
            conn, partner.id, external_id="raced", name="R", website=None, attributes={}
        )

    async def race() -> BaseException | None:
        async with api.db.transaction(write=True) as first:
            await create(first)

            async def second() -> None:
                async with api.db.transaction(write=True) as conn:
                    await create(conn)

            loser = asyncio.create_task(second())
            await asyncio.sleep(0.2)  # lets the loser block on the index (ordering, not timing)
        try:
            await loser
        except Exception as exc:
            return exc
        return None

    outcome = api.loop.run(race())
    assert isinstance(outcome, Conflict), repr(outcome)
    assert _listed(api, partner)["pagination"]["total"] == 1
