"""Every boolean query flag follows one rule (reach.flags): true/false in any letter case;
absent, empty or null in any letter case is the default (false); anything else is a 400
naming the flag. Each flag is driven through its route and its effect observed."""

from __future__ import annotations

from typing import Any

import pytest

from reach.errors import BadRequest
from reach.flags import parse_flag
from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey

TRUE = ["true", "TRUE", "True"]
FALSE = ["false", "FALSE", "fAlse"]
DEFAULT = ["", "null", "NULL", "Null"]
BAD = ["yes", "1", "0", "nil", "truee"]


def _refused(response: Any, name: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert body["errors"] == [f"{name}: expected true or false"]
    assert name in body["message"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(v, True) for v in (True, *TRUE)],
        *[(v, False) for v in (False, *FALSE)],
        *[(v, False) for v in (None, *DEFAULT)],
    ],
)
def test_the_rule(value: object, expected: bool) -> None:
    assert parse_flag(value, "flag") is expected
    if value is None or value in DEFAULT:
        assert parse_flag(value, "flag", default=True) is True


@pytest.mark.parametrize("value", [*BAD, 1, 0, 1.0, [], {}, "nulls"])
def test_anything_else_is_refused(value: object) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_flag(value, "flag")
    assert refused.value.errors == ["flag: expected true or false"]


@pytest.mark.parametrize("value", TRUE + FALSE + DEFAULT + BAD)
def test_ignore_unknown_fields_on_a_single_write(
    api: Harness, partner: PartnerKey, tenant: str, value: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    key = f"f-{abs(hash(value))}"
    response = api.client.post(
        f"/api/resources/customers?ignoreUnknownFields={value}",
        json={"data": customer(key, shoeSize=44)},
        headers=headers,
    )
    if value in BAD:
        _refused(response, "ignoreUnknownFields")
    elif value in TRUE:
        assert response.status_code == 200, response.text
        assert "shoeSize" not in response.json()["data"]["data"]
    else:
        assert response.status_code == 400, response.text
        assert any("shoeSize" in error for error in response.json()["errors"])


@pytest.mark.parametrize("value", ["TRUE", "NULL", "maybe"])
def test_ignore_unknown_fields_on_a_batch(
    api: Harness, partner: PartnerKey, tenant: str, value: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    response = api.client.post(
        f"/api/resources/customers/batch?ignoreUnknownFields={value}",
        json={"resources": [customer(f"b-{value}", shoeSize=44)]},
        headers=headers,
    )
    if value == "maybe":
        _refused(response, "ignoreUnknownFields")
        return
    assert response.status_code == 202, response.text
    batch = wait_for_batch(api, headers, response.json()["data"]["batchId"])
    assert batch["status"] == ("success" if value == "TRUE" else "failed"), batch


@pytest.mark.parametrize("value", ["True", "FALSE", "Null", "", "on"])
def test_include_pending_details(
    api: Harness, partner: PartnerKey, tenant: str, value: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    accepted = api.client.post(
        "/api/resources/customers/batch", json={"resources": [customer("p-1")]}, headers=headers
    )
    batch_id = accepted.json()["data"]["batchId"]
    wait_for_batch(api, headers, batch_id)
    response = api.client.get(
        f"/api/batches/{batch_id}?includePendingDetails={value}", headers=headers
    )
    if value == "on":
        _refused(response, "includePendingDetails")
        return
    assert response.status_code == 200, response.text
    assert ("pendingResources" in response.json()["data"]) is (value == "True")


@pytest.mark.parametrize("value", ["NULL", "False", "", "2"])
def test_cascade(api: Harness, partner: PartnerKey, tenant: str, value: str) -> None:
    headers = api.tenant_headers(partner, tenant)
    key = f"c-{abs(hash(value))}"
    made = api.client.post(
        "/api/resources/customers", json={"data": customer(key)}, headers=headers
    )
    assert made.status_code == 200, made.text
    response = api.client.delete(f"/api/resources/customers/{key}?cascade={value}", headers=headers)
    still = api.client.get(f"/api/resources/customers/{key}", headers=headers).status_code
    if value == "2":
        _refused(response, "cascade")
        assert still == 200  # nothing deleted
    else:
        assert response.status_code == 200, response.text
        assert still == 404


@pytest.mark.parametrize("value", ["TRUE", "false", "NULL", "", "deleted"])
def test_include_deleted(api: Harness, partner: PartnerKey, value: str) -> None:
    headers = api.partner_headers(partner)
    gone = api.new_tenant(partner)
    assert api.client.delete(f"/partner/tenants/{gone}", headers=headers).status_code == 200
    one = api.client.get(f"/partner/tenants/{gone}?includeDeleted={value}", headers=headers)
    listed = api.client.get(f"/partner/tenants?includeDeleted={value}", headers=headers)
    if value == "deleted":
        _refused(one, "includeDeleted")
        _refused(listed, "includeDeleted")
        return
    assert one.status_code == (200 if value == "TRUE" else 404), one.text
    assert listed.status_code == 200, listed.text
    external_ids = {t["externalId"] for t in listed.json()["data"]["results"]}
    assert (gone in external_ids) is (value == "TRUE")
