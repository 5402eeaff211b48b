"""Odd time claims, the maximum token lifetime, and tokens bound to their tenant (issue 11, Low).

Every case is a validly signed token: only the claims are hostile or out of date.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from reach import clock
from reach.config import load_settings
from reach.domain import partners
from reach.errors import ConfigError
from reach.storage.database import Connection
from tests.contract.resources import create, customer
from tests.harness import Harness, PartnerKey
from tests.servers import extra_server

PROBE = "/api/resources/customers"
BIG = 10**400

ODD_TIME_CLAIMS: dict[str, dict[str, Any]] = {
    "exp 10**400": {"exp": BIG},
    "exp 10**400 as text": {"exp": str(BIG)},
    "exp 2**63": {"exp": 2**63},
    "exp 1e300": {"exp": 1e300},
    "exp Infinity": {"exp": float("inf")},
    "exp -Infinity": {"exp": float("-inf")},
    "exp NaN": {"exp": float("nan")},
    "exp negative": {"exp": -1},
    "exp true": {"exp": True},
    "exp as text": {"exp": str(int(time.time()) + 600)},
    "iat 10**400": {"iat": BIG},
    "iat NaN": {"iat": float("nan")},
    "iat as text": {"iat": str(int(time.time()))},
    "iat true": {"iat": True},
    "iat negative": {"iat": -5},
    "nbf 10**400": {"nbf": BIG},
    "nbf -Infinity": {"nbf": float("-inf")},
    "nbf as text": {"nbf": "0"},
    "nbf false": {"nbf": False},
}


def _claims(partner: PartnerKey, tenant: str | None, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"partnerId": partner.id, "iat": now, "exp": now + 600}
    if tenant is None:
        claims["type"] = "partner"
    else:
        claims["tenantExternalId"] = tenant
    claims["jti"] = uuid.uuid4().hex  # no verified-token cache hit
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _get(api: Harness, base: str, token: str, path: str = PROBE) -> httpx.Response:
    return httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _assert_401(response: httpx.Response, words: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.json()["success"] is False
    assert words in response.json()["message"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("case", list(ODD_TIME_CLAIMS))
@pytest.mark.parametrize("scope", ["tenant", "partner"])
def test_odd_time_claims_are_401_never_500(
    api: Harness, partner: PartnerKey, tenant: str, case: str, scope: str
) -> None:
    claims = _claims(partner, tenant if scope == "tenant" else None, **ODD_TIME_CLAIMS[case])
    path = PROBE if scope == "tenant" else "/partner/tenants"
    _assert_401(_get(api, api.base_url, api.sign(claims, partner.secret), path))


def test_fractional_time_claims_within_range_are_fine(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    now = time.time()
    claims = _claims(partner, tenant, iat=now - 0.5, nbf=now - 0.5, exp=now + 600.25)
    response = _get(api, api.base_url, api.sign(claims, partner.secret))
    assert response.status_code == 200, response.text


def test_max_token_lifetime(api: Harness, partner: PartnerKey, tenant: str) -> None:
    _backdate(api, tenant, partner, hours=2)
    now = int(time.time())
    sign = api.sign
    with extra_server(api, max_token_lifetime_seconds=3600) as base:
        too_long = _claims(partner, tenant, iat=now, exp=now + 7200)
        _assert_401(_get(api, base, sign(too_long, partner.secret)), "lifetime")
        partner_too_long = _claims(partner, None, iat=now, exp=now + 7200)
        _assert_401(_get(api, base, sign(partner_too_long, partner.secret), "/partner/tenants"))
        just_right = _claims(partner, tenant, iat=now, exp=now + 3600)
        assert _get(api, base, sign(just_right, partner.secret)).status_code == 200
        # Without iat, a token may expire at most the lifetime from now.
        far = _claims(partner, tenant, iat=None, exp=now + 7200)
        _assert_401(_get(api, base, sign(far, partner.secret)), "without iat")
        near = _claims(partner, tenant, iat=None, exp=now + 600)
        assert _get(api, base, sign(near, partner.secret)).status_code == 200
        # ... and counts as issued at the earliest the limit allows (exp - lifetime): for a
        # tenant created since then, it may have been minted for the external id's last holder.
        young = api.new_tenant(partner)
        young_near = _claims(partner, young, iat=None, exp=now + 600)
        _assert_401(_get(api, base, sign(young_near, partner.secret)), "issued before")
    # Off by default: the same long-lived token is accepted.
    assert _get(api, api.base_url, sign(too_long, partner.secret)).status_code == 200


def _backdate(api: Harness, external_id: str, partner: PartnerKey, hours: float) -> None:
    """Make a tenant look as if it was created ``hours`` ago (no route can do this)."""
    then = clock.format_timestamp(datetime.now(UTC) - timedelta(hours=hours))

    async def work(conn: Connection) -> None:
        await conn.execute(
            "UPDATE tenants SET created_at = $1, updated_at = $1 "
            "WHERE partner_id = $2 AND external_id = $3",
            then,
            partner.id,
            external_id,
        )

    api.transaction(work)


def _first_name(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    name: str = response.json()["data"]["result"]["data"]["firstName"]
    return name


def test_a_token_minted_before_its_external_id_was_given_to_another_tenant_is_refused(
    api: Harness, partner: PartnerKey
) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    record = f"{PROBE}/c-1"
    api.new_tenant(partner, name)
    _backdate(api, name, partner, hours=2)
    create(api, api.partner_headers(partner, name), "customers", customer("c-1", firstName="A"))
    # A token for A, minted ten minutes ago (after A was created): it works.
    minted = int(time.time()) - 600
    old = api.sign(_claims(partner, name, iat=minted, exp=minted + 3600), partner.secret)
    assert _first_name(_get(api, api.base_url, old, record)) == "A"
    # The partner renames A and gives A's old external id to a new tenant B.
    renamed = api.client.patch(
        f"/partner/tenants/{name}",
        json={"externalId": f"{name}-old"},
        headers=api.partner_headers(partner),
    )
    assert renamed.status_code == 200, renamed.text
    api.new_tenant(partner, name)
    create(api, api.partner_headers(partner, name), "customers", customer("c-1", firstName="B"))
    _assert_401(_get(api, api.base_url, old, record), "issued before")
    # A token minted before the rename, naming A's new external id, is refused too.
    renamed_old = api.sign(
        _claims(partner, f"{name}-old", iat=minted, exp=minted + 3600), partner.secret
    )
    _assert_401(_get(api, api.base_url, renamed_old, record), "issued before")
    # Tokens minted now name each tenant as it is now.
    assert _first_name(_get(api, api.base_url, api.tenant_token(partner, name), record)) == "B"
    fresh_a = api.tenant_token(partner, f"{name}-old")
    assert _first_name(_get(api, api.base_url, fresh_a, record)) == "A"


def test_renaming_nothing_but_the_name_keeps_tokens_valid(
    api: Harness, partner: PartnerKey
) -> None:
    name = f"t-{uuid.uuid4().hex[:8]}"
    api.new_tenant(partner, name)
    _backdate(api, name, partner, hours=2)
    minted = int(time.time()) - 600
    token = api.sign(_claims(partner, name, iat=minted, exp=minted + 3600), partner.secret)
    changed = api.client.patch(
        f"/partner/tenants/{name}", json={"name": "New name"}, headers=api.partner_headers(partner)
    )
    assert changed.status_code == 200, changed.text
    assert _get(api, api.base_url, token).status_code == 200


def test_with_both_caches_off_a_revoked_secret_stops_working_at_once(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    token = api.tenant_token(partner, tenant)
    caches_off = {"token_cache_seconds": 0, "lookup_cache_seconds": 0}
    with extra_server(api, **caches_off) as base, extra_server(api) as cached:
        assert _get(api, base, token).status_code == 200
        assert _get(api, cached, token).status_code == 200
        # Two rotations (in another process) revoke the secret the token was signed with.
        api.transaction(lambda conn: partners.rotate_secret(conn, api.box, partner.id))
        api.transaction(lambda conn: partners.rotate_secret(conn, api.box, partner.id))
        _assert_401(_get(api, base, token), "signature")
        if api.engine == "sqlite":
            # With the defaults the verified token is reused: the window docs/security.md states.
            assert _get(api, cached, token).status_code == 200
        else:
            # On PostgreSQL the rotation's notification makes every node drop the partner's
            # verified tokens as well: the window closes as soon as it is heard.
            deadline = time.monotonic() + 1.0
            while _get(api, cached, token).status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            _assert_401(_get(api, cached, token), "signature")


@pytest.mark.parametrize("name", ["REACH_MAX_TOKEN_LIFETIME_SECONDS", "REACH_TOKEN_CACHE_SECONDS"])
def test_negative_token_settings_are_refused_at_start(name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings(env={name: "-1"})
