"""Tenants: create, read, list, update, soft-delete, and resolving the tenant a call acts for."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec
import orjson

from reach import clock
from reach.auth import Principal
from reach.cursors import decode_cursor, encode_cursor
from reach.domain.tenant_lookups import TenantLookups
from reach.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from reach.storage import tenants as store
from reach.storage.database import Connection, DuplicateKey, Row

ATTRIBUTE_FIELDS = (
    "locations",
    "branding",
    "dataIntegrationCompletedAt",
    "websiteTrackingCompletedAt",
    "measureDateAttributionStyle",
    "smsOptInImageUrls",
    "uiDefaults",
)
MAX_EXTERNAL_ID_LENGTH = 255


class Tenant(msgspec.Struct, frozen=True):
    id: str
    partner_id: str
    external_id: str
    name: str
    website: str | None
    attributes: dict[str, Any]
    created_at: str
    updated_at: str
    deleted_at: str | None
    external_id_changed_at: str | None = None

    @property
    def bound_since(self) -> float:
        """Since when (seconds) this tenant has held its external id."""
        return _epoch_seconds(self.external_id_changed_at or self.created_at)

    @classmethod
    def from_row(cls, row: Row) -> Tenant:
        return cls(
            id=str(row["id"]),
            partner_id=str(row["partner_id"]),
            external_id=row["external_id"],
            name=row["name"],
            website=row["website"],
            attributes=orjson.loads(row["attributes"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            deleted_at=row["deleted_at"],
            external_id_changed_at=row["external_id_changed_at"],
        )


@lru_cache(maxsize=4096)
def _epoch_seconds(timestamp: str) -> float:
    # Asked on every tenant-token call for the same few cached tenants: parse each text once.
    return clock.parse_timestamp(timestamp).timestamp()


class TenantPage(msgspec.Struct, frozen=True):
    results: list[Tenant]
    has_next_page: bool
    total: int
    cursor: str | None


def _check_external_id(external_id: str, field: str) -> None:
    if not external_id.strip():
        raise BadRequest("Validation failed", errors=[f"{field}: must not be empty"])
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise BadRequest(
            "Validation failed",
            errors=[f"{field}: at most {MAX_EXTERNAL_ID_LENGTH} characters"],
        )


async def _refuse_another_tenants_id(
    conn: Connection, partner_id: str, external_id: str, field: str, own_id: str | None
) -> None:
    """An external id may look like a UUID (partners often use their own), but not be another
    tenant's Reach id: ``reach-tenant-id`` and the tenant paths take an id first, so that
    tenant could not be named by its external id, and the two would be easy to confuse."""
    if not clock.is_uuid(external_id):
        return
    as_id = external_id.lower()
    if as_id != own_id and await store.id_taken(conn, partner_id, as_id):
        raise Conflict(f"{field} {external_id!r} is the id of another tenant")


def _check_name(name: str) -> None:
    if not name.strip():
        raise BadRequest("Validation failed", errors=["name: must not be empty"])


async def create(
    conn: Connection,
    partner_id: str,
    *,
    external_id: str,
    name: str,
    website: str | None,
    attributes: dict[str, Any],
) -> Tenant:
    _check_external_id(external_id, "external_id")
    _check_name(name)
    if await store.external_id_taken(conn, partner_id, external_id):
        raise Conflict(f"A tenant with external_id {external_id!r} already exists")
    await _refuse_another_tenants_id(conn, partner_id, external_id, "external_id", own_id=None)
    at = clock.now()
    tenant = Tenant(
        id=clock.new_id(),
        partner_id=partner_id,
        external_id=external_id,
        name=name,
        website=website,
        attributes=attributes,
        created_at=at,
        updated_at=at,
        deleted_at=None,
    )
    values = {
        "id": tenant.id,
        "partner_id": partner_id,
        "external_id": external_id,
        "name": name,
        "website": website,
        "attributes": orjson.dumps(attributes).decode(),
        "created_at": at,
    }
    try:
        await store.insert(conn, values)
    except DuplicateKey:
        # A concurrent create committed the same external id after our check.
        raise Conflict(f"A tenant with external_id {external_id!r} already exists") from None
    return tenant


async def find(conn: Connection, partner_id: str, key: str) -> Tenant | None:
    """A tenant of this partner by Reach id (UUID) or by the partner's external id."""
    row = None
    if clock.is_uuid(key):
        row = await store.get_by_id(conn, partner_id, key.lower())
    if row is None:
        row = await store.get_by_external_id(conn, partner_id, key)
    return None if row is None else Tenant.from_row(row)


