"""The ASGI application, built by :func:`create_app`; importing this module does nothing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from reach.batches.worker import run_in_background
from reach.config import Settings, load_settings
from reach.domain.schema_scan import unsafe_stored
from reach.errors import ServiceUnavailable
from reach.observability.wiring import setup as setup_observability
from reach.routes import (
    batches,
    channel_accounts,
    docs,
    events,
    mappings,
    resources,
    schema_definitions,
    segments,
    tenants,
    webhooks,
)
from reach.services import Services, open_services
from reach.storage import faults
from reach.web import cors
from reach.web.edge import Edge, Observer, render
from reach.web.http import ok
from reach.web.router import IndexedRouter, by_path

log = logging.getLogger("reach")

_HEALTHY = b'{"success":true,"message":"ok","data":{"status":"ok"}}'


async def healthz(_: Request) -> Response:
    """Liveness: touches nothing, so benchmarks can use it as the server's ceiling."""
    return Response(_HEALTHY, media_type="application/json")


# A probe must answer before the orchestrator's own probe timeout (often 1 s): a database
# that cannot hand out a connection and answer SELECT 1 within this is "not ready".
READY_TIMEOUT_SECONDS = 0.8


async def readyz(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        await services.db.ping(READY_TIMEOUT_SECONDS)
    except Exception as exc:
        log.warning("readiness check failed: %s", faults.cause(exc))
        return render(ServiceUnavailable("Database unreachable"))
    found: dict[str, Any] = {"status": "ready", "database": services.db.dialect}
    if services.replicas is not None:
        # Shown, never a reason to be unready: reads fall back to the primary.
        found["replicas"] = [
            {
                "name": state.name,
                "up": state.up,
                "lagSeconds": state.lag_seconds,
                "lagBytes": state.lag_bytes,
                **({"reason": state.reason} if state.reason else {}),
            }
            for state in services.replicas.states()
        ]
    return ok(found)


async def scan_schema_definitions(services: Services) -> None:
    """Warn about stored definitions that name URLs. They cannot fire (every validator
    refuses to fetch, and such a definition refuses writes with the reason), but their
    partners need telling. Only warnings, in the background: start-up never waits for it
    or depends on it."""
    try:
        async for definition, problems in unsafe_stored(services.db):
            log.warning(
                "schema definition %s (%s) of partner %s names URLs; writes to its records "
                "are refused until it is updated: %s",
                definition.name,
                definition.id,
                definition.partner_id,
                "; ".join(problems),
            )
    except Exception as exc:
        log.warning("schema definition scan stopped: %s", exc)


def routes() -> list[BaseRoute]:
    """Hot paths first: the router tries paths in this order."""
    return by_path(
        [
            Route("/healthz", healthz, methods=["GET"]),
            # The batch paths must be matched before /{externalId} swallows "batch".
            *batches.ROUTES,
            *events.HISTORY_ROUTES,
            *resources.RECORD_ROUTES,
            *resources.COLLECTION_ROUTES,
            Route("/readyz", readyz, methods=["GET"]),
            *events.FEED_ROUTES,
            *tenants.ROUTES,
            *schema_definitions.ROUTES,
            *mappings.ROUTES,
            *segments.ROUTES,
            *channel_accounts.ROUTES,
            *webhooks.ROUTES,
            *docs.routes(),
        ]
    )


class ReachApp(Starlette):
    """Starlette with :class:`~reach.web.edge.Edge` as its whole middleware stack.

    Starlette's default stack wraps every request in two more layers of error handling;
    Edge already renders every error, so on the hot path they only cost time.
    """

    def __init__(self, *, observers: list[Observer], cors_origins: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The same routes and lifespan, behind a router that tries fewer of them per request.
        self.router = IndexedRouter(self.router.routes, lifespan=kwargs.get("lifespan"))
        self.observers = observers
        self.cors_origins = cors_origins
        # Set by the lifespan, beside ``state.services``: every API request reads it, and a
        # plain attribute costs next to nothing, Starlette's ``State`` look-up ~0.6 µs.
        self.services: Services | None = None

    def build_middleware_stack(self) -> ASGIApp:
        return cors.wrap(Edge(self.router, observers=self.observers), self.cors_origins)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the app; the database opens when the server starts it (ASGI lifespan)."""
    settings = settings or load_settings()
    observe = setup_observability(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        services = await open_services(settings)
        app.state.services = services
        if isinstance(app, ReachApp):
            app.services = services
        await services.listen()  # cross-node cache invalidation (PostgreSQL)
        if services.replicas is not None:
            services.replicas.start()  # health and lag checks, in the background
        scan = asyncio.create_task(scan_schema_definitions(services))
        worker = run_in_background(services) if settings.batch_worker else None
        observe.start(services)
        try:
            yield {}
        finally:
            await observe.stop()
            if worker is not None:
                await worker.stop()
            scan.cancel()
            with suppress(asyncio.CancelledError):
                await scan
            docs.BUILDER.close()
            await services.close()

    return ReachApp(
        routes=[*routes(), *observe.routes()],  # /metrics after the hot paths
        lifespan=lifespan,
        observers=observe.observers,
        cors_origins=settings.cors_origins,
    )
