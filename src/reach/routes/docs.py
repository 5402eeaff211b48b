"""``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``: the API describes itself.

The pages load nothing from a CDN: Swagger UI and Redoc come from the ``openapi-ui-bundles``
package (static builds and nothing else: no dependencies) and are served by us under
``/docs/assets``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import html
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from reach.domain import schemas
from reach.openapi import build_document, default_schemas, partner_schemas
from reach.services import Services

ASSETS = "/docs/assets"
SWAGGER_DIR = f"{ASSETS}/swagger_ui/vendor"
REDOC_SCRIPT = f"{ASSETS}/redoc/vendor/redoc.standalone.js"
_ASSET_PACKAGE = "openapi_ui_bundles"


def asset_directory() -> Path:
    spec = importlib.util.find_spec(_ASSET_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise RuntimeError(f"{_ASSET_PACKAGE} is not installed; /docs needs its assets")
    return Path(locations[0])


# Not fingerprinted, so not immutable: an hour, then revalidated by ETag (a 304).
ASSET_CACHE_CONTROL = "public, max-age=3600"
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")


class DocAssets(StaticFiles):
    """The bundles' files with a cache lifetime, and gzip (compressed once per file, kept in
    memory) for clients that take it: Swagger UI's ~1.4 MB is ~0.4 MB on the wire."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = ASSET_CACHE_CONTROL
        if not isinstance(response, FileResponse) or response.status_code != 200:
            return response
        stat = response.stat_result
        if stat is None:  # StaticFiles always passes the file's stat; nothing to key on if not
            return response
        if not response.media_type or not response.media_type.startswith(_COMPRESSIBLE):
            return response
        response.headers["Vary"] = "Accept-Encoding"
        if "gzip" not in Headers(scope=scope).get("accept-encoding", ""):
            return response
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "etag")}
        headers["Content-Encoding"] = "gzip"
        # Another representation of the same file: a weak validator.
        headers["ETag"] = "W/" + response.headers["etag"]
        # The first request for a file compresses it (~0.1 s for Swagger UI): off the loop.
        body = await run_in_threadpool(_gzipped, str(response.path), stat.st_mtime_ns, stat.st_size)
        return Response(body, headers=headers)


@lru_cache(maxsize=32)
def _gzipped(path: str, _mtime_ns: int, _size: int) -> bytes:
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


def _server_url(request: Request) -> str:
    # Behind a proxy that mounts us under a prefix, links and "Try it out" must keep it.
    root: str = request.scope.get("root_path", "")
    return root.rstrip("/")


@lru_cache(maxsize=8)
def _public_document(server_url: str) -> bytes:
    return orjson.dumps(build_document(default_schemas(), server_url=server_url or "/"))


async def openapi_json(request: Request) -> Response:
    """Public; a partner token adds that partner's own schemas (an invalid token is a 401,
    like everywhere else, rather than silently showing less)."""
    server = _server_url(request)
    headers = {"Vary": "Authorization"}
    authorization = request.headers.get("authorization")
    if authorization:
        services: Services = request.app.state.services
        principal = await services.tokens.verify(authorization)
        if principal.is_partner:
            async with services.db.transaction(write=False) as conn:
                definitions = await schemas.list_active(conn, principal.partner_id)
            document = build_document(partner_schemas(definitions), server_url=server or "/")
            headers["Cache-Control"] = "private, no-store"
            return Response(orjson.dumps(document), media_type="application/json", headers=headers)
    return Response(_public_document(server), media_type="application/json", headers=headers)


_SWAGGER_INIT = """
window.ui = SwaggerUIBundle({
  url: %s,
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
});
"""

_SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reach API - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script>{init}</script>
</body>
</html>
"""

_REDOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reach API - Redoc</title>
</head>
<body style="margin: 0; padding: 0">
<redoc spec-url="{spec}"></redoc>
<script src="{script}"></script>
</body>
</html>
"""


def _policy(inline_script: str | None = None) -> dict[str, str]:
    """Nothing but this server: the bundles carry links to third parties (Redoc's sidebar
    logo, Swagger UI's validator badge) that a self-hosted, offline install must not follow.
    Both UIs inject inline styles; our one inline script is allowed by its hash."""
    scripts = "'self'"
    if inline_script is not None:
        digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
        scripts += f" 'sha256-{digest}'"
    policy = (
        f"default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
    )
    return {"Content-Security-Policy": policy}


async def swagger_page(request: Request) -> Response:
    root = _server_url(request)
    # JSON text inside <script>: "<" escaped so a path can never close the element.
    init = _SWAGGER_INIT % json.dumps(root + "/openapi.json").replace("<", "\\u003c")
    page = _SWAGGER_PAGE.format(assets=html.escape(root + SWAGGER_DIR), init=init)
    return HTMLResponse(page, headers=_policy(init))


async def redoc_page(request: Request) -> Response:
    root = _server_url(request)
    page = _REDOC_PAGE.format(
        spec=html.escape(root + "/openapi.json"), script=html.escape(root + REDOC_SCRIPT)
    )
    return HTMLResponse(page, headers=_policy())


def routes() -> list[BaseRoute]:
    return [
        Route("/openapi.json", openapi_json, methods=["GET"]),
        # The pages and their assets are not API operations: kept out of the document.
        Route("/docs", swagger_page, methods=["GET"], include_in_schema=False),
        Route("/redoc", redoc_page, methods=["GET"], include_in_schema=False),
        Mount(ASSETS, app=DocAssets(directory=asset_directory()), name="docs-assets"),
    ]
