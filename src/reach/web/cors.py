"""Cross-origin calls from browser apps (``REACH_CORS_ORIGINS``; off by default).

The API authenticates with a bearer token in the ``Authorization`` header, never a cookie, so
allowing an origin only lets a page on it make calls with a token it already holds: no
credentials mode, and ``*`` is safe to offer. A preflight (``OPTIONS`` with
``Access-Control-Request-Method``) from an allowed origin is answered here, before routing,
with 204; any other request passes through and gains ``Access-Control-Allow-Origin`` on its
way out. Requests from other origins are untouched: the browser withholds their answers.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = b"GET, POST, PUT, PATCH, DELETE"
ALLOWED_HEADERS = b"authorization, content-type, reach-tenant-id, x-request-id"
# What a browser script may read from a response besides the simple headers.
EXPOSED_HEADERS = (
    b"x-request-id, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset"
)
PREFLIGHT_MAX_AGE = b"600"


def parse_origins(value: str) -> frozenset[str]:
    return frozenset(o.strip().rstrip("/") for o in value.split(",") if o.strip())


class Cors:
    def __init__(self, app: ASGIApp, origins: frozenset[str]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = preflight = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"access-control-request-method":
                preflight = value
        if origin is None or not (self.any or origin.decode("latin-1") in self.origins):
            await self.app(scope, receive, send)
            return
        allow = b"*" if self.any else origin
        if scope["method"] == "OPTIONS" and preflight is not None:
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        (b"access-control-allow-origin", allow),
                        (b"access-control-allow-methods", ALLOWED_METHODS),
                        (b"access-control-allow-headers", ALLOWED_HEADERS),
                        (b"access-control-max-age", PREFLIGHT_MAX_AGE),
                        (b"vary", b"Origin"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    *message.get("headers", ()),
                    (b"access-control-allow-origin", allow),
                    (b"access-control-expose-headers", EXPOSED_HEADERS),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def wrap(app: ASGIApp, origins: str) -> ASGIApp:
    """``app`` itself when no origin is configured: no cost on the hot path."""
    allowed = parse_origins(origins)
    return Cors(app, allowed) if allowed else app