async def get(conn: Connection, partner_id: str, key: str, *, include_deleted: bool) -> Tenant:
    tenant = await find(conn, partner_id, key)
    if tenant is None or (tenant.deleted_at is not None and not include_deleted):
        raise NotFound("Tenant not found")
    return tenant


async def update(
    conn: Connection,
    partner_id: str,
    key: str,
    changes: dict[str, Any],
) -> Tenant:
    """Apply the fields present in ``changes`` (absent = unchanged, None = cleared)."""
    tenant = await get(conn, partner_id, key, include_deleted=False)
    external_id = changes.get("externalId", tenant.external_id)
    if external_id is None:
        raise BadRequest("Validation failed", errors=["externalId: cannot be null"])
    _check_external_id(external_id, "externalId")
    renamed = external_id != tenant.external_id
    if renamed and await store.external_id_taken(conn, partner_id, external_id):
        raise Conflict(f"A tenant with externalId {external_id!r} already exists")
    if renamed:
        await _refuse_another_tenants_id(conn, partner_id, external_id, "externalId", tenant.id)
    name = changes.get("name", tenant.name)
    if name is None:
        raise BadRequest("Validation failed", errors=["name: cannot be null"])
    _check_name(name)
    now = clock.now()
    attributes = dict(tenant.attributes)
    for field in ATTRIBUTE_FIELDS:
        if field in changes:
            if changes[field] is None:
                attributes.pop(field, None)
            else:
                attributes[field] = changes[field]
    updated = msgspec.structs.replace(
        tenant,
        external_id=external_id,
        name=name,
        website=changes.get("website", tenant.website),
        attributes=attributes,
        updated_at=now,
        # Tokens minted before this moment named the tenant that held the old external id.
        external_id_changed_at=now if renamed else tenant.external_id_changed_at,
    )
    # Cached copies are dropped once this commits (storage.tenants announces the change).
    await _save(conn, updated)
    return updated


async def soft_delete(conn: Connection, partner_id: str, key: str) -> Tenant:
    tenant = await get(conn, partner_id, key, include_deleted=False)
    at = clock.now()
    deleted = msgspec.structs.replace(tenant, deleted_at=at, updated_at=at)
    await _save(conn, deleted)
    return deleted


async def _save(conn: Connection, tenant: Tenant) -> None:
    values = {
        "external_id": tenant.external_id,
        "name": tenant.name,
        "website": tenant.website,
        "attributes": orjson.dumps(tenant.attributes).decode(),
        "updated_at": tenant.updated_at,
        "deleted_at": tenant.deleted_at,
        "external_id_changed_at": tenant.external_id_changed_at,
    }
    try:
        await store.update(conn, tenant.partner_id, tenant.id, values)
    except DuplicateKey:
        external_id = tenant.external_id
        raise Conflict(f"A tenant with externalId {external_id!r} already exists") from None


def _cursor_position(key: list[Any] | None, order_by: str) -> tuple[str, str] | None:
    """The (sort value, id) a cursor names, refused unless shaped like one this server issued.

    A forged value would otherwise reach PostgreSQL as a malformed timestamp or uuid (a 500).
    """
    if key is None:
        return None
    value, last_id = key
    valid = (
        isinstance(value, str)
        and "\x00" not in value  # PostgreSQL text cannot hold it: a 500, not a page
        and isinstance(last_id, str)
        and clock.is_uuid(last_id)
        and last_id == last_id.lower()
        and (order_by == "name" or _is_canonical_timestamp(value))
    )
    if not valid:
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    return value, last_id


def _is_canonical_timestamp(text: str) -> bool:
    try:
        return clock.format_timestamp(clock.parse_timestamp(text)) == text
    except ValueError:
        return False


