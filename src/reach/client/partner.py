"""The partner's own routes: its tenants and its schema definitions (no tenant header)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote

from reach.client.models import Page, SchemaDefinition, Tenant
from reach.client.transport import Transport


def segment(value: str) -> str:
    """A path segment: every reserved character escaped (external ids may hold ``/``)."""
    return quote(value, safe="")


def _flag(value: bool) -> str:
    return "true" if value else "false"


class PartnerCalls:
    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    # -- the partner's tenants

    def create_tenant(self, external_id: str, name: str, **fields: Any) -> Tenant:
        body = {"external_id": external_id, "name": name, "locations": [], **fields}
        tenant: Tenant = self._transport.call("POST", "/partner/tenants", Tenant, json=body)
        return tenant

    def get_tenant(self, tenant: str, *, include_deleted: bool = False) -> Tenant:
        found: Tenant = self._transport.call(
            "GET",
            f"/partner/tenants/{segment(tenant)}",
            Tenant,
            params={"includeDeleted": _flag(include_deleted)},
        )
        return found

    def update_tenant(self, tenant: str, changes: Mapping[str, Any]) -> Tenant:
        updated: Tenant = self._transport.call(
            "PATCH", f"/partner/tenants/{segment(tenant)}", Tenant, json=dict(changes)
        )
        return updated

    def delete_tenant(self, tenant: str) -> Tenant:
        deleted: Tenant = self._transport.call(
            "DELETE", f"/partner/tenants/{segment(tenant)}", Tenant
        )
        return deleted

    def iterate_tenants(
        self, *, search: str | None = None, include_deleted: bool = False
    ) -> Iterator[Tenant]:
        params: dict[str, str] = {"limit": "1000", "includeDeleted": _flag(include_deleted)}
        if search:
            params["search"] = search
        while True:
            page: Page[Tenant] = self._transport.call(
                "GET", "/partner/tenants", Page[Tenant], params=params
            )
            yield from page.results
            if not page.pagination.has_next_page or not page.pagination.cursor:
                return
            params["cursor"] = page.pagination.cursor

    # -- the partner's schema definitions

    def list_schemas(self) -> builtins.list[SchemaDefinition]:
        # ``builtins.list``: inside this class, ``list`` is the method listing records.
        found: builtins.list[SchemaDefinition] = self._transport.call(
            "GET", "/partner/schema-definitions", builtins.list[SchemaDefinition]
        )
        return found

    def get_schema(self, name_or_id: str) -> SchemaDefinition:
        found: SchemaDefinition = self._transport.call(
            "GET", f"/partner/schema-definitions/{segment(name_or_id)}", SchemaDefinition
        )
        return found

    def create_schema(self, definition: Mapping[str, Any]) -> SchemaDefinition:
        """``definition``: ``name``, ``pluralName``, ``category``, ``externalIdField``,
        ``schema`` (JSON Schema draft-07) and optionally ``description``."""
        created: SchemaDefinition = self._transport.call(
            "POST", "/partner/schema-definitions", SchemaDefinition, json=dict(definition)
        )
        return created

    def update_schema(self, name_or_id: str, changes: Mapping[str, Any]) -> SchemaDefinition:
        updated: SchemaDefinition = self._transport.call(
            "POST",
            f"/partner/schema-definitions/{segment(name_or_id)}",
            SchemaDefinition,
            json=dict(changes),
        )
        return updated
