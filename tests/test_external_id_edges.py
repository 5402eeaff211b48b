"""External ids at the edges of the URL: control characters are refused when a record would
be created with one (single, legacy path and batch writes alike), and every id that is
stored — odd characters, and control characters stored before the rule — addresses exactly
its own record through GET, PATCH and DELETE. Also: PATCH without a body is a 400."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import orjson
import pytest

from reach import clock
from reach.domain import schemas
from reach.storage.database import Connection
from reach.storage.resources import TenantResources
from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey

RULE = "must not contain control characters"


def _url(external_id: str) -> str:
    return f"/api/resources/customers/{quote(external_id, safe='')}"


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> dict[str, str]:
    return api.tenant_headers(partner, tenant)


@pytest.mark.parametrize("external_id", ["line1\nline2", "tab\there", "trailing\n", "\x1b[31m"])
def test_a_record_is_never_created_with_a_control_character_in_its_id(
    api: Harness, headers: dict[str, str], external_id: str
) -> None:
    body = api.client.post(
        "/api/resources/customers", json={"data": customer(external_id)}, headers=headers
    )
    assert body.status_code == 400, body.text
    assert body.json()["errors"] == [
        f"data.customerId: {RULE} (U+0000-U+001F, U+007F-U+009F) in a new record's external id"
    ]
    legacy = api.client.post(
        _url(external_id), json={"data": customer(external_id)}, headers=headers
    )
    assert legacy.status_code == 400, legacy.text
    assert legacy.json()["errors"][0].startswith(f"externalId: {RULE}")
    assert api.client.get(_url(external_id), headers=headers).status_code == 404


def test_a_batch_item_with_a_control_character_in_its_id_fails_alone(
    api: Harness, headers: dict[str, str]
) -> None:
    accepted = api.client.post(
        "/api/resources/customers/batch",
        json={"resources": [customer("line1\nline2"), customer("fine-1")]},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["data"]["batchId"]
    done = wait_for_batch(api, headers, batch_id)
    assert done["status"] == "partial_success", done
    details = orjson.dumps(done["errors"]).decode()
    assert RULE in details, details
    assert "invalid" in details.lower(), details
    assert api.client.get(_url("fine-1"), headers=headers).status_code == 200
    assert api.client.get(_url("line1\nline2"), headers=headers).status_code == 404


def _store_directly(api: Harness, partner: PartnerKey, tenant: str, external_id: str) -> None:
    """A record stored before the rule existed: written through the storage layer, the only
    way left to make one."""
    listed = api.client.get(f"/partner/tenants/{tenant}", headers=api.partner_headers(partner))
    assert listed.status_code == 200, listed.text
    tenant_id = listed.json()["data"]["id"]

    async def work(conn: Connection) -> None:
        schema = await schemas.get(conn, partner.id, "customers")
        document = customer(external_id, emailOptOut=False, smsOptOut=True)
        rows = TenantResources(conn, tenant_id)
        stored = await rows.insert(
            clock.new_id(), schema.id, external_id, orjson.dumps(document).decode(), clock.now()
        )
        assert stored is not None

    api.transaction(work)


def _round_trip(api: Harness, headers: dict[str, str], external_id: str) -> None:
    url = _url(external_id)
    got = api.client.get(url, headers=headers)
    assert got.status_code == 200, (external_id, got.text)
    assert got.json()["data"]["result"]["resourceExternalId"] == external_id
    patched = api.client.patch(url, json={"data": {"phone": "555"}}, headers=headers)
    assert patched.status_code == 200, (external_id, patched.text)
    assert patched.json()["data"]["result"]["data"]["phone"] == "555"
    deleted = api.client.delete(url, headers=headers)
    assert deleted.status_code == 200, (external_id, deleted.text)
    assert api.client.get(url, headers=headers).status_code == 404


def test_ids_stored_before_the_rule_stay_addressable(
    api: Harness, partner: PartnerKey, tenant: str, headers: dict[str, str]
) -> None:
    for external_id in ("line1\nline2", "ends-with-lf\n", "cr\rlf\n", "tab\t"):
        _store_directly(api, partner, tenant, external_id)
        _round_trip(api, headers, external_id)


@pytest.mark.parametrize(
    "external_id", ["a/b", "a b", "50%", "a?b=c", "a#b", "ünï", "a\u2028b", " padded ", "+"]
)
def test_every_accepted_id_addresses_its_own_record(
    api: Harness, headers: dict[str, str], external_id: str
) -> None:
    created = api.client.post(
        "/api/resources/customers", json={"data": customer(external_id)}, headers=headers
    )
    assert created.status_code == 200, created.text
    _round_trip(api, headers, external_id)


def test_a_trailing_line_feed_never_reaches_the_record_without_it(
    api: Harness, headers: dict[str, str]
) -> None:
    created = api.client.post(
        "/api/resources/customers", json={"data": customer("abc")}, headers=headers
    )
    assert created.status_code == 200, created.text
    for url in (_url("abc\n"), _url("abc") + "%0A"):
        assert api.client.get(url, headers=headers).status_code == 404
        assert api.client.delete(url, headers=headers).status_code == 404
    assert api.client.get(_url("abc"), headers=headers).status_code == 200


@pytest.mark.parametrize("content_type", [None, "application/json"])
def test_patch_without_a_body_is_a_400_in_the_envelope(
    api: Harness, headers: dict[str, str], content_type: str | None
) -> None:
    created = api.client.post(
        "/api/resources/customers", json={"data": customer("nobody")}, headers=headers
    )
    assert created.status_code == 200, created.text
    sent: dict[str, Any] = dict(headers)
    if content_type:
        sent["Content-Type"] = content_type
    response = api.client.patch(_url("nobody"), headers=sent)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False
    assert response.json()["message"] == "Request body is empty; expected a JSON object"


def test_a_body_of_no_declared_type_or_another_type_is_still_a_415(
    api: Harness, headers: dict[str, str]
) -> None:
    for content_type in (None, "text/plain"):
        sent = dict(headers)
        if content_type:
            sent["Content-Type"] = content_type
        response = api.client.patch(_url("x"), content=b'{"data": {}}', headers=sent)
        assert response.status_code == 415, response.text
