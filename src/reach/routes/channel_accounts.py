"""``/api/channel/accounts`` — the tenant's channel accounts."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response
from starlette.routing import Route

from reach.domain import channel_accounts
from reach.domain.channel_accounts import ChannelAccount
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, refuse_nul

COLLECTION = "/api/channel/accounts"
ITEM = "/api/channel/accounts/{id}"


def account_wire(account: ChannelAccount) -> dict[str, Any]:
    return {
        "id": account.id,
        "type": account.type,
        "channelAccountMetadata": account.metadata,
        "createdAt": account.created_at,
        "updatedAt": account.updated_at,
    }


async def list_channel_accounts(call: Call, conn: Connection) -> Response:
    found = await channel_accounts.list_all(conn, call.tenant)
    return ok([account_wire(a) for a in found])


async def create_channel_account(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    account = await channel_accounts.create(conn, call.tenant, call.body)
    return ok(account_wire(account), "Channel account created")


async def update_channel_account(call: Call, conn: Connection) -> Response:
    refuse_nul(call.body)
    account = await channel_accounts.update(conn, call.tenant, call.path("id"), call.body)
    return ok(account_wire(account), "Channel account updated")


ROUTES: list[Route] = [
    route(COLLECTION, "GET", list_channel_accounts, access="tenant", replica=True),
    route(COLLECTION, "POST", create_channel_account, access="tenant", write=True, body=True),
    route(ITEM, "PATCH", update_channel_account, access="tenant", write=True, body=True),
]
