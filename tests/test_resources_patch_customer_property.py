"""Property: any body the contract's request schema allows gets a contract 200 from
``PATCH /api/resources/customers/{externalId}``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.contract.resources import (
    create_customer,
    read,
    url,
)
from tests.contract.validate import REQUEST_FILE, assert_contract, load
from tests.harness import Harness, PartnerKey
from tests.test_resources_patch_customer import patch

_OFFSETS = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]


def _rfc3339() -> st.SearchStrategy[str]:
    moments = st.datetimes(
        min_value=datetime(1, 1, 1),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(_OFFSETS),
    )
    return moments.map(lambda m: m.isoformat())


def _strategy_for(spec: dict[str, Any]) -> st.SearchStrategy[Any]:
    if spec["type"] == "boolean":
        return st.booleans()
    if spec.get("format") == "date-time":
        return _rfc3339()
    # U+0000 is refused by design (see test above); every other string must be accepted.
    return st.text(alphabet=st.characters(exclude_characters="\x00", codec="utf-8"))


def _patch_bodies(external_id: str) -> st.SearchStrategy[dict[str, Any]]:
    properties = load(REQUEST_FILE)["properties"]["data"]["properties"]
    optional = {
        name: st.just(external_id) if name == "customerId" else _strategy_for(spec)
        for name, spec in properties.items()
    }
    return st.fixed_dictionaries({}, optional=optional).map(lambda data: {"data": data})


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(body=_patch_bodies("prop-1"))
def test_any_contract_valid_patch_body_gets_a_contract_200(
    api: Harness, partner: PartnerKey, tenant: str, body: dict[str, Any]
) -> None:
    headers = api.tenant_headers(partner, tenant)
    if api.client.get(url("customers", "prop-1"), headers=headers).status_code == 404:
        create_customer(api, headers, "prop-1")

    result = assert_contract(patch(api, headers, "prop-1", body), 200)["data"]["result"]

    for field, value in body["data"].items():
        assert result["data"][field] == value, field
    assert read(api, headers, "customers", "prop-1")["data"] == result["data"]
