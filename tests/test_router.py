"""The route index picks exactly the route Starlette's own walk over every route picks."""

from __future__ import annotations

import re

import pytest
from starlette.routing import BaseRoute, Match, Route, Router

from reach.config import load_settings
from reach.web.app import create_app
from reach.web.router import IndexedRouter, PathRoute

METHODS = ("GET", "HEAD", "POST", "PATCH", "PUT", "DELETE")
EXTRA_PATHS = (
    "/",
    "/api",
    "/api/",
    "/api/resources",
    "/api/resources/",
    "/api/resources/customers",
    "/api/resources/customers/",
    "/api/resources/customers/batch",
    "/api/resources/customers/batch/",
    "/api/resources/customers/a/batch",
    "/api/resources/customers/a\nb",
    "/api/resources/customers/a\n",
    "/api/resources//x",
    "/api/batches",
    "/api/batches/",
    "/api/batchesx",
    "/api/segments/user/a/b",
    "/healthz",
    "/healthz/",
    "/healthzz",
    "/metrics",
    "/docs",
    "/docs/assets/x.js",
    "/partner/tenants",
    "/nowhere/at/all",
)


def _all_routes() -> list[BaseRoute]:
    settings = load_settings({})
    return list(create_app(settings).router.routes)


def _sample_paths(routes: list[BaseRoute]) -> list[str]:
    paths = list(EXTRA_PATHS)
    for route in routes:
        template = getattr(route, "path", None)
        if isinstance(template, str):
            for value in ("x", "batch", "a/b"):
                paths.append(re.sub(r"\{[^}]+\}", value, template))
    return paths


def _starlette_first(routes: list[BaseRoute], scope: dict[str, object]) -> BaseRoute | None:
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def _indexed_first(router: IndexedRouter, scope: dict[str, object]) -> BaseRoute | None:
    candidates = router._candidates_for(str(scope["path"]))
    assert candidates is not None
    for route in candidates:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


@pytest.mark.parametrize("method", METHODS)
def test_index_picks_the_route_starlette_picks(method: str) -> None:
    routes = _all_routes()
    router = IndexedRouter(routes)
    assert any(isinstance(r, PathRoute) for r in routes)
    for path in _sample_paths(routes):
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        assert _indexed_first(router, scope) is _starlette_first(routes, scope), path


def test_index_leaves_out_routes_that_cannot_match() -> None:
    routes = _all_routes()
    router = IndexedRouter(routes)
    candidates = router._candidates_for("/api/resources/customers/c-1")
    assert candidates is not None
    paths = [getattr(r, "path", None) for r in candidates]
    assert "/api/resources/{schema}/{externalId:path}" in paths
    assert "/healthz" not in paths
    assert "/partner/tenants" not in paths


def test_a_route_added_later_is_found() -> None:
    async def endpoint(_: object) -> None:
        return None

    router = IndexedRouter(_all_routes())
    assert router._candidates_for("/late/route") is not None
    router.routes.append(PathRoute("/late/route", {"GET": Route("/", endpoint).app}))
    scope = {"type": "http", "path": "/late/route", "method": "GET", "root_path": ""}
    found = _indexed_first(router, scope)
    assert isinstance(found, PathRoute)
    assert found.path == "/late/route"


def test_the_index_is_bounded() -> None:
    router = IndexedRouter(_all_routes())
    for n in range(IndexedRouter._MAX_STARTS):
        assert router._candidates_for(f"/junk-{n}") is not None
    # Past the bound, unknown starts are not remembered: Starlette's own walk answers them.
    assert router._candidates_for("/one-more") is None
    assert router._candidates_for("/junk-0") is not None
    assert isinstance(router, Router)
