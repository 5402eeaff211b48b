"""``GET /partner/tenants``: cursor pages, ordering, search, and refusal of bad parameters."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from tests.harness import Harness, PartnerKey
from tests.test_tenants import _assert_400_naming, _get, _list, _listed, _made, _patch, _walk


def test_list_walks_every_page_without_duplicates_or_gaps(
    api: Harness, partner: PartnerKey
) -> None:
    made = {_made(api, partner)["id"] for _ in range(7)}
    first = _listed(api, partner, limit=3)
    assert len(first["results"]) == 3
    assert first["pagination"] == {
        "hasNextPage": True,
        "total": 7,
        "cursor": first["pagination"]["cursor"],
    }
    results, pages = _walk(api, partner, limit=3)
    ids = [t["id"] for t in results]
    assert pages == 3
    assert len(ids) == len(set(ids)) == 7
    assert set(ids) == made


def test_list_default_limit_returns_everything_small(api: Harness, partner: PartnerKey) -> None:
    for _ in range(3):
        _made(api, partner)
    data = _listed(api, partner)
    assert len(data["results"]) == 3
    assert data["pagination"] == {"hasNextPage": False, "total": 3, "cursor": None}


def _sort_key(order_by: str) -> Any:
    field = {"name": "name", "created_at": "createdAt", "updated_at": "updatedAt"}[order_by]
    return lambda t: (t[field], t["id"])


@pytest.mark.parametrize("direction", ["asc", "desc"])
@pytest.mark.parametrize("order_by", ["name", "created_at", "updated_at"])
def test_list_orders_by_field_and_direction_across_pages(
    api: Harness, partner: PartnerKey, order_by: str, direction: str
) -> None:
    # Repeated names force the id tie-breaker; lower-case ASCII sorts alike in every collation.
    names = ["delta", "alpha", "charlie", "alpha", "bravo", "delta", "echo"]
    made = [_made(api, partner, name=name) for name in names]
    for tenant in made[::2]:
        assert (
            _patch(api, partner, tenant["id"], {"website": "https://x.example"}).status_code == 200
        )
    current = [_get(api, partner, t["id"]).json()["data"] for t in made]
    expected = sorted(current, key=_sort_key(order_by), reverse=direction == "desc")

    results, _ = _walk(api, partner, limit=2, orderBy=order_by, orderDirection=direction)
    assert [t["id"] for t in results] == [t["id"] for t in expected]


def test_list_search_is_case_insensitive_over_name_external_id_and_website(
    api: Harness, partner: PartnerKey
) -> None:
    by_name = _made(api, partner, name="ACME Plumbing")
    by_external_id = _made(api, partner, external_id="acme-42")
    by_website = _made(api, partner, website="https://www.Acme.example")
    _made(api, partner, name="Unrelated")
    data = _listed(api, partner, search="aCmE")
    found = {t["id"] for t in data["results"]}
    assert found == {by_name["id"], by_external_id["id"], by_website["id"]}
    assert data["pagination"]["total"] == 3


@pytest.mark.parametrize(
    ("search", "expected"),
    [("%", {"100% off"}), ("_", {"a_b"}), ("a_b", {"a_b"}), ("0%", {"100% off"})],
)
def test_list_search_treats_wildcards_literally(
    api: Harness, partner: PartnerKey, search: str, expected: set[str]
) -> None:
    for name in ("100% off", "1000 off", "a_b", "axb", "plain"):
        _made(api, partner, name=name)
    data = _listed(api, partner, search=search)
    assert {t["name"] for t in data["results"]} == expected
    assert data["pagination"]["total"] == len(expected)


@pytest.mark.parametrize(
    "params",
    [
        {"orderBy": "website"},
        {"orderBy": "name; DROP TABLE tenants"},
        {"orderDirection": "sideways"},
        {"limit": "0"},
        {"limit": "5000"},
        {"limit": "-1"},
        {"limit": "ten"},
        {"includeDeleted": "maybe"},
    ],
)
def test_list_with_bad_parameter_is_400(
    api: Harness, partner: PartnerKey, params: dict[str, str]
) -> None:
    response = _list(api, partner, **params)
    _assert_400_naming(response, next(iter(params)))


def _forged(payload: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


@pytest.mark.parametrize(
    ("cursor", "params"),
    [
        ("!!not-base64!!", {}),
        ("bm90IGpzb24", {}),  # base64 of "not json"
        (_forged(["a", "b"]), {}),
        (_forged({"k": "resources", "v": ["x", "y"]}), {}),
        (_forged({"k": "tenants:created_at:asc", "v": ["x"]}), {}),
        (_forged({"k": "tenants:created_at:asc", "v": ["yesterday", "not-a-uuid"]}), {}),
        (
            _forged({"k": "tenants:updated_at:desc", "v": [1, 2]}),
            {"orderBy": "updated_at", "orderDirection": "desc"},
        ),
        (_forged({"k": "tenants:name:asc", "v": ["alpha", "not-a-uuid"]}), {"orderBy": "name"}),
    ],
    ids=[
        "not base64",
        "not json",
        "not an object",
        "another list's cursor",
        "wrong arity",
        "bad timestamp and id",
        "numbers",
        "bad id",
    ],
)
def test_list_with_forged_cursor_is_400(
    api: Harness, partner: PartnerKey, cursor: str, params: dict[str, str]
) -> None:
    _made(api, partner)
    _assert_400_naming(_list(api, partner, cursor=cursor, **params), "cursor")


def test_cursor_of_one_ordering_is_refused_by_another(api: Harness, partner: PartnerKey) -> None:
    for _ in range(3):
        _made(api, partner)
    cursor = _listed(api, partner, limit=1, orderBy="name")["pagination"]["cursor"]
    assert _list(api, partner, cursor=cursor, orderBy="name").status_code == 200
    _assert_400_naming(_list(api, partner, cursor=cursor, orderBy="created_at"), "cursor")
