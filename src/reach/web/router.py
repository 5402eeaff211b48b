"""Path matching: one route per path, dispatching on the method; an index of the routes a
path's start allows.

Starlette's router tries routes in order and runs a regex per route. Declared one route per
(path, method), a PATCH to a record walked twenty routes; grouped by path it walks a handful,
and the router's own 405 then names every method the path serves in ``Allow``. Dispatch is
between the routes' ASGI apps, so endpoints that are ASGI apps themselves
(``reach.web.endpoint``) skip Starlette's per-request function wrapper.
"""

from __future__ import annotations

import re
from typing import Any

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send


class ByMethod:
    """An ASGI app handing the request to the app registered for its method."""

    __slots__ = ("table",)

    def __init__(self, table: dict[str, ASGIApp]) -> None:
        self.table = table

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.table[scope["method"]](scope, receive, send)


class PathRoute(Route):
    def __init__(
        self, path: str, apps: dict[str, ASGIApp], *, include_in_schema: bool = True
    ) -> None:
        table = dict(apps)
        if "GET" in table:
            table.setdefault("HEAD", table["GET"])
        super().__init__(
            path,
            ByMethod(table),
            methods=list(table),
            name=path,
            include_in_schema=include_in_schema,
        )
        # Starlette's ``.*`` (a ``:path`` parameter) stops at a line feed and its ``$`` also
        # matches before a final one, so ``/customers/a%0A`` would reach record ``a`` and
        # ``a%0Ab`` no route at all: every stored external id must address its own record.
        pattern = self.path_regex.pattern
        if pattern.endswith("$"):
            pattern = pattern[:-1] + r"\Z"
        self.path_regex = re.compile(pattern, re.DOTALL)
        # Up to the first parameter: most paths are ruled out by this without the regex.
        self.literal_prefix = path.split("{", 1)[0]
        # And after the last one (the pattern ends in ``\Z``): ``/api/resources/{schema}/batch``
        # then costs a record's PATCH no regex.
        self.literal_suffix = path.rsplit("}", 1)[1] if "}" in path else ""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Starlette's matching, minus the work for paths that cannot match."""
        if scope["type"] != "http":
            return Match.NONE, {}
        # Starlette's own helper: a mounted root_path is stripped exactly as Route.matches does.
        path = get_route_path(scope) if scope.get("root_path") else scope["path"]
        if not path.startswith(self.literal_prefix) or not path.endswith(self.literal_suffix):
            return Match.NONE, {}
        match = self.path_regex.match(path)
        if match is None:
            return Match.NONE, {}
        params = match.groupdict()
        for key, value in params.items():
            params[key] = self.param_convertors[key].convert(value)
        inherited = scope.get("path_params")
        child = {
            "endpoint": self.endpoint,
            "path_params": {**inherited, **params} if inherited else params,
        }
        methods = self.methods or ()
        return (Match.FULL if scope["method"] in methods else Match.PARTIAL), child


def by_path(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Merge plain function routes that share a path, keeping the first one's position."""
    grouped: dict[str, dict[str, ASGIApp]] = {}
    documented: dict[str, bool] = {}
    order: list[Any] = []
    for route in routes:
        if type(route) is Route and route.methods:
            handlers = grouped.get(route.path)
            if handlers is None:
                handlers = grouped[route.path] = {}
                documented[route.path] = route.include_in_schema
                order.append(route.path)
            for method in route.methods - {"HEAD"}:
                handlers[method] = route.app
        else:
            order.append(route)
    return [
        PathRoute(item, grouped[item], include_in_schema=documented[item])
        if isinstance(item, str)
        else item
        for item in order
    ]


class IndexedRouter(Router):
    """Starlette's router, trying only the routes a path's first two segments leave possible.

    A route can match a path only if its literal prefix and the path's start (up to the
    third ``/``) are prefixes of one another; the candidates per start are worked out once.
    The first full match among them is the first full match among all routes, because no
    route that could match is left out and the order is kept. Anything else (no full match:
    405, 404, slash redirects; a mounted root path; the lifespan) goes Starlette's own way.
    """

    _MAX_STARTS = 256  # the start is the client's: bound what it can make us remember

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._candidates: dict[str, list[BaseRoute]] = {}
        self._indexed = -1

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            candidates = self._candidates_for(scope["path"])
            if candidates is not None:
                for route in candidates:
                    match, child_scope = route.matches(scope)
                    if match is Match.FULL:
                        if "router" not in scope:
                            scope["router"] = self
                        scope["route"] = route
                        scope.update(child_scope)
                        await route.handle(scope, receive, send)
                        return
        await super().app(scope, receive, send)

    def _candidates_for(self, path: str) -> list[BaseRoute] | None:
        if self._indexed != len(self.routes):  # a route added after start-up (add_route)
            self._candidates = {}
            self._indexed = len(self.routes)
        second = path.find("/", 1)
        third = path.find("/", second + 1) if second > 0 else -1
        start = path[: third + 1] if third > 0 else path
        found = self._candidates.get(start)
        if found is None:
            if len(self._candidates) >= self._MAX_STARTS:
                return None
            found = self._candidates[start] = [
                route
                for route in self.routes
                if not isinstance(route, PathRoute)
                or start.startswith(route.literal_prefix)
                or route.literal_prefix.startswith(start)
            ]
        return found
