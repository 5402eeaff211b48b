"""The request pipeline every API route runs: authenticate → resolve the tenant → rate limit →
decode body → open the transaction → one handler (:func:`route` builds the route).

Handlers translate between HTTP and one domain call; they never decide. The transaction is
opened here, around the handler, so it belongs to the request: it commits when the handler
returns and rolls back when anything raises. The response is sent after that, so nothing a
client sees can still be rolled back.

Every API route runs through :class:`Endpoint`, a bare ASGI app: the request's headers are
read in one pass and its query string is parsed only if a handler asks, because on this path
Starlette's request and header objects cost more than the SQL of a PATCH.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from reach.auth import Principal
from reach.domain import tenants
from reach.domain.tenants import Tenant
from reach.errors import Forbidden, ReachError, ServiceUnavailable, StaleScope
from reach.ratelimit import Quota
from reach.services import Services
from reach.storage.consistency import token as replica_token
from reach.storage.database import Connection
from reach.storage.replicas import Replicas
from reach.web import idempotency
from reach.web.edge import PARTNER_KEY, TENANT_KEY
from reach.web.http import json_body, query_params, refuse_nul_in_url

Access = Literal["partner", "tenant"]

_NO_TENANT: Any = None
_NO_CONNECTION: Any = None

_CONSISTENCY = b"reach-consistency"


class Call:
    """What a handler gets: the caller, the decoded body, the tenant, the URL's parameters."""

    __slots__ = ("_query", "body", "inline_key", "principal", "scope", "services", "tenant")

    def __init__(
        self, scope: Scope, services: Services, principal: Principal, body: Any, tenant: Tenant
    ) -> None:
        self.scope = scope
        self.services = services
        self.principal = principal
        self.body = body
        self.tenant = tenant
        self._query: QueryParams | None = None
        # Set for a keyed write whose own statement stores its answer (reach.web.idempotency).
        self.inline_key: idempotency.InlineKey | None = None

    def path(self, name: str) -> str:
        value: str = self.scope["path_params"][name]
        return value

    @property
    def query(self) -> QueryParams:
        if self._query is None:
            self._query = query_params(self.scope["query_string"])
        return self._query

    @property
    def partner_id(self) -> str:
        return self.principal.partner_id


Handler = Callable[[Call, Connection], Awaitable[Response]]


class _Headers:
    """The request headers routes read, found in one pass over the ASGI header list."""

    __slots__ = (
        "authorization",
        "consistency",
        "content_length",
        "content_type",
        "idempotency_key",
        "tenant",
    )

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        found: dict[bytes, bytes] = {}
        for name, value in raw:
            # ASGI servers give header names in lower case; the first of repeated ones counts.
            if name in _READ and name not in found:
                found[name] = value
        self.authorization = _text(found.get(b"authorization"))
        self.content_length = _text(found.get(b"content-length"))
        self.content_type = _text(found.get(b"content-type")) or ""
        self.tenant = _text(found.get(b"reach-tenant-id")) or _text(found.get(b"x-tenant-id"))
        self.idempotency_key = _text(found.get(b"idempotency-key"))
        self.consistency = _text(found.get(b"reach-consistency"))


_READ = frozenset(
    (
        b"authorization",
        b"content-length",
        b"content-type",
        b"idempotency-key",
        b"reach-consistency",
        b"reach-tenant-id",
        b"x-tenant-id",
    )
)


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


