"""The outermost layer of every response: request id, security headers, observers.

A pure ASGI middleware, one wrapper for all of it, because everything here runs on every
request including ``/healthz``. Observers (access log, metrics) get one
:class:`Exchange` after the response is sent.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")

# JSON responses carry partners' customer data: never cached, never sniffed, never framed.
# Pages that set their own Content-Security-Policy (the API docs) keep theirs.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
_DEFAULT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")

# Where routes leave who the caller was, for observers (never tokens or personal data).
PARTNER_KEY = "reach.partner_id"
TENANT_KEY = "reach.tenant_id"


@dataclass(slots=True)
class Exchange:
    request_id: str
    method: str
    route: str
    status: int
    duration: float
    partner_id: str | None
    tenant_id: str | None


Observer = Callable[[Exchange], None]


def route_template(scope: Scope) -> str:
    """``/api/resources/{schema}/{externalId:path}`` rather than the concrete path, so
    metrics stay low-cardinality and logs carry no external ids."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return "unmatched"


class Edge:
    def __init__(self, app: ASGIApp, observers: list[Observer] | None = None) -> None:
        self.app = app
        self.observers = observers or []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or os.urandom(16).hex().encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                names = {name for name, _ in headers}
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
                if _DEFAULT_CSP[0] not in names:
                    headers.append(_DEFAULT_CSP)
                headers.append((b"x-request-id", request_id))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if self.observers:
                exchange = Exchange(
                    request_id=request_id.decode(),
                    method=scope["method"],
                    route=route_template(scope),
                    status=status,
                    duration=time.perf_counter() - started,
                    partner_id=_get(scope, PARTNER_KEY),
                    tenant_id=_get(scope, TENANT_KEY),
                )
                for observe in self.observers:
                    observe(exchange)


def _incoming_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _REQUEST_ID.match(value) else None
    return None


def _get(scope: Scope, key: str) -> Any:
    value = scope.get("state", {}).get(key)
    return value if isinstance(value, str) else None
