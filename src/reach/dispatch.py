"""One route per path, dispatching on the method.

Starlette's router tries routes in order and runs a regex per route. Declared one route per
(path, method), a PATCH to a record walked twenty routes; grouped by path it walks a handful,
and the router's own 405 then names every method the path serves in ``Allow``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

Endpoint = Callable[[Request], Awaitable[Response]]


class PathRoute(Route):
    def __init__(
        self, path: str, handlers: dict[str, Endpoint], *, include_in_schema: bool = True
    ) -> None:
        table = dict(handlers)
        if "GET" in table:
            table.setdefault("HEAD", table["GET"])

        async def dispatch(request: Request) -> Response:
            return await table[request.method](request)

        super().__init__(
            path, dispatch, methods=list(table), name=path, include_in_schema=include_in_schema
        )


def by_path(routes: list[BaseRoute]) -> list[BaseRoute]:
    """Merge plain function routes that share a path, keeping the first one's position."""
    grouped: dict[str, dict[str, Endpoint]] = {}
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
                handlers[method] = route.endpoint
        else:
            order.append(route)
    return [
        PathRoute(item, grouped[item], include_in_schema=documented[item])
        if isinstance(item, str)
        else item
        for item in order
    ]
