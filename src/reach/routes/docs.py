"""``/openapi.json``, ``/docs`` (Swagger UI) and ``/redoc``: the API describes itself.

The pages load nothing from a CDN: Swagger UI and Redoc come from the ``openapi-ui-bundles``
package (static builds and nothing else: no dependencies) and are served by us under
``/docs/assets``.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import html
import importlib.util
import json
import logging
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path
from typing import Any

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

log = logging.getLogger("reach")


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


class DocumentCache:
    """Built partner documents, keyed by what they are built from (the partner's active
    definitions and their versions), least recently used dropped past a byte budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[tuple[object, ...], bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()  # cheap, and safe whichever thread fills it

    def get(self, key: tuple[object, ...]) -> bytes | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[object, ...], document: bytes) -> None:
        if len(document) > self.budget:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self._size += len(document) - (len(old) if old is not None else 0)
            self._entries[key] = document
            while self._size > self.budget:
                _, dropped = self._entries.popitem(last=False)
                self._size -= len(dropped)


PARTNER_DOCUMENTS = DocumentCache(64 * 1024 * 1024)


def _dumps_in_pieces(value: object, depth: int) -> bytes:
    """``orjson.dumps(value)``, byte for byte, made of one call per member down to
    ``depth``: one call holds the GIL throughout, and a whole document of many megabytes
    would hold it for tens of milliseconds (it matters when the build falls back to a
    thread)."""
    if depth == 0 or not isinstance(value, dict):
        return orjson.dumps(value)
    members = (orjson.dumps(k) + b":" + _dumps_in_pieces(v, depth - 1) for k, v in value.items())
    return b"{" + b",".join(members) + b"}"


def _document_key(
    partner_id: str, server: str, versions: list[tuple[str, int]]
) -> tuple[object, ...]:
    return (partner_id, server, tuple(sorted(versions)))


def build_partner_document(rows: list[dict[Any, Any]], server: str) -> bytes:
    """A partner's whole document from its definition rows (as plain dicts, so it can run
    in another process)."""
    definitions = [schemas.SchemaDefinition.from_row(row) for row in rows]
    built = build_document(partner_schemas(definitions), server_url=server or "/")
    return _dumps_in_pieces(built, 3)


class DocumentBuilder:
    """Builds partner documents in one process of its own, started on first use.

    A partner with many large schemas took 1.25 s for 16 MB on the loop; in a thread the
    build still competes with the loop for the GIL (measured: /healthz up to ~290 ms on a
    busy machine). Falls back to a thread if the process cannot be used.
    """

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn: forking a process that runs threads (the server's) is unsafe.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=context)
            return self._pool

    def close(self) -> None:
        """Stop the builder process (at shutdown: left running, it holds up the exit). Builds
        under way finish; one that finds the pool shut builds in a thread instead."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    async def build(self, rows: list[dict[Any, Any]], server: str) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor(), build_partner_document, rows, server
            )
        # Broken or shut pool, no processes allowed, or (AssertionError) a daemonic parent.
        except (BrokenProcessPool, RuntimeError, OSError, AssertionError) as exc:
            log.warning("OpenAPI builder process unavailable (%s); building in a thread", exc)
            with self._lock:
                unusable, self._pool = self._pool, None  # the next build starts a new one
            if unusable is not None:
                unusable.shutdown(wait=False)
            return await asyncio.to_thread(build_partner_document, rows, server)


BUILDER = DocumentBuilder()


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
            # Every definition change bumps its version (or deactivates it): the key changes.
            async with services.db.transaction(write=False) as conn:
                versions = await schemas.active_versions(conn, principal.partner_id)
            key = _document_key(principal.partner_id, server, versions)
            document = PARTNER_DOCUMENTS.get(key)
            if document is None:
                async with services.db.transaction(write=False) as conn:
                    plain = await schemas.list_active_plain(conn, principal.partner_id)
                document = await BUILDER.build(plain, server)
                # Keyed by the rows it was built from, even if a write landed since `key`.
                built_from = [(str(r["id"]), int(r["version_number"])) for r in plain]
                PARTNER_DOCUMENTS.put(
                    _document_key(principal.partner_id, server, built_from), document
                )
            headers["Cache-Control"] = "private, no-store"
            return Response(document, media_type="application/json", headers=headers)
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
