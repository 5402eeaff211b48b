"""A partner's webhook endpoints: validation, secrets, rotation, and the delivery log.

Secrets are Standard Webhooks ``whsec_`` secrets, shown once (at create and at rotation) and
stored sealed by :class:`reach.secretbox.SecretBox`, bound to the endpoint. A rotation keeps
the old secret signing next to the new one for :data:`ROTATION_OVERLAP`, so receivers can
switch without losing a delivery.

Filters: ``events`` (types), ``tenants`` (ids or external ids of the partner's tenants) and
``schemas`` (names or ids of its schema definitions); absent or null means all. An event that
names no tenant (a schema definition's) or no schema (a tenant's) is not held back by that
filter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import orjson

from reach import clock
from reach.cursors import decode_cursor, encode_cursor
from reach.domain import schemas, tenants
from reach.domain.compiled import json_type
from reach.domain.events import TYPES
from reach.domain.ordered_ids import new_ordered_id
from reach.errors import BadRequest, Conflict, NotFound
from reach.secretbox import SecretBox
from reach.storage import webhook_deliveries as deliveries_store
from reach.storage import webhooks as store
from reach.storage.database import Connection, Row
from reach.webhooks import signing
from reach.webhooks.addresses import check_literal

EVENT_TYPES = TYPES  # one list: the events module's
# What a delivery's status may be (the deliveries list filters on it).
DELIVERY_STATUSES = deliveries_store.STATUSES
ROTATION_OVERLAP = timedelta(hours=24)
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION = 500
MAX_FILTER_ITEMS = 100
_INVALID = "Invalid webhook endpoint"
_CREATE_FIELDS = ("url", "events", "tenants", "schemas", "description")
_UPDATE_FIELDS = (*_CREATE_FIELDS, "enabled")


def box_context(endpoint_id: str) -> str:
    """The associated data a secret is sealed with: this endpoint's, never a partner's."""
    return f"webhook:{endpoint_id}"


class Endpoint(msgspec.Struct, frozen=True):
    id: str
    partner_id: str
    url: str
    description: str | None
    events: list[str] | None
    tenants: list[str] | None
    schemas: list[str] | None
    enabled: bool
    disabled_reason: str | None
    failing_since: str | None
    created_at: str
    updated_at: str

    @classmethod
    def from_row(cls, row: Row) -> Endpoint:
        def listed(value: Any) -> list[str] | None:
            return None if value is None else list(orjson.loads(value))

        return cls(
            id=str(row["id"]),
            partner_id=str(row["partner_id"]),
            url=row["url"],
            description=row["description"],
            events=listed(row["event_types"]),
            tenants=listed(row["tenant_ids"]),
            schemas=listed(row["schema_ids"]),
            enabled=bool(row["enabled"]),
            disabled_reason=row["disabled_reason"],
            failing_since=row["failing_since"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def _object(body: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest(_INVALID, errors=[f"body: expected object, got {json_type(body)}"])
    unknown = [f"{key}: unknown field" for key in body if key not in allowed]
    if unknown:
        raise BadRequest(_INVALID, errors=unknown)
    return body


def _sendable(url: str) -> bool:
    """Whether the HTTP client the sender uses takes the URL (an IDNA host it cannot encode,
    for one, it refuses)."""
    try:
        httpx.URL(url).raw_host.decode("ascii")
    except (httpx.InvalidURL, UnicodeError, ValueError):
        return False
    return True


def check_url(value: Any, *, allow_private: bool) -> str:
    if not isinstance(value, str):
        raise BadRequest(_INVALID, errors=[f"url: expected string, got {json_type(value)}"])
    problem = None
    host = ""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises on a malformed port
    except ValueError:
        parts, port, problem = None, None, "not a URL"
    if parts is not None:
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https"):
            problem = "must be an http:// or https:// URL"
        elif not host:
            problem = "has no host"
        elif parts.username is not None or parts.password is not None:
            problem = "must not carry credentials (verify the signature instead)"
        elif parts.fragment:
            problem = "must not have a #fragment"
        elif len(value) > MAX_URL_LENGTH:
            problem = f"longer than {MAX_URL_LENGTH} characters"
        elif port == 0:
            problem = "port 0 is not a port"
        elif any(ord(c) < 0x21 or c == "\x7f" for c in value):
            problem = "contains spaces or control characters"
        elif not _sendable(value):
            problem = "not a URL that can be sent to"
    if problem:
        raise BadRequest(_INVALID, errors=[f"url: {problem}"])
    check_literal(host, allow_private=allow_private, where="url")
    return value


def _strings(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(
            _INVALID, errors=[f"{name}: expected a list of non-empty strings, or null for all"]
        )
    if not value:
        raise BadRequest(_INVALID, errors=[f"{name}: empty list (null means all)"])
    if len(value) > MAX_FILTER_ITEMS:
        raise BadRequest(_INVALID, errors=[f"{name}: more than {MAX_FILTER_ITEMS} items"])
    return list(dict.fromkeys(value))


def _events(value: Any) -> list[str] | None:
    given = _strings("events", value)
    if given is None:
        return None
    unknown = [
        f"events[{i}]: unknown event type {v!r}"
        for i, v in enumerate(given)
        if v not in EVENT_TYPES
    ]
    if unknown:
        raise BadRequest(_INVALID, errors=unknown)
    return given


async def _tenant_ids(conn: Connection, partner_id: str, value: Any) -> list[str] | None:
    given = _strings("tenants", value)
    if given is None:
        return None
    found: list[str] = []
    problems: list[str] = []
    for i, key in enumerate(given):
        tenant = await tenants.find(conn, partner_id, key)
        if tenant is None:
            problems.append(f"tenants[{i}]: no tenant {key!r}")
        else:
            found.append(tenant.id)
    if problems:
        raise BadRequest(_INVALID, errors=problems)
    return list(dict.fromkeys(found))


async def _schema_ids(conn: Connection, partner_id: str, value: Any) -> list[str] | None:
    given = _strings("schemas", value)
    if given is None:
        return None
    found: list[str] = []
    problems: list[str] = []
    for i, key in enumerate(given):
        definition = await schemas.find(conn, partner_id, key)
        if definition is None:
            problems.append(f"schemas[{i}]: no schema definition {key!r}")
        else:
            found.append(definition.id)
    if problems:
        raise BadRequest(_INVALID, errors=problems)
    return list(dict.fromkeys(found))


def _description(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise BadRequest(
            _INVALID, errors=[f"description: expected a string of at most {MAX_DESCRIPTION}"]
        )
    return value


def _json(value: list[str] | None) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


async def create(
    conn: Connection, box: SecretBox, partner_id: str, body: Any, *, allow_private: bool
) -> tuple[Endpoint, str]:
    """The new endpoint and its secret (shown this once)."""
    given = _object(body, _CREATE_FIELDS)
    if "url" not in given:
        raise BadRequest(_INVALID, errors=["url: required"])
    url = check_url(given["url"], allow_private=allow_private)
    endpoint_id = new_ordered_id()
    values: dict[str, Any] = {
        "id": endpoint_id,
        "partner_id": partner_id,
        "url": url,
        "description": _description(given.get("description")),
        "event_types": _json(_events(given.get("events"))),
        "tenant_ids": _json(await _tenant_ids(conn, partner_id, given.get("tenants"))),
        "schema_ids": _json(await _schema_ids(conn, partner_id, given.get("schemas"))),
        "enabled": True,
        "created_at": clock.now(),
    }
    if await store.count(conn, partner_id) >= store.MAX_ENDPOINTS:
        raise Conflict(f"A partner has at most {store.MAX_ENDPOINTS} webhook endpoints")
    secret = signing.new_secret()
    values["sealed_secret"] = box.seal(box_context(endpoint_id), secret)
    await store.insert(conn, values)
    return await get(conn, partner_id, endpoint_id), secret


async def get(conn: Connection, partner_id: str, endpoint_id: str) -> Endpoint:
    row = None
    if clock.is_uuid(endpoint_id):
        row = await store.get(conn, partner_id, endpoint_id.lower())
    if row is None:
        raise NotFound("Webhook endpoint not found")
    return Endpoint.from_row(row)


async def page(
    conn: Connection, partner_id: str, cursor: str | None, limit: int
) -> tuple[list[Endpoint], bool, int, str | None]:
    key = decode_cursor(cursor, "webhooks", 2)
    rows = await store.page(conn, partner_id, None if key is None else (key[0], key[1]), limit + 1)
    found = [Endpoint.from_row(r) for r in rows[:limit]]
    has_next = len(rows) > limit
    next_cursor = (
        encode_cursor("webhooks", [found[-1].created_at, found[-1].id]) if has_next else None
    )
    return found, has_next, await store.count(conn, partner_id), next_cursor


async def update(
    conn: Connection, partner_id: str, endpoint_id: str, body: Any, *, allow_private: bool
) -> Endpoint:
    given = _object(body, _UPDATE_FIELDS)
    current = await get(conn, partner_id, endpoint_id)
    values: dict[str, Any] = {}
    if "url" in given:
        values["url"] = check_url(given["url"], allow_private=allow_private)
    if "description" in given:
        values["description"] = _description(given["description"])
    if "events" in given:
        values["event_types"] = _json(_events(given["events"]))
    if "tenants" in given:
        values["tenant_ids"] = _json(await _tenant_ids(conn, partner_id, given["tenants"]))
    if "schemas" in given:
        values["schema_ids"] = _json(await _schema_ids(conn, partner_id, given["schemas"]))
    if "enabled" in given:
        if not isinstance(given["enabled"], bool):
            raise BadRequest(_INVALID, errors=["enabled: expected true or false"])
        values["enabled"] = given["enabled"]
        if given["enabled"] and not current.enabled:
            # Enabled again by the partner: it starts with a clean record.
            values["disabled_reason"] = None
            values["failing_since"] = None
        elif not given["enabled"] and current.enabled:
            values["disabled_reason"] = "Disabled by the partner"
    if values:
        values["updated_at"] = clock.now()
        await store.update(conn, partner_id, current.id, values)
    return await get(conn, partner_id, current.id)


async def delete(conn: Connection, partner_id: str, endpoint_id: str) -> Endpoint:
    current = await get(conn, partner_id, endpoint_id)
    await store.delete(conn, partner_id, current.id)
    return current


async def rotate_secret(
    conn: Connection, box: SecretBox, partner_id: str, endpoint_id: str
) -> tuple[Endpoint, str, str]:
    """A new secret; the current one keeps signing until the returned expiry. A rotation
    within the overlap of the last one drops the oldest secret (two sign at most)."""
    current = await get(conn, partner_id, endpoint_id)
    secret = signing.new_secret()
    now = datetime.now(UTC)
    expires = clock.format_timestamp(now + ROTATION_OVERLAP)
    sealed = box.seal(box_context(current.id), secret)
    stamp = clock.format_timestamp(now)
    await store.rotate(conn, partner_id, current.id, sealed, expires, stamp)
    return await get(conn, partner_id, current.id), secret, expires


def signing_secrets(box: SecretBox, row: Row, now: str) -> list[str]:
    """The secrets that sign a delivery now, newest first (the sender's view of an endpoint)."""
    context = box_context(str(row["id"]))
    found = [box.open(context, row["sealed_secret"])]
    previous = row["sealed_previous_secret"]
    until = row["previous_secret_expires_at"]
    if previous is not None and until is not None and until > now:
        found.append(box.open(context, previous))
    return found


# -- the delivery log


def delivery_wire(row: Row) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "endpointId": str(row["endpoint_id"]),
        "eventId": row["event_id"],
        "eventType": row["event_type"],
        "tenantId": None if row["tenant_id"] is None else str(row["tenant_id"]),
        "status": row["status"],
        "attempts": int(row["attempts"]),
        "lastStatusCode": row["last_status_code"],
        "lastError": row["last_error"],
        "lastResponseBody": row["last_response_body"],
        "lastAttemptAt": row["last_attempt_at"],
        "nextAttemptAt": row["next_attempt_at"] if row["status"] == "pending" else None,
        "createdAt": row["created_at"],
        "completedAt": row["completed_at"],
    }


async def deliveries(
    conn: Connection,
    partner_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, str | None]:
    endpoint = await get(conn, partner_id, endpoint_id)
    key = decode_cursor(cursor, "webhook-deliveries", 1)
    rows = await deliveries_store.page(
        conn,
        partner_id,
        endpoint.id,
        status=status,
        before_id=None if key is None else str(key[0]),
        limit=limit + 1,
    )
    has_next = len(rows) > limit
    found = [delivery_wire(r) for r in rows[:limit]]
    next_cursor = encode_cursor("webhook-deliveries", [found[-1]["id"]]) if has_next else None
    return found, has_next, next_cursor


async def retry(
    conn: Connection, partner_id: str, endpoint_id: str, delivery_id: str
) -> dict[str, Any]:
    """Due again now, whatever it came to (a succeeded one is sent once more)."""
    endpoint = await get(conn, partner_id, endpoint_id)
    row = None
    if clock.is_uuid(delivery_id):
        row = await deliveries_store.retry(
            conn, partner_id, endpoint.id, delivery_id.lower(), clock.now()
        )
    if row is None:
        raise NotFound("Webhook delivery not found")
    return delivery_wire(row)
