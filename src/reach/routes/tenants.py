"""``/partner/tenants`` — the partner manages its tenants (Reach "businesses")."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response
from starlette.routing import Route

from reach import clock
from reach.domain import tenants
from reach.domain.tenants import Tenant
from reach.errors import BadRequest
from reach.routes.events import publish
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import convert, ok, query_bool, query_choice, query_int


class Location(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    addressLine1: str | None = None
    addressLine2: str | None = None
    addressLine3: str | None = None
    locality: str | None = None
    district: str | None = None
    postalCode: str | None = None
    countryCode: str | None = None


class UiDefaults(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    emailHelpDialogShow: bool | None = None
    engageOnboardingShow: bool | None = None


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    external_id: str
    name: str
    locations: list[Location]
    website: str | None = None
    branding: dict[str, Any] | None = None
    dataIntegrationCompletedAt: str | None = None
    websiteTrackingCompletedAt: str | None = None
    measureDateAttributionStyle: str | None = None
    smsOptInImageUrls: list[str] | None = None
    uiDefaults: UiDefaults | None = None


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True):
    externalId: str | msgspec.UnsetType | None = msgspec.UNSET
    name: str | msgspec.UnsetType | None = msgspec.UNSET
    website: str | msgspec.UnsetType | None = msgspec.UNSET
    locations: list[Location] | msgspec.UnsetType | None = msgspec.UNSET
    branding: dict[str, Any] | msgspec.UnsetType | None = msgspec.UNSET
    dataIntegrationCompletedAt: str | msgspec.UnsetType | None = msgspec.UNSET
    websiteTrackingCompletedAt: str | msgspec.UnsetType | None = msgspec.UNSET
    measureDateAttributionStyle: str | msgspec.UnsetType | None = msgspec.UNSET
    smsOptInImageUrls: list[str] | msgspec.UnsetType | None = msgspec.UNSET
    uiDefaults: UiDefaults | msgspec.UnsetType | None = msgspec.UNSET


_TIMESTAMP_FIELDS = ("dataIntegrationCompletedAt", "websiteTrackingCompletedAt")


def _check_timestamps(values: dict[str, Any]) -> None:
    errors = []
    for field in _TIMESTAMP_FIELDS:
        value = values.get(field)
        if value is None:
            continue
        try:
            clock.parse_timestamp(value)
        except ValueError:
            errors.append(f"{field}: expected an RFC 3339 date-time")
    if errors:
        raise BadRequest("Validation failed", errors=errors)


def tenant_wire(tenant: Tenant) -> dict[str, Any]:
    attrs = tenant.attributes
    return {
        "id": tenant.id,
        "externalId": tenant.external_id,
        "name": tenant.name,
        "website": tenant.website,
        "locations": attrs.get("locations", []),
        "branding": attrs.get("branding"),
        "dataIntegrationComplete": attrs.get("dataIntegrationCompletedAt") is not None,
        "dataIntegrationCompletedAt": attrs.get("dataIntegrationCompletedAt"),
        "websiteTrackingCompletedAt": attrs.get("websiteTrackingCompletedAt"),
        "measureDateAttributionStyle": attrs.get("measureDateAttributionStyle"),
        "smsOptInImageUrls": attrs.get("smsOptInImageUrls", []),
        "uiDefaults": attrs.get("uiDefaults", {}),
        "userCount": 0,
        "createdAt": tenant.created_at,
        "updatedAt": tenant.updated_at,
        "deletedAt": tenant.deleted_at,
    }


async def create_tenant(call: Call, conn: Connection) -> Response:
    given = convert(call.body, TenantCreate)
    attributes = {
        field: value
        for field, value in msgspec.to_builtins(given).items()
        if field in tenants.ATTRIBUTE_FIELDS and value is not None
    }
    _check_timestamps(attributes)
    tenant = await tenants.create(
        conn,
        call.partner_id,
        external_id=given.external_id,
        name=given.name,
        website=given.website,
        attributes=attributes,
    )
    await publish(call, conn, "tenant.created", tenant_wire(tenant), tenant_id=tenant.id)
    return ok(tenant_wire(tenant), "Tenant created")


async def list_tenants(call: Call, conn: Connection) -> Response:
    query = call.query
    order_by = query_choice(query, "orderBy", ("created_at", "name", "updated_at"), "created_at")
    direction = query_choice(query, "orderDirection", ("asc", "desc"), "asc")
    result = await tenants.page(
        conn,
        call.partner_id,
        cursor=query.get("cursor"),
        limit=query_int(query, "limit", 100, low=1, high=1000),
        search=query.get("search") or None,
        order_by=order_by,
        descending=direction == "desc",
        include_deleted=query_bool(query, "includeDeleted"),
    )
    return ok(
        {
            "results": [tenant_wire(t) for t in result.results],
            "pagination": {
                "hasNextPage": result.has_next_page,
                "total": result.total,
                "cursor": result.cursor,
            },
        }
    )


async def get_tenant(call: Call, conn: Connection) -> Response:
    include_deleted = query_bool(call.query, "includeDeleted")
    tenant = await tenants.get(
        conn, call.partner_id, call.path("id"), include_deleted=include_deleted
    )
    return ok(tenant_wire(tenant))


async def update_tenant(call: Call, conn: Connection) -> Response:
    given = convert(call.body, TenantUpdate)
    changes = {
        field: getattr(given, field)
        for field in given.__struct_fields__
        if getattr(given, field) is not msgspec.UNSET
    }
    changes = msgspec.to_builtins(changes)
    _check_timestamps(changes)
    tenant = await tenants.update(conn, call.partner_id, call.path("id"), changes)
    await publish(call, conn, "tenant.updated", tenant_wire(tenant), tenant_id=tenant.id)
    return ok(tenant_wire(tenant), "Tenant updated")


async def delete_tenant(call: Call, conn: Connection) -> Response:
    tenant = await tenants.soft_delete(conn, call.partner_id, call.path("id"))
    await publish(call, conn, "tenant.deleted", tenant_wire(tenant), tenant_id=tenant.id)
    return ok(tenant_wire(tenant), "Tenant deleted")


ROUTES: list[Route] = [
    route("/partner/tenants", "POST", create_tenant, access="partner", write=True, body=True),
    route("/partner/tenants", "GET", list_tenants, access="partner", replica=True),
    route("/partner/tenants/{id}", "GET", get_tenant, access="partner", replica=True),
    route("/partner/tenants/{id}", "PATCH", update_tenant, access="partner", write=True, body=True),
    route("/partner/tenants/{id}", "DELETE", delete_tenant, access="partner", write=True),
]
