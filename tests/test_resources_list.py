"""``GET /api/resources/{schema}``: the cursor-paginated list and its equality filters."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.contract.resources import (
    create,
    create_customer,
    create_schema,
    errors_of,
    object_schema,
    url,
)
from tests.harness import Harness, PartnerKey

Headers = dict[str, str]


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def transaction(transaction_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "transactionId": transaction_id,
        "transactionDate": "2026-01-05T10:00:00Z",
        "transactionTotal": 12.5,
        **extra,
    }


def get_page(api: Harness, headers: Headers, schema: str, query: str = "") -> dict[str, Any]:
    response = api.client.get(url(schema) + query, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    page: dict[str, Any] = body["data"]
    return page


def walk(api: Harness, headers: Headers, schema: str, query: str) -> list[dict[str, Any]]:
    """Every page of a list, following cursors; checks the pagination envelope on the way."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        page = get_page(api, headers, schema, query + (f"&cursor={cursor}" if cursor else ""))
        seen.extend(page["results"])
        pagination = page["pagination"]
        assert set(pagination) == {"hasNextPage", "total", "cursor"}
        if not pagination["hasNextPage"]:
            assert pagination["cursor"] is None
            return seen
        cursor = pagination["cursor"]
        assert isinstance(cursor, str)
        assert cursor


def test_walking_every_page_sees_each_record_once(api: Harness, headers: Headers) -> None:
    ids = [f"c-{n:02d}" for n in range(23)]
    for cid in ids:
        create_customer(api, headers, cid)

    for limit in (1, 5, 7, 22, 23, 24):
        pages: list[int] = []
        seen: list[str] = []
        cursor: str | None = None
        while True:
            query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
            page = get_page(api, headers, "customers", query)
            assert page["pagination"]["total"] == 23
            pages.append(len(page["results"]))
            seen.extend(r["resourceExternalId"] for r in page["results"])
            if not page["pagination"]["hasNextPage"]:
                assert page["pagination"]["cursor"] is None
                break
            cursor = page["pagination"]["cursor"]
        assert seen == ids, limit
        assert all(size == limit for size in pages[:-1])
        assert 1 <= pages[-1] <= limit


def test_list_records_have_the_record_shape(api: Harness, headers: Headers) -> None:
    created = create_customer(api, headers, "c-1")
    assert get_page(api, headers, "customers")["results"] == [created]


def test_an_empty_list(api: Harness, headers: Headers) -> None:
    page = get_page(api, headers, "customers")
    assert page == {
        "results": [],
        "pagination": {"hasNextPage": False, "total": 0, "cursor": None},
    }


def test_limit_defaults_to_100_and_allows_up_to_1000(
    api: Harness, partner: PartnerKey, tenant: str, headers: Headers
) -> None:
    for n in range(101):
        create(api, headers, "locations", {"locationId": f"l-{n:03d}", "name": "x"})

    default = get_page(api, headers, "locations")
    assert len(default["results"]) == 100
    assert default["pagination"]["hasNextPage"] is True
    assert default["pagination"]["total"] == 101

    rest = get_page(api, headers, "locations", f"?cursor={default['pagination']['cursor']}")
    assert [r["resourceExternalId"] for r in rest["results"]] == ["l-100"]

    largest = get_page(api, headers, "locations", "?limit=1000")
    assert len(largest["results"]) == 101
    assert largest["pagination"]["hasNextPage"] is False


@pytest.mark.parametrize("limit", ["0", "1001", "abc", "-1", "1.5", "1e3"])
def test_a_bad_limit_is_400(api: Harness, headers: Headers, limit: str) -> None:
    response = api.client.get(url("customers") + f"?limit={limit}", headers=headers)
    assert response.status_code == 400
    assert errors_of(response)[0].startswith("limit:")


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_forged_cursor_is_400(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1")
    create_customer(api, headers, "c-2")
    real = get_page(api, headers, "customers", "?limit=1")["pagination"]["cursor"]
    locations_cursor = None
    for n in range(2):
        create(api, headers, "locations", {"locationId": f"l-{n}", "name": "x"})
    locations_cursor = get_page(api, headers, "locations", "?limit=1")["pagination"]["cursor"]
    kind = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4)))["k"]

    forged = [
        "not-a-cursor",
        "!!!",
        "%FF%FE",
        real[:-2],
        locations_cursor,
        _cursor({"k": kind, "v": ["abc"]}),
        _cursor({"k": kind, "v": [1, 2]}),
        _cursor({"k": kind, "v": [True]}),
        _cursor({"k": kind, "v": [2**70]}),
        _cursor({"k": kind, "v": [-(2**70)]}),
        _cursor({"k": kind, "v": [1.5]}),
        _cursor([1]),
    ]
    for cursor in forged:
        response = api.client.get(url("customers") + f"?cursor={cursor}", headers=headers)
        assert response.status_code == 400, (cursor, response.text)
        assert errors_of(response)[0].startswith("cursor:"), cursor


