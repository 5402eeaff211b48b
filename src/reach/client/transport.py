"""One request, done properly: a fresh token, the tenant header, retries, typed errors.

Tokens are minted here from the partner's secret, exactly as a partner's own code would: an
HS256 JWT ``{"partnerId", "type": "partner", "iat", "exp"}``. One partner token serves every
route; calls made for a tenant add the ``reach-tenant-id`` header. A token is re-minted a minute
before it expires.
"""

from __future__ import annotations

import threading
import time
from typing import Any, TypeVar

import httpx
import jwt
import msgspec
import orjson

from reach.client.errors import ReachConnectionError, api_error
from reach.client.models import Envelope
from reach.client.retry import RetryPolicy, parse_retry_after

T = TypeVar("T")

USER_AGENT = "reach-client/0.1"
CONSISTENCY = "Reach-Consistency"
_RENEW_BEFORE = 60  # seconds before expiry


class Credentials:
    """Mints and renews the partner token (thread-safe: the importer shares one)."""

    def __init__(self, partner_id: str, secret: str, ttl: int = 3600) -> None:
        self.partner_id = partner_id
        self._secret = secret
        self._ttl = max(ttl, 2 * _RENEW_BEFORE)
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def token(self) -> str:
        now = time.time()
        if now < self._expires - _RENEW_BEFORE:
            return self._token
        with self._lock:
            if now >= self._expires - _RENEW_BEFORE:
                issued = int(now)
                claims = {
                    "partnerId": self.partner_id,
                    "type": "partner",
                    "iat": issued,
                    "exp": issued + self._ttl,
                }
                self._token = jwt.encode(claims, self._secret, algorithm="HS256")
                self._expires = issued + self._ttl
            return self._token


class StaticToken:
    """A token minted elsewhere (e.g. a tenant token from ``reach token``); never renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token


class Transport:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials | StaticToken,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        max_connections: int = 16,
        http: httpx.Client | None = None,
    ) -> None:
        self.credentials = credentials
        self.retry = retry or RetryPolicy()
        # The latest Reach-Consistency a write answered with, sent with every request so a
        # read served by a replica shows this client's own writes (docs/replicas.md).
        self.consistency: str | None = None
        self._consistency_lock = threading.Lock()
        self.http = http or httpx.Client(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=max_connections),
        )

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        into: type[T],
        *,
        tenant: str | None = None,
        json: Any = None,
        params: Any = None,
    ) -> T:
        """Send, retrying what may be retried; ``into`` is the type of the envelope's data."""
        response = self.send(method, path, tenant=tenant, json=json, params=params)
        try:
            return msgspec.json.decode(response.content, type=Envelope[into]).data  # type: ignore[valid-type]
        except msgspec.ValidationError as exc:
            raise ReachConnectionError(f"unexpected answer from {method} {path}: {exc}") from None

    def send(
        self,
        method: str,
        path: str,
        *,
        tenant: str | None = None,
        json: Any = None,
        params: Any = None,
    ) -> httpx.Response:
        content = None if json is None else orjson.dumps(json)
        policy = self.retry
        attempt = 0
        while True:
            headers = {"Authorization": f"Bearer {self.credentials.token()}"}
            if tenant is not None:
                headers["reach-tenant-id"] = tenant
            if content is not None:
                headers["Content-Type"] = "application/json"
            if self.consistency is not None:
                headers[CONSISTENCY] = self.consistency
            try:
                response = self.http.request(
                    method, path, content=content, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                if attempt + 1 >= policy.attempts:
                    raise ReachConnectionError(
                        f"{method} {path}: {exc!r} (after {attempt + 1} attempt(s))"
                    ) from exc
                policy.sleep(policy.delay(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                self._saw(response.headers.get(CONSISTENCY))
                return response
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            retriable = response.status_code in policy.statuses and (
                retry_after is None or retry_after <= policy.max_retry_after
            )
            if retriable and attempt + 1 < policy.attempts:
                policy.sleep(policy.delay(attempt, retry_after))
                attempt += 1
                continue
            try:
                body = orjson.loads(response.content) if response.content else None
            except orjson.JSONDecodeError:
                body = response.text
            raise api_error(response.status_code, body, retry_after)

    def _saw(self, given: str | None) -> None:
        """Keep the later token. Tokens of one format have one length and the later one is the
        greater string; threads sharing a client may see answers out of order."""
        if given is None:
            return
        with self._consistency_lock:
            held = self.consistency
            if held is None or len(given) != len(held) or given > held:
                self.consistency = given
