"""The ASGI application, built by :func:`create_app`; importing this module does nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from reach.batches.worker import run_in_background
from reach.config import Settings, load_settings
from reach.dispatch import by_path
from reach.edge import Edge
from reach.errors import (
    MethodNotAllowed,
    NotFound,
    ReachError,
    ServiceUnavailable,
)
from reach.http import JSONResponse, ok
from reach.observability.wiring import setup as setup_observability
from reach.routes import batches, docs, resources, schema_definitions, tenants
from reach.services import Services, open_services

log = logging.getLogger("reach")

_HEALTHY = b'{"success":true,"message":"ok","data":{"status":"ok"}}'


def render(error: ReachError) -> Response:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


async def _reach_error(_: Request, exc: Exception) -> Response:
    return render(cast(ReachError, exc))


async def _http_error(_: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (no such route / method) in our envelope."""
    exc = cast(HTTPException, exc)
    if exc.status_code == 404:
        return render(NotFound("No such route"))
    if exc.status_code == 405:
        error = MethodNotAllowed("Method not allowed on this route")
        response = render(error)
        if exc.headers and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    generic = ReachError(str(exc.detail))
    generic.status = exc.status_code
    return render(generic)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(ReachError())


async def healthz(_: Request) -> Response:
    """Liveness: touches nothing, so benchmarks can use it as the server's ceiling."""
    return Response(_HEALTHY, media_type="application/json")


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.db.ping()
    except Exception as exc:
        log.warning("readiness check failed: %s", exc)
        return render(ServiceUnavailable("Database unreachable"))
    return ok({"status": "ready", "database": services.db.dialect})


def routes() -> list[BaseRoute]:
    """Hot paths first: the router tries paths in this order."""
    return by_path(
        [
            Route("/healthz", healthz, methods=["GET"]),
            # The batch paths must be matched before /{externalId} swallows "batch".
            *batches.ROUTES,
            *resources.RECORD_ROUTES,
            *resources.COLLECTION_ROUTES,
            Route("/readyz", readyz, methods=["GET"]),
            *tenants.ROUTES,
            *schema_definitions.ROUTES,
            *docs.routes(),
        ]
    )


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app; the database opens when the server starts it (ASGI lifespan)."""
    settings = settings or load_settings()
    observe = setup_observability(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services = await open_services(settings)
        app.state.services = services
        worker = run_in_background(services) if settings.batch_worker else None
        observe.start(services)
        try:
            yield {}
        finally:
            await observe.stop()
            if worker is not None:
                await worker.stop()
            await services.close()

    return Starlette(
        routes=[*routes(), *observe.routes()],  # /metrics after the hot paths
        lifespan=lifespan,
        middleware=[Middleware(Edge, observers=observe.observers)],
        exception_handlers={
            ReachError: _reach_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