async def page(
    conn: Connection,
    partner_id: str,
    *,
    cursor: str | None,
    limit: int,
    search: str | None,
    order_by: str,
    descending: bool,
    include_deleted: bool,
) -> TenantPage:
    kind = f"tenants:{order_by}:{'desc' if descending else 'asc'}"
    after = _cursor_position(decode_cursor(cursor, kind, 2), order_by)
    rows, total = await store.page(
        conn,
        partner_id,
        order_by=order_by,
        descending=descending,
        after=after,
        limit=limit + 1,
        search=search,
        include_deleted=include_deleted,
    )
    results = [Tenant.from_row(row) for row in rows[:limit]]
    has_next = len(rows) > limit
    next_cursor = None
    if has_next:
        last = results[-1]
        sort_value = {"name": last.name, "created_at": last.created_at}.get(
            order_by, last.updated_at
        )
        next_cursor = encode_cursor(kind, [sort_value, last.id])
    return TenantPage(results=results, has_next_page=has_next, total=total, cursor=next_cursor)


def cached_for_call(
    lookups: TenantLookups, principal: Principal, header: str | None, *, leeway: float
) -> Tenant | None:
    """The tenant an ``/api/*`` call acts for, if this process has it cached (no query)."""
    key, by_external_id = _target(principal, header)
    tenant = lookups.get(principal.partner_id, key, by_external_id=by_external_id)
    return None if tenant is None else _admit(tenant, principal, header, leeway)


async def resolve_for_call(
    conn: Connection,
    lookups: TenantLookups,
    principal: Principal,
    header: str | None,
    *,
    leeway: float,
) -> Tenant:
    """The tenant an ``/api/*`` call acts for.

    A tenant token acts for its own tenant (a header naming another one is refused) — only if
    it was issued after that tenant came to hold the token's external id; a partner token must
    name one of its own tenants in ``reach-tenant-id``. A tenant of another partner is
    indistinguishable from one that does not exist.
    """
    key, by_external_id = _target(principal, header)
    tenant = await _lookup(conn, lookups, principal.partner_id, key, by_external_id=by_external_id)
    return _admit(tenant, principal, header, leeway)


def _target(principal: Principal, header: str | None) -> tuple[str, bool]:
    """What names the tenant, and whether only as an external id."""
    if principal.tenant_external_id is not None:
        return principal.tenant_external_id, True
    if not header:
        raise BadRequest(
            "The reach-tenant-id header is required with a partner token",
            errors=["reach-tenant-id: required when using a partner-scoped token"],
        )
    return header, False


def _admit(tenant: Tenant, principal: Principal, header: str | None, leeway: float) -> Tenant:
    if principal.tenant_external_id is None:
        return tenant
    issued_at = principal.issued_at
    # Whole seconds: ``iat`` has no fraction, so a token minted in the second the tenant was
    # created (or renamed) but after it would otherwise be refused.
    if issued_at is not None and issued_at + leeway < int(tenant.bound_since):
        raise Unauthorized(
            "Token was issued before its tenant held this external id; mint a new token"
        )
    if header and not _names(header, tenant):
        raise Forbidden("A tenant token cannot act for another tenant")
    return tenant


def _names(key: str, tenant: Tenant) -> bool:
    """Whether ``key`` (an id in any letter case, or the external id) denotes ``tenant``."""
    if key == tenant.external_id:
        return True
    return clock.is_uuid(key) and key.lower() == tenant.id


async def _lookup(
    conn: Connection, lookups: TenantLookups, partner_id: str, key: str, *, by_external_id: bool
) -> Tenant:
    tenant = lookups.get(partner_id, key, by_external_id=by_external_id)
    if tenant is None:
        generation = lookups.generation
        if by_external_id:
            row = await store.get_by_external_id(conn, partner_id, key)
            tenant = None if row is None else Tenant.from_row(row)
        else:
            tenant = await find(conn, partner_id, key)
        if tenant is None or tenant.deleted_at is not None:
            raise NotFound("Tenant not found")
        # Only canonical keys are cached, so an upper-case UUID never serves a tenant under a
        # key its change would not name; a read that straddled a forget is not cached.
        if key in (tenant.id, tenant.external_id):
            lookups.put(tenant, key, by_external_id=by_external_id, seen=generation)
    return tenant
