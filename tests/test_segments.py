"""Segments: CRUD, members with pagination.total, a user's segments, always-current
membership, and 400s that name the problem — on both engines."""

from __future__ import annotations

from tests.harness import Harness, PartnerKey
from tests.segment_helpers import member_ids, new_segment, put_customer, user_segment_ids


def test_create_get_list_patch_delete(api: Harness, partner: PartnerKey, tenant: str) -> None:
    h = api.tenant_headers(partner, tenant)
    body = {
        "name": "Adas",
        "description": "named Ada",
        "conditions": [{"field": "firstName", "operator": "equals", "value": ["Ada"]}],
        "type": "one_off",
    }
    made = api.client.post("/api/segments", json=body, headers=h)
    assert made.status_code == 200, made.text
    data = made.json()["data"]
    assert {"id", "name", "description", "createdAt", "type"} <= set(data)
    assert (data["name"], data["type"], data["conditions"]) == (
        "Adas",
        "one_off",
        body["conditions"],
    )
    got = api.client.get(f"/api/segments/{data['id']}", headers=h).json()["data"]
    assert got == data
    for i in range(3):
        new_segment(api, h, [], name=f"all-{i}")
    page = api.client.get("/api/segments", params={"limit": 2}, headers=h).json()["data"]
    assert page["pagination"]["total"] == 4
    assert page["pagination"]["hasNextPage"]
    rest = api.client.get(
        "/api/segments", params={"cursor": page["pagination"]["cursor"]}, headers=h
    ).json()["data"]
    names = [s["name"] for s in page["results"] + rest["results"]]
    assert names == ["Adas", "all-0", "all-1", "all-2"]
    patched = api.client.patch(
        f"/api/segments/{data['id']}", json={"name": "Renamed"}, headers=h
    ).json()["data"]
    assert patched["name"] == "Renamed"
    assert patched["conditions"] == body["conditions"]
    deleted = api.client.delete(f"/api/segments/{data['id']}", headers=h)
    assert deleted.status_code == 200
    missing = api.client.get(f"/api/segments/{data['id']}", headers=h)
    assert missing.status_code == 404
    assert missing.json()["data"]["error"]
    assert api.client.get("/api/segments/not-a-uuid", headers=h).status_code == 404


def test_members_follow_every_write_at_once(api: Harness, partner: PartnerKey, tenant: str) -> None:
    h = api.tenant_headers(partner, tenant)
    for i in range(5):
        put_customer(api, h, f"c{i}", firstName="Ada" if i % 2 == 0 else "Bob")
    ada = new_segment(api, h, [{"field": "firstName", "operator": "equals", "value": ["Ada"]}])
    assert member_ids(api, h, ada, limit=2) == (["c0", "c2", "c4"], 3)
    assert user_segment_ids(api, h, "c1") == set()
    patched = api.client.patch(
        "/api/resources/customers/c1", json={"data": {"firstName": "Ada"}}, headers=h
    )
    assert patched.status_code == 200, patched.text
    assert member_ids(api, h, ada) == (["c0", "c1", "c2", "c4"], 4)
    assert user_segment_ids(api, h, "c1") == {ada}
    api.client.delete("/api/resources/customers/c0", headers=h)
    assert member_ids(api, h, ada) == (["c1", "c2", "c4"], 3)


