"""Conditional requests (RFC 9110): ETag on every single-record response, If-Match on
writes (412 and nothing changes on a mismatch), If-None-Match: * as an atomic create-only,
If-None-Match on GET answering 304."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.contract.resources import create_customer, create_schema, customer, read, unique, url
from tests.harness import Harness, PartnerKey
from tests.openapi_support import fetch_document, operation
from tests.test_concurrency import in_parallel

ETAG = re.compile(r'^"(\d+)-([0-9a-f-]{36})"$')
CLIENTS = 16


def _tag(response: httpx.Response) -> str:
    tag: str | None = response.headers.get("etag")
    assert tag is not None, (response.status_code, response.headers)
    assert ETAG.match(tag), tag
    return tag


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    body = response.json()
    assert body["success"] is False, body
    assert body["message"], body


def test_every_single_record_response_carries_a_strong_etag_of_its_version(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    key, other = unique("c"), unique("c")
    created = api.client.post(url("customers"), json={"data": customer(key)}, headers=headers)
    first = _tag(created)
    record_id = created.json()["data"]["id"]
    assert first == f'"1-{record_id}"'
    assert _tag(api.client.get(url("customers", key), headers=headers)) == first
    # An unchanged PATCH writes nothing: same version, same tag.
    same = api.client.patch(
        url("customers", key), json={"data": {"firstName": "Ada"}}, headers=headers
    )
    assert _tag(same) == first
    patched = api.client.patch(
        url("customers", key), json={"data": {"firstName": "Grace"}}, headers=headers
    )
    assert _tag(patched) == f'"2-{record_id}"'
    upserted = api.client.post(
        url("customers"), json={"data": customer(key, firstName="Edith")}, headers=headers
    )
    assert _tag(upserted) == f'"3-{record_id}"'
    legacy = api.client.post(
        url("customers", key), json={"data": {"lastName": "Clarke"}}, headers=headers
    )
    assert _tag(legacy) == f'"4-{record_id}"'
    # Two records never share a tag, even at the same version.
    second = api.client.post(url("customers"), json={"data": customer(other)}, headers=headers)
    assert _tag(second) != first
    assert _tag(second).startswith('"1-')
    deleted = api.client.delete(url("customers", key), headers=headers)
    assert deleted.status_code == 200
    assert _tag(deleted) == f'"4-{record_id}"'
    # Created again under the same external id: a new record, a tag never seen before.
    again = api.client.post(url("customers"), json={"data": customer(key)}, headers=headers)
    assert _tag(again).startswith('"1-')
    assert _tag(again) != first


def test_if_match_on_patch_upsert_and_delete(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    key = unique("c")
    tag = _tag(api.client.post(url("customers"), json={"data": customer(key)}, headers=headers))
    stale = tag.replace('"1-', '"9-')
    weak = f"W/{tag}"

    def patch(if_match: str, name: str) -> httpx.Response:
        return api.client.patch(
            url("customers", key),
            json={"data": {"firstName": name}},
            headers={**headers, "If-Match": if_match},
        )

    for refused in (stale, weak, '"nope"', f'"1-{unique()}"'):
        _refused(patch(refused, "Wrong"))
    assert read(api, headers, "customers", key)["data"]["firstName"] == "Ada"
    # A list that holds the current tag matches; so does *.
    tag = _tag(patch(f"{stale}, {tag}", "Grace"))
    assert tag.startswith('"2-')
    tag = _tag(patch("*", "Edith"))
    assert tag.startswith('"3-')

    # Upsert (both POST forms): a stale tag changes nothing, the current one writes.
    body = {"data": customer(key, firstName="Upserted")}
    _refused(api.client.post(url("customers"), json=body, headers={**headers, "If-Match": stale}))
    _refused(
        api.client.post(
            url("customers", key),
            json={"data": {"firstName": "Legacy"}},
            headers={**headers, "If-Match": stale},
        )
    )
    assert read(api, headers, "customers", key)["data"]["firstName"] == "Edith"
    upserted = api.client.post(url("customers"), json=body, headers={**headers, "If-Match": tag})
    assert upserted.status_code == 200, upserted.text
    tag = _tag(upserted)
    # If-Match on a record that does not exist: an upsert must not create it.
    missing = unique("c")
    _refused(
        api.client.post(
            url("customers"),
            json={"data": customer(missing)},
            headers={**headers, "If-Match": "*"},
        )
    )
    assert api.client.get(url("customers", missing), headers=headers).status_code == 404
    # PATCH and DELETE of a missing record stay 404, with or without a condition.
    gone = api.client.patch(
        url("customers", missing), json={"data": {}}, headers={**headers, "If-Match": "*"}
    )
    assert gone.status_code == 404

    # DELETE: a stale tag keeps the record, the current one deletes it.
    _refused(api.client.delete(url("customers", key), headers={**headers, "If-Match": stale}))
    assert read(api, headers, "customers", key)["data"]["firstName"] == "Upserted"
    deleted = api.client.delete(url("customers", key), headers={**headers, "If-Match": tag})
    assert deleted.status_code == 200, deleted.text
    assert api.client.get(url("customers", key), headers=headers).status_code == 404


def test_if_none_match_star_creates_only(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = {**api.tenant_headers(partner, tenant), "If-None-Match": "*"}
    key = unique("c")
    created = api.client.post(url("customers"), json={"data": customer(key)}, headers=headers)
    assert created.status_code == 200, created.text
    assert created.json()["message"] == "Resource created"
    again = api.client.post(
        url("customers"), json={"data": customer(key, firstName="Twice")}, headers=headers
    )
    _refused(again)
    _refused(
        api.client.post(url("customers", key), json={"data": {"firstName": "X"}}, headers=headers)
    )
    stored = read(api, api.tenant_headers(partner, tenant), "customers", key)
    assert stored["data"]["firstName"] == "Ada"
    assert stored["updatedAt"] == created.json()["data"]["updatedAt"]


def test_concurrent_create_only_lands_once(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = {**api.tenant_headers(partner, tenant), "If-None-Match": "*"}
    key = unique("c")

    def create(client: httpx.Client, index: int) -> int:
        body = {"data": customer(key, firstName=f"n{index}")}
        return client.post(url("customers"), json=body, headers=headers).status_code

    statuses = in_parallel(api, CLIENTS, create)
    assert sorted(statuses) == [200] + [412] * (CLIENTS - 1), statuses


def test_if_none_match_on_get_answers_304_while_current(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    key = unique("c")
    tag = _tag(api.client.post(url("customers"), json={"data": customer(key)}, headers=headers))
    for condition in (tag, f"W/{tag}", f'"0-x", {tag}', "*"):
        unchanged = api.client.get(
            url("customers", key), headers={**headers, "If-None-Match": condition}
        )
        assert unchanged.status_code == 304, (condition, unchanged.text)
        assert unchanged.content == b""
        assert unchanged.headers["etag"] == tag
    api.client.patch(url("customers", key), json={"data": {"firstName": "New"}}, headers=headers)
    changed = api.client.get(url("customers", key), headers={**headers, "If-None-Match": tag})
    assert changed.status_code == 200
    assert changed.json()["data"]["result"]["data"]["firstName"] == "New"
    assert _tag(changed) != tag


def test_include_is_never_answered_304(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    target, owner = unique("t"), unique("o")
    create_schema(
        api,
        partner,
        {
            "name": target,
            "externalIdField": "key",
            "schema": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    )
    create_schema(
        api,
        partner,
        {
            "name": owner,
            "externalIdField": "key",
            "schema": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "ref": {"$ref": f"reach:schemas/{target}"},
                },
            },
        },
    )
    api.client.post(url(target), json={"data": {"key": "t1"}}, headers=headers)
    made = api.client.post(url(owner), json={"data": {"key": "o1", "ref": "t1"}}, headers=headers)
    tag = _tag(made)
    got = api.client.get(
        url(owner, "o1"), params={"include": "ref"}, headers={**headers, "If-None-Match": tag}
    )
    assert got.status_code == 200, got.text
    assert [r["resourceExternalId"] for r in got.json()["data"]["included"]] == ["t1"]


def test_malformed_conditions_are_400(api: Harness, partner: PartnerKey, tenant: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    key = unique("c")
    create_customer(api, headers, key)
    for bad in ("no-quotes", '"a" "b"', '"unterminated', ","):
        response = api.client.patch(
            url("customers", key), json={"data": {}}, headers={**headers, "If-Match": bad}
        )
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["errors"], response.text


def test_read_modify_write_with_if_match_loses_no_update(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    """16 clients read a counter and write it back plus one with If-Match: every 200 was
    applied, every other answer is 412, and the final count is the number of 200s."""
    headers = api.tenant_headers(partner, tenant)
    name = unique("counter")
    create_schema(
        api,
        partner,
        {
            "name": name,
            "externalIdField": "key",
            "schema": {
                "type": "object",
                "properties": {"key": {"type": "string"}, "count": {"type": "integer"}},
                "required": ["key", "count"],
            },
        },
    )
    made = api.client.post(url(name), json={"data": {"key": "k", "count": 0}}, headers=headers)
    assert made.status_code == 200, made.text

    def bump(client: httpx.Client, index: int) -> list[int]:
        statuses: list[int] = []
        for _ in range(5):
            got = client.get(url(name, "k"), headers=headers)
            count: Any = got.json()["data"]["result"]["data"]["count"]
            written = client.patch(
                url(name, "k"),
                json={"data": {"count": count + 1}},
                headers={**headers, "If-Match": got.headers["etag"]},
            )
            statuses.append(written.status_code)
        return statuses

    statuses = [s for run in in_parallel(api, CLIENTS, bump) for s in run]
    assert set(statuses) <= {200, 412}, statuses
    wins = statuses.count(200)
    assert wins >= 1
    final = api.client.get(url(name, "k"), headers=headers)
    assert final.json()["data"]["result"]["data"]["count"] == wins
    assert _tag(final).startswith(f'"{wins + 1}-')


def test_the_served_openapi_documents_the_conditions(api: Harness) -> None:
    document = fetch_document(api)
    for path in ("/api/resources/{schemaDefinitionNameOrId}", "/api/resources/customers"):
        item = f"{path}/{{externalId}}"
        expected = {
            (path, "post"): ({"If-Match", "If-None-Match"}, "412"),
            (item, "post"): ({"If-Match", "If-None-Match"}, "412"),
            (item, "patch"): ({"If-Match"}, "412"),
            (item, "delete"): ({"If-Match"}, "412"),
            (item, "get"): ({"If-None-Match"}, "304"),
        }
        for (where, method), (headers, status) in expected.items():
            found = operation(document, where, method)
            sent = {p["name"] for p in found["parameters"] if p.get("in") == "header"}
            assert headers <= sent, (where, method, sent)
            assert status in found["responses"], (where, method)
            assert "ETag" in found["responses"]["200"]["headers"], (where, method)
