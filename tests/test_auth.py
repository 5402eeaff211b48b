"""Authentication and tenancy (DESIGN.md "Authentication and tenancy"), over real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from reach.domain import partners
from reach.secretbox import SecretBox
from tests.harness import Harness, PartnerKey

PROBE = "/api/resources/customers"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hs256_with_header(header: dict[str, Any], claims: dict[str, Any], secret: str) -> str:
    """A token signed with HMAC-SHA256 whatever its header claims (algorithm confusion)."""
    signing_input = f"{_b64(orjson.dumps(header))}.{_b64(orjson.dumps(claims))}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _tenant_claims(partner: PartnerKey, tenant: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "partnerId": partner.id,
        "tenantExternalId": tenant,
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,  # every token distinct, so no verified-token cache hit
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _partner_claims(partner: PartnerKey, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "partnerId": partner.id,
        "type": "partner",
        "iat": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(changes)
    return claims


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _tampered(api: Harness, partner: PartnerKey, tenant: str) -> dict[str, str]:
    genuine = api.sign(_tenant_claims(partner, tenant), partner.secret)
    header, _, signature = genuine.split(".")
    forged = _b64(orjson.dumps(_tenant_claims(partner, "someone-else")))
    return _bearer(f"{header}.{forged}.{signature}")


def _oversized(api: Harness, partner: PartnerKey, tenant: str) -> dict[str, str]:
    padding = "x" * (api.settings.max_token_bytes + 1)
    return _bearer(api.sign(_tenant_claims(partner, tenant, pad=padding), partner.secret))


Attack = Callable[[Harness, PartnerKey, str], dict[str, str]]

ATTACKS: dict[str, Attack] = {
    "alg none": lambda api, p, t: _bearer(api.sign(_tenant_claims(p, t), "", "none")),
    "HS512": lambda api, p, t: _bearer(api.sign(_tenant_claims(p, t), p.secret, "HS512")),
    "RS256 header over an HMAC signature": lambda api, p, t: _bearer(
        _hs256_with_header({"alg": "RS256", "typ": "JWT"}, _tenant_claims(p, t), p.secret)
    ),
    "wrong secret": lambda api, p, t: _bearer(
        api.sign(_tenant_claims(p, t), "not-the-partner-secret-at-all-0123456789")
    ),
    "expired beyond leeway": lambda api, p, t: _bearer(
        api.sign(
            _tenant_claims(p, t, exp=int(time.time()) - api.settings.jwt_leeway_seconds - 60),
            p.secret,
        )
    ),
    "no exp": lambda api, p, t: _bearer(api.sign(_tenant_claims(p, t, exp=None), p.secret)),
    "unknown partnerId": lambda api, p, t: _bearer(
        api.sign(_tenant_claims(p, t, partnerId=str(uuid.uuid4())), p.secret)
    ),
    "no partnerId": lambda api, p, t: _bearer(
        api.sign(_tenant_claims(p, t, partnerId=None), p.secret)
    ),
    "neither partner nor tenant token": lambda api, p, t: _bearer(
        api.sign(_tenant_claims(p, t, tenantExternalId=None), p.secret)
    ),
    "tampered payload": _tampered,
    "garbage token": lambda api, p, t: _bearer("this-is.not-a.jwt"),
    "single segment": lambda api, p, t: _bearer("garbage"),
    "missing header": lambda api, p, t: {},
    "empty bearer": lambda api, p, t: {"Authorization": "Bearer"},
    "Basic scheme": lambda api, p, t: {"Authorization": "Basic dXNlcjpwYXNz"},
    "Token scheme": lambda api, p, t: {"Authorization": f"Token {api.tenant_token(p, t)}"},
    "over-size token": _oversized,
}


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_bad_token_is_refused_with_401_envelope(
    api: Harness, partner: PartnerKey, tenant: str, attack: str
) -> None:
    response = api.client.get(PROBE, headers=ATTACKS[attack](api, partner, tenant))
    assert response.status_code == 401, response.text
    body = response.json()
    assert body["success"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "detail" not in body
    assert response.headers["www-authenticate"].lower().startswith("bearer")


def test_token_expired_within_leeway_is_accepted(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    assert api.settings.jwt_leeway_seconds >= 10
    claims = _tenant_claims(partner, tenant, exp=int(time.time()) - 5)
    response = api.client.get(PROBE, headers=_bearer(api.sign(claims, partner.secret)))
    assert response.status_code == 200, response.text


def test_tenant_token_acts_for_its_tenant(api: Harness, partner: PartnerKey, tenant: str) -> None:
    response = api.client.get(PROBE, headers=api.tenant_headers(partner, tenant))
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True


def test_tenant_token_needs_only_tenant_external_id_and_partner_id(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    now = int(time.time())
    claims = {"partnerId": partner.id, "tenantExternalId": tenant, "exp": now + 60}
    response = api.client.get(PROBE, headers=_bearer(api.sign(claims, partner.secret)))
    assert response.status_code == 200, response.text


def test_partner_id_claim_is_case_insensitive(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    claims = _tenant_claims(partner, tenant, partnerId=partner.id.upper())
    response = api.client.get(PROBE, headers=_bearer(api.sign(claims, partner.secret)))
    assert response.status_code == 200, response.text


def test_numeric_tenant_external_id_claim_names_the_tenant_with_that_text(
    api: Harness, partner: PartnerKey
) -> None:
    api.new_tenant(partner, "12345")
    claims = _tenant_claims(partner, "ignored", tenantExternalId=12345)
    response = api.client.get(PROBE, headers=_bearer(api.sign(claims, partner.secret)))
    assert response.status_code == 200, response.text


def test_partner_token_works_on_partner_routes(api: Harness, partner: PartnerKey) -> None:
    response = api.client.get("/partner/tenants", headers=api.partner_headers(partner))
    assert response.status_code == 200, response.text


def test_tenant_token_on_partner_route_is_403(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    response = api.client.get("/partner/tenants", headers=api.tenant_headers(partner, tenant))
    assert response.status_code == 403, response.text
    assert response.json()["success"] is False


def _rotate(api: Harness, partner: PartnerKey) -> str:
    return api.transaction(lambda conn: partners.rotate_secret(conn, api.box, partner.id)).secret


def _status_with_secret(api: Harness, partner: PartnerKey, secret: str) -> int:
    token = api.sign(_partner_claims(partner), secret)
    return api.client.get("/partner/tenants", headers=_bearer(token)).status_code


def test_secret_rotation_keeps_previous_secret_valid_until_next_rotation(
    api: Harness, partner: PartnerKey
) -> None:
    first = partner.secret
    second = _rotate(api, partner)
    assert second != first
    assert _status_with_secret(api, partner, first) == 200
    assert _status_with_secret(api, partner, second) == 200

    third = _rotate(api, partner)
    assert _status_with_secret(api, partner, third) == 200
    assert _status_with_secret(api, partner, second) == 200
    assert _status_with_secret(api, partner, first) == 401


def test_rotations_in_quick_succession_keep_the_two_newest(
    api: Harness, partner: PartnerKey
) -> None:
    # Rotations inside one millisecond share a timestamp; the newest must still win.
    made = api.transaction(lambda conn: _rotate_many(conn, api.box, partner.id, 3))
    assert [_status_with_secret(api, partner, s) for s in made] == [401, 200, 200]
    assert _status_with_secret(api, partner, partner.secret) == 401


async def _rotate_many(conn: Any, box: SecretBox, partner_id: str, times: int) -> list[str]:
    return [(await partners.rotate_secret(conn, box, partner_id)).secret for _ in range(times)]


def _tenant_id(api: Harness, partner: PartnerKey, external_id: str) -> str:
    response = api.client.get(
        f"/partner/tenants/{external_id}", headers=api.partner_headers(partner)
    )
    assert response.status_code == 200, response.text
    tenant_id: str = response.json()["data"]["id"]
    return tenant_id


def test_partner_token_on_api_route_requires_tenant_header(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    response = api.client.get(PROBE, headers=api.partner_headers(partner))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["success"] is False
    assert any("reach-tenant-id" in error for error in body["errors"])


@pytest.mark.parametrize("header", ["reach-tenant-id", "X-Tenant-Id"])
@pytest.mark.parametrize("key", ["uuid", "external id", "upper-case uuid"])
def test_partner_token_acts_for_the_named_tenant(
    api: Harness, partner: PartnerKey, tenant: str, header: str, key: str
) -> None:
    tenant_id = _tenant_id(api, partner, tenant)
    value = {"uuid": tenant_id, "external id": tenant, "upper-case uuid": tenant_id.upper()}[key]
    headers = {**api.partner_headers(partner), header: value}
    response = api.client.get(PROBE, headers=headers)
    assert response.status_code == 200, response.text


def test_another_partners_tenant_is_indistinguishable_from_a_missing_one(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    intruder = api.new_partner()
    tenant_id = _tenant_id(api, partner, tenant)
    missing = api.client.get(PROBE, headers=api.partner_headers(intruder, str(uuid.uuid4())))
    assert missing.status_code == 404, missing.text
    for key in (tenant_id, tenant):
        response = api.client.get(PROBE, headers=api.partner_headers(intruder, key))
        assert response.status_code == 404, response.text
        assert response.json() == missing.json()


def test_tenant_token_of_another_partner_for_same_external_id_is_refused(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    intruder = api.new_partner()
    # The intruder signs a token naming the victim's tenant with its own secret.
    token = api.sign(_tenant_claims(intruder, tenant), intruder.secret)
    response = api.client.get(PROBE, headers=_bearer(token))
    assert response.status_code == 404, response.text


def test_tenant_token_naming_another_tenant_in_header_is_403(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    other = api.new_tenant(partner)
    for value in (other, _tenant_id(api, partner, other)):
        headers = {**api.tenant_headers(partner, tenant), "reach-tenant-id": value}
        response = api.client.get(PROBE, headers=headers)
        assert response.status_code == 403, response.text


def test_tenant_token_naming_its_own_tenant_in_header_is_accepted(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    tenant_id = _tenant_id(api, partner, tenant)
    for value in (tenant, tenant_id, tenant_id.upper()):
        headers = {**api.tenant_headers(partner, tenant), "reach-tenant-id": value}
        response = api.client.get(PROBE, headers=headers)
        assert response.status_code == 200, response.text


def test_tenant_token_for_unknown_tenant_is_404(api: Harness, partner: PartnerKey) -> None:
    response = api.client.get(PROBE, headers=api.tenant_headers(partner, "never-created"))
    assert response.status_code == 404, response.text


def test_deleted_tenant_cannot_be_acted_for(api: Harness, partner: PartnerKey, tenant: str) -> None:
    tenant_id = _tenant_id(api, partner, tenant)
    # Warm every lookup first so a stale cache would show.
    assert api.client.get(PROBE, headers=api.tenant_headers(partner, tenant)).status_code == 200
    keys = (tenant, tenant_id, tenant_id.upper())
    for key in keys:
        assert api.client.get(PROBE, headers=api.partner_headers(partner, key)).status_code == 200
    deleted = api.client.delete(f"/partner/tenants/{tenant}", headers=api.partner_headers(partner))
    assert deleted.status_code == 200, deleted.text

    attempts: list[httpx.Response] = [
        api.client.get(PROBE, headers=api.tenant_headers(partner, tenant)),
        *(api.client.get(PROBE, headers=api.partner_headers(partner, key)) for key in keys),
    ]
    assert [r.status_code for r in attempts] == [404, 404, 404, 404]
