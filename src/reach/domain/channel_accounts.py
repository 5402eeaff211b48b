"""Channel accounts: the sending accounts of a tenant (``reach-managed`` or ``twilio``).

Reach documents listing them and changing ``channelAccountMetadata.baseDomain``; creating one
(``POST``) is this server's addition, so a tenant can have any. ``baseDomain`` is a host name
(RFC 1123 labels, at least two, no scheme, port or path), stored in lower case.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.domain.compiled import json_type
from reach.domain.ordered_ids import new_ordered_id
from reach.domain.tenants import Tenant
from reach.errors import BadRequest, NotFound
from reach.storage.channel_accounts import TenantChannelAccounts
from reach.storage.database import Connection, Row

TYPES = ("reach-managed", "twilio")
MAX_ACCOUNTS = 100
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


class ChannelAccount(msgspec.Struct, frozen=True):
    id: str
    type: str
    metadata: dict[str, Any]
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> ChannelAccount:
        return cls(
            id=str(row["id"]),
            type=row["type"],
            metadata=orjson.loads(row["metadata"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def host_name_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a host name, got {json_type(value)}"
    labels = value.lower().removesuffix(".").split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(x) for x in labels):
        return f"{value!r} is not a host name like mail.example.com"
    if labels[-1].isdigit():
        return f"{value!r} is an address, not a host name"
    return None


def _metadata(given: Any, where: str, *, required: bool) -> dict[str, Any]:
    if given is None and not required:
        return {}
    if not isinstance(given, dict):
        raise BadRequest(
            "Invalid channel account", errors=[f"{where}: expected object, got {json_type(given)}"]
        )
    errors = [f"{where}.{key}: unknown field" for key in given if key != "baseDomain"]
    out: dict[str, Any] = {}
    if "baseDomain" in given and given["baseDomain"] is not None:
        problem = host_name_problem(given["baseDomain"])
        if problem:
            errors.append(f"{where}.baseDomain: {problem}")
        else:
            out["baseDomain"] = given["baseDomain"].lower().removesuffix(".")
    elif required:
        errors.append(f"{where}.baseDomain: required")
    if errors:
        raise BadRequest("Invalid channel account", errors=errors)
    return out


def _body(body: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(
            "Invalid channel account", errors=[f"body: expected object, got {json_type(body)}"]
        )
    unknown = [f"{key}: unknown field" for key in body if key not in keys]
    if unknown:
        raise BadRequest("Invalid channel account", errors=unknown)
    return body


async def list_all(conn: Connection, tenant: Tenant) -> list[ChannelAccount]:
    rows = await TenantChannelAccounts(conn, tenant.id).all()
    return [ChannelAccount.from_row(row) for row in rows]


async def create(conn: Connection, tenant: Tenant, body: Any) -> ChannelAccount:
    given = _body(body, ("type", "channelAccountMetadata"))
    if given.get("type") not in TYPES:
        raise BadRequest(
            "Invalid channel account", errors=[f"type: required, one of {', '.join(TYPES)}"]
        )
    metadata = _metadata(
        given.get("channelAccountMetadata"), "channelAccountMetadata", required=False
    )
    door = TenantChannelAccounts(conn, tenant.id)
    if len(await door.all()) >= MAX_ACCOUNTS:
        raise BadRequest(
            "Too many channel accounts", errors=[f"a tenant has at most {MAX_ACCOUNTS}"]
        )
    at = clock.now()
    account = ChannelAccount(new_ordered_id(), given["type"], metadata, at, at)
    await door.insert(account.id, account.type, orjson.dumps(metadata).decode(), at)
    return account


async def update(conn: Connection, tenant: Tenant, account_id: str, body: Any) -> ChannelAccount:
    given = _body(body, ("channelAccountMetadata",))
    if "channelAccountMetadata" not in given:
        raise BadRequest("Invalid channel account", errors=["channelAccountMetadata: required"])
    metadata = _metadata(given["channelAccountMetadata"], "channelAccountMetadata", required=True)
    door = TenantChannelAccounts(conn, tenant.id)
    current = await door.get(account_id) if clock.is_uuid(account_id) else None
    if current is None:
        raise NotFound(f"Channel account {account_id!r} not found")
    merged = {**orjson.loads(current["metadata"]), **metadata}
    row = await door.update(account_id, orjson.dumps(merged).decode(), clock.now())
    if row is None:
        raise NotFound(f"Channel account {account_id!r} not found")
    return ChannelAccount.from_row(row)
