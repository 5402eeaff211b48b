"""Bearer JWT authentication: HS256 only, signed with one of the partner's active secrets.

Verification costs tens of microseconds, so verified tokens are cached until the sooner of
their ``exp`` and a short revalidation horizon (so a revoked secret stops working quickly).

A partner's secrets are cached too, but a rotation made by another process must take effect at
once for every token minted afterwards. So the cached secrets are re-read whenever a token
matches none of them (it may be signed with a new secret) or matches only an older one (that
secret may just have been revoked). Both cost one indexed query, and only for a token that is
not yet in the verified cache.

The time claims (``exp``, ``iat``, ``nbf``) must be JSON numbers of seconds between 0 and the
year 9999: anything else (a string, a boolean, 10**400, 1e400, NaN) is a 401, never an
arithmetic error. With ``max_lifetime`` set, a token may not live longer than that:
``exp - iat`` at most, and a token without ``iat`` at most that long from now (it is then taken
as issued at the earliest moment the limit allows, ``exp - max_lifetime``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import msgspec

from reach.cache import TTLCache
from reach.clock import is_uuid
from reach.errors import Unauthorized

SecretLoader = Callable[[str], Awaitable[list[str]]]

# 9999-12-31T23:59:59Z: past it a timestamp means nothing, and 10**400 would overflow a float.
_LATEST_SECONDS = 253_402_300_799
_TIME_CLAIMS = ("exp", "iat", "nbf")


class Principal(msgspec.Struct, frozen=True):
    """Who is calling. ``tenant_external_id`` is None for a partner-scoped token.

    ``issued_at`` (seconds) is the token's ``iat``, or, without one, the earliest moment the
    maximum token lifetime allows; None when neither is known. A tenant token is refused for a
    tenant bound to its external id after that moment (:mod:`reach.domain.tenants`).
    """

    partner_id: str
    tenant_external_id: str | None = None
    issued_at: float | None = None

    @property
    def is_partner(self) -> bool:
        return self.tenant_external_id is None


class TokenVerifier:
    def __init__(
        self,
        load_secrets: SecretLoader,
        *,
        leeway: int,
        max_token_bytes: int,
        cache_size: int,
        secret_ttl: float,
        max_lifetime: int = 0,
        revalidate_seconds: float = 60.0,
    ) -> None:
        self._load_secrets = load_secrets
        self._leeway = leeway
        self._max_lifetime = max_lifetime
        self._max_token_bytes = max_token_bytes
        # A revoked secret keeps working for tokens verified within this horizon (0 = none).
        self._revalidate = revalidate_seconds if cache_size > 0 else 0.0
        self._verified: TTLCache[str, Principal] = TTLCache(self._revalidate, max(1, cache_size))
        self._secrets: TTLCache[str, list[str]] = TTLCache(secret_ttl, 10_000)

    def forget_partner(self, partner_id: str) -> None:
        """The partner's secrets changed (a rotation here, or announced by another process):
        re-read them, and verify the partner's tokens again — one signed with a secret just
        revoked must stop working now, not when its verified-cache entry expires."""
        self._secrets.invalidate(partner_id)
        self._verified.drop_if(lambda _, principal: principal.partner_id == partner_id)

    def forget_all(self) -> None:
        """Rotations may have been missed (no notification arrived for a while)."""
        self._secrets.clear()
        self._verified.clear()

    async def verify(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization, self._max_token_bytes)
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        claims = await self._decode(token)
        issued_at = self._issued_at(claims)
        principal = _principal(claims, issued_at)
        remaining = float(claims["exp"]) + self._leeway - time.time()
        if self._revalidate > 0:
            self._verified.put(token, principal, ttl=min(self._revalidate, remaining))
        return principal

    def _issued_at(self, claims: dict[str, Any]) -> float | None:
        """``iat``, after the maximum lifetime (if any) has been enforced."""
        iat = claims.get("iat")
        if not self._max_lifetime:
            return None if iat is None else float(iat)
        exp = float(claims["exp"])
        if iat is None:
            if exp - time.time() > self._max_lifetime + self._leeway:
                raise Unauthorized(
                    f"Token without iat expires more than {self._max_lifetime} s from now"
                )
            return exp - self._max_lifetime
        if exp - float(iat) > self._max_lifetime:
            raise Unauthorized(f"Token lifetime (exp - iat) exceeds {self._max_lifetime} s")
        return float(iat)

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("Malformed bearer token") from None
        if header.get("alg") != "HS256":
            raise Unauthorized("Unsupported token algorithm; only HS256 is accepted")
        _check_time_claims(unverified)
        claimed = unverified.get("partnerId")
        if not isinstance(claimed, str) or not claimed:
            raise Unauthorized("Token has no partnerId claim")
        partner_id = _canonical_partner_id(claimed)
        secrets = self._secrets.get(partner_id)
        fresh = secrets is None
        if secrets is None:
            secrets = await self._reload_secrets(partner_id)
        matched = self._try_secrets(token, secrets)
        if not fresh and (matched is None or matched[0] > 0):
            matched = self._try_secrets(token, await self._reload_secrets(partner_id))
        if matched is None:
            raise Unauthorized("Invalid token signature")
        return matched[1]

    async def _reload_secrets(self, partner_id: str) -> list[str]:
        secrets = await self._load_secrets(partner_id)
        self._secrets.put(partner_id, secrets)
        return secrets

    def _try_secrets(self, token: str, secrets: list[str]) -> tuple[int, dict[str, Any]] | None:
        """The index of the secret (newest first) that signed ``token``, and its claims."""
        for index, secret in enumerate(secrets):
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    secret,
                    algorithms=["HS256"],
                    leeway=self._leeway,
                    options={"require": ["exp"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise Unauthorized("Token expired") from None
            except jwt.MissingRequiredClaimError:
                raise Unauthorized("Token has no exp claim") from None
            except jwt.PyJWTError as exc:
                raise Unauthorized(f"Invalid token: {exc}") from None
            return index, claims
        return None


def _check_time_claims(claims: dict[str, Any]) -> None:
    """Refuse time claims PyJWT would pass on as numbers no arithmetic can use."""
    for name in _TIME_CLAIMS:
        if name not in claims:
            continue
        value = claims[name]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            # Written so NaN fails too, and 10**400 is compared, never converted to a float.
            or not 0 <= value <= _LATEST_SECONDS
        ):
            raise Unauthorized(f"Invalid token: {name} must be a number of seconds since 1970")


def _bearer_token(authorization: str | None, max_bytes: int) -> str:
    if not authorization:
        raise Unauthorized("Missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    if len(token) > max_bytes:
        raise Unauthorized("Bearer token too large")
    return token


def _canonical_partner_id(claimed: str) -> str:
    """UUIDs are case-insensitive; stored ids are lower case (PostgreSQL's uuid type would
    match any case, SQLite's text would not, so both engines get the canonical form)."""
    return claimed.lower() if is_uuid(claimed) else claimed


def _principal(claims: dict[str, Any], issued_at: float | None) -> Principal:
    partner_id = _canonical_partner_id(str(claims["partnerId"]))
    if claims.get("type") == "partner":
        return Principal(partner_id=partner_id, issued_at=issued_at)
    tenant = claims.get("tenantExternalId")
    if isinstance(tenant, int) and not isinstance(tenant, bool):
        # Partners whose ids are numbers sign them as JSON numbers; external ids are text.
        tenant = str(tenant)
    if not isinstance(tenant, str) or not tenant:
        raise Unauthorized("Token is neither a partner token (type=partner) nor a tenant token")
    return Principal(partner_id=partner_id, tenant_external_id=tenant, issued_at=issued_at)


def mint_token(
    partner_id: str,
    secret: str,
    *,
    tenant_external_id: str | None = None,
    ttl: int = 3600,
    extra: dict[str, Any] | None = None,
) -> str:
    """Sign a token the way a partner would (used by the CLI and the demo)."""
    now = int(time.time())
    claims: dict[str, Any] = {"partnerId": partner_id, "iat": now, "exp": now + ttl}
    if tenant_external_id is None:
        claims["type"] = "partner"
    else:
        claims["tenantExternalId"] = tenant_external_id
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256")