class Endpoint:
    """One route's ASGI app. ``idempotent``: the route honours ``Idempotency-Key`` (every
    write a tenant makes: reach.web.idempotency); ``key_in_write``: its handler's write may
    store the key's answer itself (``Call.inline_key``). ``replica``: a read that a replica
    may serve (reach.storage.replicas)."""

    __slots__ = (
        "access",
        "body",
        "handler",
        "idempotent",
        "key_in_write",
        "replica",
        "transaction",
        "write",
    )

    def __init__(
        self,
        handler: Handler,
        *,
        access: Access,
        write: bool,
        body: bool,
        transaction: bool = True,
        replica: bool = False,
        key_in_write: bool = False,
    ) -> None:
        if replica and write:
            raise ValueError("a write route cannot read from a replica")
        self.handler = handler
        self.access = access
        self.write = write
        self.body = body
        self.idempotent = write and access == "tenant"
        self.key_in_write = key_in_write and self.idempotent
        # False: the handler opens its own short transactions (a long poll must not hold a
        # connection, or on SQLite the process's only one, while it waits); it gets no conn.
        self.transaction = transaction
        self.replica = replica

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services: Services = scope["app"].services  # reach.web.app.ReachApp
        quota: list[Quota] = []
        deadlines = services.deadlines
        # Around everything, the body read included: a stalled client or a query stuck
        # behind a lock gives its connection back (the transaction rolls back) in bounded time.
        task = deadlines.enter()
        try:
            response = await self._serve(scope, receive, services, quota)
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
        if self.write:
            # Committed: a long poll of this process may now find the write's events.
            services.event_signal.nudge()
        if quota:  # ``response.headers`` builds a header view: only when there is a limit
            _add_quota(response.headers, quota)
        await response(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, services: Services, quota: list[Quota]
    ) -> Response:
        headers = _Headers(scope["headers"])
        principal = await services.tokens.verify(headers.authorization)
        state = scope["state"]
        state[PARTNER_KEY] = principal.partner_id
        limiter = services.limiter
        if limiter is not None:
            # Right after authentication: an over-budget caller costs no body read, no query.
            await limiter.check_partner(principal.partner_id)
        tenant = _NO_TENANT
        if self.access == "tenant":
            # Before the budgets are spent: a request its tenant's limit refuses must not spend
            # the partner's (reach.ratelimit), and the tenant's budget is keyed by its id.
            tenant = await _tenant(services, principal, headers.tenant, quota)
            state[TENANT_KEY] = tenant.id
        if limiter is not None:
            tenant_id = None if tenant is _NO_TENANT else tenant.id
            quota.extend(await limiter.charge(principal.partner_id, tenant_id))
        if self.access == "partner" and not principal.is_partner:
            raise Forbidden("Partner routes need a partner-scoped token (type: partner)")
        refuse_nul_in_url(scope)
        payload = None
        if self.body:
            payload = await json_body(
                receive,
                headers.content_type,
                headers.content_length,
                services.settings.max_body_bytes,
            )
        call = Call(scope, services, principal, payload, tenant)
        if not self.transaction:
            return await self.handler(call, _NO_CONNECTION)
        if services.replicas is not None:
            return await self._replicated(call, headers, services.replicas)
        key = headers.idempotency_key
        if key is not None and self.idempotent:

            async def handle(conn: Connection) -> Response:
                return await self._handle(call, conn, headers.tenant)

            return await idempotency.serve(call, key, handle, inline=self.key_in_write)
        async with services.db.transaction(write=self.write) as conn:
            return await self._handle(call, conn, headers.tenant)

    async def _replicated(self, call: Call, headers: _Headers, replicas: Replicas) -> Response:
        """With read replicas: a replica route's read goes where ``Reach-Consistency`` allows;
        a write answers with the position it committed at (reach.storage.replicas)."""
        if self.replica:

            async def read(conn: Connection) -> Response:
                return await self._handle(call, conn, headers.tenant)

            return await replicas.read(headers.consistency, read)

        async def handle(conn: Connection) -> Response:
            return await self._handle(call, conn, headers.tenant)

        key = headers.idempotency_key
        if key is not None and self.idempotent:
            response = await idempotency.serve(call, key, handle, inline=self.key_in_write)
        else:
            async with call.services.db.transaction(write=self.write) as conn:
                response = await handle(conn)
        if self.write:
            # Read after the commit, so at or past it; shared by the writes committed meanwhile.
            position = await replicas.position()
            if position is not None:
                response.raw_headers.append((_CONSISTENCY, replica_token(position).encode()))
        return response

    async def _handle(self, call: Call, conn: Connection, tenant_header: str | None) -> Response:
        """The handler, inside the request's transaction."""
        try:
            return await self.handler(call, conn)
        except StaleScope:
            tenant = call.tenant
            if tenant is _NO_TENANT:
                raise
            # A write found the tenant or schema changed behind this process's caches
            # (another node): nothing was written. Read both again and retry once, which
            # answers as the change requires (404 for a deleted tenant, 400 for a record
            # the new schema refuses).
            services = call.services
            principal = call.principal
            services.forget_stale(tenant)
            tenant = await tenants.resolve_for_call(
                conn,
                services.tenants,
                principal,
                tenant_header,
                leeway=services.settings.jwt_leeway_seconds,
            )
            again = Call(call.scope, services, principal, call.body, tenant)
            return await self.handler(again, conn)


async def _tenant(
    services: Services, principal: Principal, header: str | None, quota: list[Quota]
) -> Tenant:
    """The tenant the call acts for: from the process's cache, else one short read of its own
    (the body is not read yet, so it cannot wait inside the request's transaction)."""
    leeway = services.settings.jwt_leeway_seconds
    try:
        found = tenants.cached_for_call(services.tenants, principal, header, leeway=leeway)
        if found is None:
            async with services.db.transaction(write=False) as conn:
                found = await tenants.resolve_for_call(
                    conn, services.tenants, principal, header, leeway=leeway
                )
    except ReachError:
        # A refused look-up still costs its partner a request: naming tenants that do not
        # exist must not be a way to run queries past the partner's budget.
        if services.limiter is not None:
            quota.extend(await services.limiter.charge(principal.partner_id, None))
        raise
    return found


def route(
    path: str,
    method: str,
    handler: Handler,
    *,
    access: Access,
    write: bool = False,
    body: bool = False,
    replica: bool = False,
    name: str | None = None,
    transaction: bool = True,
    key_in_write: bool = False,
) -> Route:
    """``replica=True``: with ``REACH_DATABASE_READ_URLS`` set, a replica may serve this read
    (fresh as the request's ``Reach-Consistency`` token asks). Only for a handler whose every
    statement reads, and whose answer decides no write (docs/replicas.md).
    ``key_in_write=True``: the handler answers through ``call.inline_key`` when it is set
    (reach.web.idempotency.InlineKey)."""
    endpoint = Endpoint(
        handler,
        access=access,
        write=write,
        body=body,
        transaction=transaction,
        replica=replica,
        key_in_write=key_in_write,
    )
    return Route(path, endpoint, methods=[method], name=name or handler.__name__)


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