def test_filters_match_strings_booleans_and_numbers(api: Harness, headers: Headers) -> None:
    create_customer(api, headers, "c-1", email="a@example.com", emailOptOut=True)
    create_customer(api, headers, "c-2", email="b@example.com")
    create_customer(api, headers, "c-3", email="a@example.com")
    create(api, headers, "transactions", transaction("t-1", transactionTotal=10))
    create(api, headers, "transactions", transaction("t-2", transactionTotal=10.0))
    create(api, headers, "transactions", transaction("t-3", transactionTotal=12.5))

    def ids(schema: str, query: str) -> list[str]:
        return [r["resourceExternalId"] for r in walk(api, headers, schema, query)]

    assert ids("customers", "?filter[email]=a@example.com") == ["c-1", "c-3"]
    assert ids("customers", "?filter[emailOptOut]=true") == ["c-1"]
    assert ids("customers", "?filter[emailOptOut]=false") == ["c-2", "c-3"]
    assert ids("customers", "?filter[email]=a@example.com&filter[emailOptOut]=false") == ["c-3"]
    assert ids("customers", "?filter[email]=nobody") == []
    assert ids("customers", "?filter[customerId]=c-2") == ["c-2"]
    assert ids("transactions", "?filter[transactionTotal]=10") == ["t-1", "t-2"]
    assert ids("transactions", "?filter[transactionTotal]=10.0") == ["t-1", "t-2"]
    assert ids("transactions", "?filter[transactionTotal]=1e1") == ["t-1", "t-2"]
    assert ids("transactions", "?filter[transactionTotal]=12.5") == ["t-3"]
    page = get_page(api, headers, "customers", "?filter[email]=a@example.com&limit=1")
    assert page["pagination"]["total"] == 2
    assert page["pagination"]["hasNextPage"] is True


def test_a_string_filter_matches_exactly(api: Harness, headers: Headers) -> None:
    odd = 'Zoë "quoted" \\ back%slash'
    create_customer(api, headers, "c-1", firstName=odd)
    create_customer(api, headers, "c-2", firstName="Zoe")
    create_customer(api, headers, "c-3", firstName="true")
    create_customer(api, headers, "c-4", firstName="10")

    def ids(value: str) -> list[str]:
        response = api.client.get(
            url("customers"), params={"filter[firstName]": value}, headers=headers
        )
        assert response.status_code == 200, response.text
        return [r["resourceExternalId"] for r in response.json()["data"]["results"]]

    assert ids(odd) == ["c-1"]
    assert ids("true") == ["c-3"]
    assert ids("10") == ["c-4"]
    assert ids("zoe") == []


def test_filters_work_on_custom_integer_fields(
    api: Harness, partner: PartnerKey, headers: Headers
) -> None:
    create_schema(
        api,
        partner,
        {
            "name": "seat",
            "externalIdField": "seatId",
            "schema": object_schema({"seatId": {"type": "string"}, "row": {"type": "integer"}}),
        },
    )
    create(api, headers, "seat", {"seatId": "s-1", "row": 3})
    create(api, headers, "seat", {"seatId": "s-2", "row": 4})

    page = get_page(api, headers, "seat", "?filter[row]=3")
    assert [r["resourceExternalId"] for r in page["results"]] == ["s-1"]
    bad = api.client.get(url("seat") + "?filter[row]=3.5", headers=headers)
    assert bad.status_code == 400
    assert errors_of(bad) == ["filter[row]: expected an integer"]


@pytest.mark.parametrize(
    "query",
    [
        "?filter[nickname]=x",
        "?filter[emailOptOut]=yes",
        "?filter[emailOptOut]=1",
        "?filter[]=x",
        '?filter[a"b]=x',
        "?filter[data.email]=x",
        "?filter[email]=a&filter[email]=b",
    ],
)
def test_a_bad_customer_filter_is_400(api: Harness, headers: Headers, query: str) -> None:
    create_customer(api, headers, "c-1", email="a")
    response = api.client.get(url("customers") + query, headers=headers)
    assert response.status_code == 400, response.text
    assert errors_of(response)[0].startswith("filter["), errors_of(response)


@pytest.mark.parametrize(
    "query",
    [
        "?filter[transactionTotal]=abc",
        "?filter[transactionTotal]=1e999",
        "?filter[transactionTotal]=nan",
    ],
)
def test_a_bad_number_filter_is_400(api: Harness, headers: Headers, query: str) -> None:
    response = api.client.get(url("transactions") + query, headers=headers)
    assert response.status_code == 400, response.text
    assert errors_of(response)[0].startswith("filter[transactionTotal]:")


def test_a_list_stays_stable_while_records_are_inserted_between_pages(
    api: Harness, headers: Headers
) -> None:
    original = [f"c-{n:02d}" for n in range(12)]
    for cid in original:
        create_customer(api, headers, cid)

    seen: list[str] = []
    cursor: str | None = None
    inserted: list[str] = []
    while True:
        query = "?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = get_page(api, headers, "customers", query)
        seen.extend(r["resourceExternalId"] for r in page["results"])
        if not page["pagination"]["hasNextPage"]:
            break
        cursor = page["pagination"]["cursor"]
        # Inserts land after every existing key and before no unseen one.
        batch = [f"new-{len(inserted) + n}" for n in range(3)]
        for new_id in batch:
            create_customer(api, headers, new_id)
        inserted.extend(batch)

    assert len(seen) == len(set(seen)), seen
    assert seen[: len(original)] == original
    assert set(seen) <= set(original) | set(inserted)
    assert seen[len(original) :] == inserted[: len(seen) - len(original)]


def test_a_deleted_record_disappears_from_later_pages_without_skipping_others(
    api: Harness, headers: Headers
) -> None:
    for n in range(6):
        create_customer(api, headers, f"c-{n}")
    first = get_page(api, headers, "customers", "?limit=3")
    api.client.delete(url("customers", "c-2"), headers=headers)  # the page's last key
    api.client.delete(url("customers", "c-4"), headers=headers)

    rest = get_page(api, headers, "customers", f"?limit=3&cursor={first['pagination']['cursor']}")

    assert [r["resourceExternalId"] for r in rest["results"]] == ["c-3", "c-5"]
    assert rest["pagination"]["total"] == 4