def test_user_segments_lists_each_matching_segment(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    h = api.tenant_headers(partner, tenant)
    put_customer(api, h, "u1", email="u1@example.com", createdAt="2020-03-15T10:00:00Z")
    put_customer(api, h, "u2", createdAt="2021-12-31T23:30:00-02:00")  # 2022-01-01 in UTC
    has_email = new_segment(api, h, [{"field": "email", "operator": "exists", "value": []}])
    no_email = new_segment(api, h, [{"field": "email", "operator": "not_exists", "value": []}])
    march = new_segment(
        api,
        h,
        [{"field": "createdAt", "operator": "between_month_day", "value": ["03-01", "03-31"]}],
    )
    new_year = new_segment(
        api, h, [{"field": "createdAt", "operator": "equals_month_day", "value": ["01-01"]}]
    )
    winter = new_segment(
        api,
        h,
        [{"field": "createdAt", "operator": "between_month_day", "value": ["12-01", "01-31"]}],
    )
    assert user_segment_ids(api, h, "u1") == {has_email, march}
    assert user_segment_ids(api, h, "u2") == {no_email, new_year, winter}
    missing = api.client.get("/api/segments/user/nobody", headers=h)
    assert missing.status_code == 404


def test_bad_segments_get_400s_naming_the_problem(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    h = api.tenant_headers(partner, tenant)
    cases = [
        ({"conditions": []}, "name"),
        ({"name": "x"}, "conditions"),
        ({"name": "x", "conditions": [], "type": "sql"}, "type"),
        (
            {"name": "x", "conditions": [{"field": "nope", "operator": "exists"}]},
            "conditions[0].field",
        ),
        (
            {"name": "x", "conditions": [{"field": "email", "operator": "like", "value": []}]},
            "operator",
        ),
        (
            {"name": "x", "conditions": [{"field": "email", "operator": "equals", "value": []}]},
            "value",
        ),
        (
            {"name": "x", "conditions": [{"field": "email", "operator": "equals", "value": [{}]}]},
            "value[0]",
        ),
        (
            {
                "name": "x",
                "conditions": [
                    {"field": "createdAt", "operator": "greater_than", "value": ["soon"]}
                ],
            },
            "value[0]",
        ),
        (
            {
                "name": "x",
                "conditions": [
                    {"field": "createdAt", "operator": "equals_month_day", "value": ["02-30"]}
                ],
            },
            "value[0]",
        ),
        (
            {
                "name": "x",
                "conditions": [
                    {
                        "field": "createdAt",
                        "operator": "between_month_day_year",
                        "value": ["2024-02-01", "2024-01-01"],
                    }
                ],
            },
            "value",
        ),
        ({"name": "x", "conditions": "all"}, "conditions"),
        ({"name": "x", "conditions": [], "extra": 1}, "extra"),
    ]
    for body, where in cases:
        response = api.client.post("/api/segments", json=body, headers=h)
        assert response.status_code == 400, (body, response.text)
        assert any(where in e for e in response.json()["errors"]), (body, response.json())
    bad_cursor = api.client.get("/api/segments", params={"cursor": "garbage"}, headers=h)
    assert bad_cursor.status_code == 400


def test_conditions_resolve_through_the_mapping(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """userId is customerId under the default mapping; a new mapping re-points it."""
    h = api.tenant_headers(partner, tenant)
    put_customer(api, h, "m1", email="one@example.com")
    put_customer(api, h, "m2", email="two@example.com")
    by_id = new_segment(api, h, [{"field": "userId", "operator": "equals", "value": ["m1"]}])
    assert member_ids(api, h, by_id)[0] == ["m1"]
    ph = api.partner_headers(partner)
    mapping = api.client.get("/partner/schema-mappings", headers=ph).json()["data"]
    mapping["contactsSchema"]["primarySource"]["userId"] = "email"
    saved = api.client.post("/partner/schema-mappings", json=mapping, headers=ph)
    assert saved.status_code == 200, saved.text
    assert member_ids(api, h, by_id)[0] == []
    by_email = new_segment(
        api, h, [{"field": "userId", "operator": "equals", "value": ["two@example.com"]}]
    )
    assert member_ids(api, h, by_email)[0] == ["m2"]


def test_numbers_beyond_64_bits_are_evaluated_not_failed(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """The JSON decoder reads such integers as floats; both engines compare them."""
    h = api.tenant_headers(partner, tenant)
    put_customer(api, h, "n1")
    for value in (10**30, -(2**64), 1.5e300):
        for operator in ("equals", "greater_than", "array_contains"):
            condition = {"field": "firstName", "operator": operator, "value": [value]}
            segment = new_segment(api, h, [condition])
            assert member_ids(api, h, segment) == ([], 0)
            assert user_segment_ids(api, h, "n1") == set()
            api.client.delete(f"/api/segments/{segment}", headers=h)
