"""The thin route helper: authenticate → decode body → open the transaction → one handler.

Handlers translate between HTTP and one domain call; they never decide. The transaction is
opened here, around the handler, so it belongs to the request: it commits when the handler
returns and rolls back when anything raises.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from reach.auth import Principal
from reach.domain import tenants
from reach.domain.tenants import Tenant
from reach.edge import PARTNER_KEY, TENANT_KEY
from reach.errors import Forbidden, ReachError, ServiceUnavailable
from reach.http import json_body, refuse_nul_in_url
from reach.ratelimit import Quota
from reach.services import Services
from reach.storage.database import Connection

Access = Literal["partner", "tenant"]


@dataclass(slots=True)
class Call:
    request: Request
    services: Services
    principal: Principal
    body: Any
    tenant: Tenant

    def path(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value

    @property
    def partner_id(self) -> str:
        return self.principal.partner_id

    @property
    def dialect(self) -> str:
        return self.services.db.dialect


Handler = Callable[[Call, Connection], Awaitable[Response]]

_NO_TENANT: Any = None


def route(
    path: str,
    method: str,
    handler: Handler,
    *,
    access: Access,
    write: bool = False,
    body: bool = False,
    name: str | None = None,
) -> Route:
    async def serve(request: Request, services: Services, quota: list[Quota]) -> Response:
        principal = await services.tokens.verify(request.headers.get("authorization"))
        request.scope["state"][PARTNER_KEY] = principal.partner_id
        limiter = services.limiter
        if limiter is not None:
            # Right after authentication: an over-budget caller costs no body read, no query.
            used = await limiter.partner(principal.partner_id)
            quota.extend([used] if used else [])
        if access == "partner" and not principal.is_partner:
            raise Forbidden("Partner routes need a partner-scoped token (type: partner)")
        refuse_nul_in_url(request)
        payload = await json_body(request, services.settings.max_body_bytes) if body else None
        async with services.db.transaction(write=write) as conn:
            tenant = _NO_TENANT
            if access == "tenant":
                header = request.headers.get("reach-tenant-id") or request.headers.get(
                    "x-tenant-id"
                )
                tenant = await tenants.resolve_for_call(conn, services.tenants, principal, header)
                request.scope["state"][TENANT_KEY] = tenant.id
                if limiter is not None:
                    used = await limiter.tenant(tenant.id)
                    quota.extend([used] if used else [])
            call = Call(request, services, principal, payload, tenant)
            return await handler(call, conn)

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        quota: list[Quota] = []
        deadlines = services.deadlines
        # Around everything, the body read included: a stalled client or a query stuck
        # behind a lock gives its connection back (the transaction rolls back) in bounded time.
        task = deadlines.enter()
        try:
            response = await serve(request, services, quota)
        except asyncio.CancelledError:
            if not deadlines.expired(task):
                raise
            error: ReachError = ServiceUnavailable(
                f"Request timed out after {deadlines.seconds:g} s"
            )
            _add_quota(error.headers, quota)
            raise error from None
        except ReachError as exc:
            _add_quota(exc.headers, quota)
            raise
        finally:
            deadlines.leave(task)
        _add_quota(response.headers, quota)
        return response

    return Route(path, _Asgi(endpoint), methods=[method], name=name or handler.__name__)


class _Asgi:
    """An endpoint as a bare ASGI app. Starlette wraps plain functions in a second layer of
    exception handling on every request; errors here reach the app's one handler anyway."""

    __slots__ = ("endpoint",)

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.endpoint(Request(scope, receive, send))
        await response(scope, receive, send)


def _add_quota(headers: Any, quota: list[Quota]) -> None:
    """The ``RateLimit-*`` headers of the tightest limit applied (an error's own win)."""
    if not quota:
        return
    tightest = quota[0]
    for other in quota[1:]:
        tightest = tightest.tighter(other)
    for name, value in tightest.headers().items():
        if name not in headers:
            headers[name] = value
