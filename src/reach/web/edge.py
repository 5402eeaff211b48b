"""The outermost layer of every response: request id, security headers, errors, observers.

A pure ASGI middleware, one wrapper for all of it, because everything here runs on every
request including ``/healthz``; it is the app's whole middleware stack (see
:class:`reach.web.app.ReachApp`). It is also the one place errors become responses: a
:class:`~reach.errors.ReachError` renders as its own status in the Reach envelope, the
router's 404/405 likewise, a transient database fault (:mod:`reach.storage.faults`) is a
503 with ``Retry-After`` and one warning line, and anything else is logged and answered with
a 500 envelope.
Observers (access log, metrics) get one :class:`Exchange` after the response is sent.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reach.errors import MethodNotAllowed, NotFound, ReachError
from reach.storage import faults
from reach.web.http import JSONResponse

log = logging.getLogger("reach")

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
# granian names itself in a `server` header unless the app sends one: ours names no server
# software or version for a scanner to match against advisories.
_SERVER = (b"server", b"reach")

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
        # Starlette's function endpoints look their error handlers up here: with none, every
        # error comes back to this one place.
        scope["starlette.exception_handlers"] = _NO_HANDLERS
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": _with_edge_headers(message, request_id)}
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_headers)
            except Exception as exc:
                if status:  # too late for an error response; the server drops the connection
                    raise
                await error_response(exc, scope)(scope, receive, send_with_headers)
        finally:
            if self.observers:
                exchange = Exchange(
                    request_id=request_id.decode(),
                    method=scope["method"],
                    route=route_template(scope),
                    status=status or 500,
                    duration=time.perf_counter() - started,
                    partner_id=_get(scope, PARTNER_KEY),
                    tenant_id=_get(scope, TENANT_KEY),
                )
                for observe in self.observers:
                    observe(exchange)


def _with_edge_headers(message: Message, request_id: bytes) -> list[tuple[bytes, bytes]]:
    """The response's headers plus ours. Almost no response sets one of ours itself: one
    pass finds that out, and then the fixed block is appended whole, in the same order the
    general case gives."""
    given = message.get("headers", ())
    for name, _ in given:
        if name in _OWN_NAMES:
            break
    else:
        return [*given, *_FIXED, (b"x-request-id", request_id)]
    headers = list(given)
    names = {name for name, _ in headers}
    headers.extend(h for h in SECURITY_HEADERS if h[0] not in names)
    if _DEFAULT_CSP[0] not in names:
        headers.append(_DEFAULT_CSP)
    headers.append(_SERVER)
    headers.append((b"x-request-id", request_id))
    return headers


_OWN_NAMES = frozenset(name for name, _ in (*SECURITY_HEADERS, _DEFAULT_CSP))
_FIXED = (*SECURITY_HEADERS, _DEFAULT_CSP, _SERVER)

_NO_HANDLERS: tuple[dict[Any, Any], dict[int, Any]] = ({}, {})


def render(error: ReachError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def error_response(exc: Exception, scope: Scope) -> Response:
    if faults.is_transient(exc):
        # A fault of the moment (the database restarting, unreachable, a lock held too long):
        # the client should retry (503, Retry-After), and the operator needs the cause in one
        # line, not a traceback. The route template keeps external ids out of the log.
        log.warning(
            "database unavailable on %s %s: %s",
            scope.get("method"),
            route_template(scope),
            faults.cause(exc),
        )
        return render(faults.unavailable(exc))
    if isinstance(exc, ReachError):
        return render(exc)
    if isinstance(exc, HTTPException):
        # The router's own: no such route, or not this method on it.
        if exc.status_code == 404:
            return render(NotFound("No such route"))
        if exc.status_code == 405:
            error = MethodNotAllowed("Method not allowed on this route")
            if exc.headers and "Allow" in exc.headers:
                error.headers["Allow"] = exc.headers["Allow"]
            return render(error)
        generic = ReachError(str(exc.detail))
        generic.status = exc.status_code
        return render(generic)
    log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
    return render(ReachError())


def _incoming_request_id(scope: Scope) -> bytes | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value if _REQUEST_ID.match(value) else None
    return None


def _get(scope: Scope, key: str) -> Any:
    value = scope.get("state", {}).get(key)
    return value if isinstance(value, str) else None
