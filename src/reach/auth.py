"""Bearer JWT authentication: HS256 only, signed with one of the partner's active secrets.

Verification costs tens of microseconds, so verified tokens are cached until the sooner of
their ``exp`` and a short revalidation horizon (so a revoked secret stops working quickly).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import jwt
import msgspec

from reach.cache import TTLCache
from reach.errors import Unauthorized

SecretLoader = Callable[[str], Awaitable[list[str]]]

_REVALIDATE_SECONDS = 60.0
_SECRET_RELOAD_SECONDS = 1.0


class Principal(msgspec.Struct, frozen=True):
    """Who is calling. ``tenant_external_id`` is None for a partner-scoped token."""

    partner_id: str
    tenant_external_id: str | None = None

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
    ) -> None:
        self._load_secrets = load_secrets
        self._leeway = leeway
        self._max_token_bytes = max_token_bytes
        self._verified: TTLCache[str, Principal] = TTLCache(_REVALIDATE_SECONDS, cache_size)
        self._secrets: TTLCache[str, tuple[float, list[str]]] = TTLCache(secret_ttl, 10_000)

    def forget_partner(self, partner_id: str) -> None:
        """Called after a local secret rotation so the new secret is seen at once."""
        self._secrets.invalidate(partner_id)

    async def verify(self, authorization: str | None) -> Principal:
        token = _bearer_token(authorization, self._max_token_bytes)
        cached = self._verified.get(token)
        if cached is not None:
            return cached
        claims = await self._decode(token)
        principal = _principal(claims)
        remaining = float(claims["exp"]) + self._leeway - time.time()
        self._verified.put(token, principal, ttl=min(_REVALIDATE_SECONDS, remaining))
        return principal

    async def _decode(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Unauthorized("Malformed bearer token") from None
        if header.get("alg") != "HS256":
            raise Unauthorized("Unsupported token algorithm; only HS256 is accepted")
        partner_id = unverified.get("partnerId")
        if not isinstance(partner_id, str) or not partner_id:
            raise Unauthorized("Token has no partnerId claim")
        loaded_at, secrets = await self._partner_secrets(partner_id, refresh=False)
        claims = self._try_secrets(token, secrets)
        if claims is None and time.monotonic() - loaded_at > _SECRET_RELOAD_SECONDS:
            # Maybe the partner rotated its secret through another process.
            _, secrets = await self._partner_secrets(partner_id, refresh=True)
            claims = self._try_secrets(token, secrets)
        if claims is None:
            raise Unauthorized("Invalid token signature")
        return claims

    async def _partner_secrets(self, partner_id: str, *, refresh: bool) -> tuple[float, list[str]]:
        entry = None if refresh else self._secrets.get(partner_id)
        if entry is None:
            entry = (time.monotonic(), await self._load_secrets(partner_id))
            self._secrets.put(partner_id, entry)
        return entry

    def _try_secrets(self, token: str, secrets: list[str]) -> dict[str, Any] | None:
        for secret in secrets:
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
            return claims
        return None


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


def _principal(claims: dict[str, Any]) -> Principal:
    partner_id = str(claims["partnerId"])
    if claims.get("type") == "partner":
        return Principal(partner_id=partner_id)
    tenant = claims.get("tenantExternalId")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthorized("Token is neither a partner token (type=partner) nor a tenant token")
    return Principal(partner_id=partner_id, tenant_external_id=tenant)


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
