"""The partner-scoped operations: ``/partner/tenants`` and ``/partner/schema-definitions``.

Shapes follow :mod:`reach.routes.tenants` and :mod:`reach.routes.schema_definitions` (their
msgspec structs and ``*_wire`` functions); the field texts follow the Reach docs digest.
"""

from __future__ import annotations

from typing import Any

from reach.domain.schemas import CATEGORIES
from reach.openapi.components import (
    BOOLEAN,
    STRING,
    TIMESTAMP,
    UUID,
    Schema,
    array,
    envelope,
    errors,
    obj,
    page_of,
    param_ref,
    path_param,
    query_param,
    response,
    schema_ref,
)
from reach.openapi.operations import Operation

TENANTS_TAG = "Tenants"
SCHEMAS_TAG = "Schema Definitions"


def _nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


def _twins(camel: str, schema: Schema) -> dict[str, Schema]:
    """A camelCase field and its deprecated snake_case twin (both always sent)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return {camel: schema, snake: {**schema, "description": f"[Deprecated] Use {camel}"}}


_LOCATION = obj(
    {
        "addressLine1": _nullable(STRING),
        "addressLine2": _nullable(STRING),
        "addressLine3": _nullable(STRING),
        "locality": _nullable({**STRING, "description": "City or town (e.g. New York)"}),
        "district": _nullable({**STRING, "description": "State (e.g. NY, CA)"}),
        "postalCode": _nullable(STRING),
        "countryCode": _nullable(STRING),
    },
    additionalProperties=False,
)
_UI_DEFAULTS = obj(
    {"emailHelpDialogShow": _nullable(BOOLEAN), "engageOnboardingShow": _nullable(BOOLEAN)},
    additionalProperties=False,
)
_BRANDING = {
    "type": "object",
    "nullable": True,
    "additionalProperties": True,
    "description": "Branding (logo, colors, brand name, tone...) stored as given",
}
_TENANT_FIELDS: dict[str, Schema] = {
    "website": _nullable(STRING),
    "locations": array(schema_ref("Location")),
    "branding": _BRANDING,
    "dataIntegrationCompletedAt": _nullable(TIMESTAMP),
    "websiteTrackingCompletedAt": _nullable(TIMESTAMP),
    "measureDateAttributionStyle": _nullable(STRING),
    "smsOptInImageUrls": array(STRING),
    "uiDefaults": schema_ref("UiDefaults"),
}

TENANT = obj(
    {
        "id": {**UUID, "description": "The id of the business"},
        "externalId": STRING,
        "name": STRING,
        **_TENANT_FIELDS,
        "dataIntegrationComplete": BOOLEAN,
        "userCount": {"type": "integer"},
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
        "deletedAt": _nullable({**TIMESTAMP, "description": "Set when the tenant is deleted"}),
    },
    ["id", "externalId", "name", "locations", "createdAt", "updatedAt"],
)
TENANT_CREATE = obj(
    {
        "external_id": {
            **STRING,
            "minLength": 1,
            "description": "The external id of the business (the id you use for it)",
        },
        "name": {**STRING, "description": "A friendly name for the business"},
        **_TENANT_FIELDS,
    },
    ["external_id", "name", "locations"],
    additionalProperties=False,
)
TENANT_UPDATE = obj(
    {
        "externalId": STRING,
        "name": STRING,
        **{name: _nullable(schema) for name, schema in _TENANT_FIELDS.items()},
    },
    additionalProperties=False,
    description="Only the fields sent change; null clears a field (not externalId or name)",
)

_FIELD_TO_EXPOSE = obj(
    {
        "name": STRING,
        "description": STRING,
        "jsonPath": STRING,
        "exposure": array({"type": "string", "example": "segments"}),
    }
)
_NAME = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,100}$"}
_CATEGORY: Schema = {"type": "string", "enum": list(CATEGORIES)}
_SCHEMA_FIELD: Schema = {
    "type": "object",
    "additionalProperties": True,
    "description": "JSON Schema (draft-07) of the resource's data; an object schema. "
    'Reference other schemas with {"$ref": "reach:schemas/<nameOrId>"}',
}
_OPTIONS: dict[str, Schema] = {
    "fieldsToExpose": _nullable(array(_FIELD_TO_EXPOSE)),
    "exposeNameJsonPath": _nullable(STRING),
}


def _definition_input(*, creating: bool) -> dict[str, Schema]:
    """The fields of a create or update body. No ``default`` anywhere: a generated client
    sends a field's default whenever the caller leaves it out, and on an update that would
    "change" a field that cannot change (``category: custom_schema`` on a built-in schema)."""
    if creating:
        name = "Unique among the partner's active schemas (names and plural names, ignoring case)"
        plural, category = "Defaults to name", "custom_schema if not sent"
        key, fixed = "A string property of schema, the record key", "; cannot change later"
    else:
        name = plural = category = key = "Cannot change"
        fixed = "; may be repeated unchanged"
    return {
        "name": {**_NAME, "description": f"{name}{fixed}"},
        **_twins("pluralName", {**_NAME, "description": f"{plural}{fixed}"}),
        "description": _nullable(STRING),
        "category": {**_CATEGORY, "description": f"{category}{fixed}"},
        "schema": _SCHEMA_FIELD,
        **_twins(
            "externalIdField",
            {**STRING, "description": f"{key}{fixed}"},
        ),
        **_OPTIONS,
    }


# A plain object with ``required``: a top-level anyOf of two required lists (externalIdField
# or its snake_case twin) made generators give up on a typed model. The twin is still accepted
# in place of externalIdField; the server enforces "one of them" (400) and the text says so.
DEFINITION_CREATE = obj(
    _definition_input(creating=True),
    ["name", "schema", "externalIdField"],
    additionalProperties=False,
    description="A new schema definition. external_id_field (deprecated) is accepted in place "
    "of externalIdField; one of the two is required.",
)
DEFINITION_UPDATE = obj(
    _definition_input(creating=False),
    additionalProperties=False,
    description="Only the fields sent change; name, pluralName, category and externalIdField "
    "may only be repeated unchanged. Every update bumps versionNumber.",
)
DEFINITION = obj(
    {
        "id": {**UUID, "description": "Unique identifier for the schema definition"},
        "name": STRING,
        "description": _nullable(STRING),
        "category": _CATEGORY,
        "schema": {"type": "object", "additionalProperties": True},
        "fieldsToExpose": _nullable(array(_FIELD_TO_EXPOSE)),
        "exposeNameJsonPath": _nullable(STRING),
        **_twins("platformId", {**UUID, "description": "Platform ID this schema belongs to"}),
        **_twins("pluralName", STRING),
        **_twins("versionNumber", {"type": "integer", "minimum": 1}),
        **_twins("partnerDbId", _nullable(UUID)),
        **_twins("partnerDbQuery", _nullable(STRING)),
        **_twins("referenceSchemas", array(UUID, description="Ids of the schemas referenced")),
        **_twins("externalIdField", STRING),
        **_twins("deactivatedAt", _nullable(TIMESTAMP)),
        **_twins("createdAt", TIMESTAMP),
        **_twins("updatedAt", TIMESTAMP),
    },
    ["id", "name", "category", "schema", "pluralName", "externalIdField", "versionNumber"],
)

SCHEMAS: dict[str, Schema] = {
    "Location": _LOCATION,
    "UiDefaults": _UI_DEFAULTS,
    "Tenant": TENANT,
    "TenantCreate": TENANT_CREATE,
    "TenantUpdate": TENANT_UPDATE,
    "SchemaDefinition": DEFINITION,
    "SchemaDefinitionCreate": DEFINITION_CREATE,
    "SchemaDefinitionUpdate": DEFINITION_UPDATE,
}

_TENANT_ID = path_param("id", "The tenant's id (uuid) or its external id")
_SCHEMA_ID = path_param("idOrName", "The ID or name of the schema definition")
_INCLUDE_DELETED = query_param(
    "includeDeleted", {"type": "boolean", "default": False}, "Also return deleted tenants"
)


def _ok(data: Schema, description: str = "Status 200 response") -> dict[str, Any]:
    return {"200": response(description, envelope(data))}


_TENANT_OK = _ok(schema_ref("Tenant"))
_DEFINITION_OK = _ok(schema_ref("SchemaDefinition"))
_READ = errors("400", "401", "403")
_WRITE = errors("400", "401", "403", "409", "413", "415")

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/partner/tenants",
        "listTenants",
        "List tenants",
        TENANTS_TAG,
        {**_ok(page_of(schema_ref("Tenant"))), **_READ},
        "Cursor-paginated list of the partner's tenants.",
        parameters=(
            param_ref("Cursor"),
            param_ref("Limit"),
            query_param("search", STRING, "Filter tenants by name, external ID, or website"),
            query_param(
                "orderBy",
                {"type": "string", "enum": ["created_at", "name", "updated_at"]},
                "Field to sort by (default created_at)",
            ),
            query_param(
                "orderDirection",
                {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
                "Sort direction",
            ),
            _INCLUDE_DELETED,
        ),
    ),
    Operation(
        "POST",
        "/partner/tenants",
        "createTenant",
        "Create tenant",
        TENANTS_TAG,
        {**_TENANT_OK, **_WRITE},
        "Create a new tenant (a business); external_id is unique per partner (409).",
        body=schema_ref("TenantCreate"),
    ),
    Operation(
        "GET",
        "/partner/tenants/{id}",
        "getTenant",
        "Get tenant",
        TENANTS_TAG,
        {**_TENANT_OK, **_READ, **errors("404")},
        "Get a tenant by id or external id.",
        parameters=(_TENANT_ID, _INCLUDE_DELETED),
    ),
    Operation(
        "PATCH",
        "/partner/tenants/{id}",
        "updateTenant",
        "Update tenant",
        TENANTS_TAG,
        {**_TENANT_OK, **_WRITE, **errors("404")},
        "Update a tenant; fields not sent are unchanged.",
        parameters=(_TENANT_ID,),
        body=schema_ref("TenantUpdate"),
    ),
    Operation(
        "DELETE",
        "/partner/tenants/{id}",
        "deleteTenant",
        "Delete tenant",
        TENANTS_TAG,
        {**_TENANT_OK, **errors("401", "403", "404")},
        "Soft-delete a tenant (sets deletedAt); its data is no longer reachable through /api.",
        parameters=(_TENANT_ID,),
    ),
    Operation(
        "GET",
        "/partner/schema-definitions",
        "listSchemaDefinitions",
        "List schemas",
        SCHEMAS_TAG,
        {**_ok(array(schema_ref("SchemaDefinition"))), **errors("401", "403")},
        "All active schema definitions of the partner (not paginated).",
    ),
    Operation(
        "POST",
        "/partner/schema-definitions",
        "createSchemaDefinition",
        "Create schema",
        SCHEMAS_TAG,
        {**_DEFINITION_OK, **_WRITE},
        "Create a schema definition; names are unique per partner ignoring case (409).",
        body=schema_ref("SchemaDefinitionCreate"),
    ),
    Operation(
        "GET",
        "/partner/schema-definitions/{idOrName}",
        "getSchemaDefinition",
        "Get schema",
        SCHEMAS_TAG,
        {**_DEFINITION_OK, **errors("401", "403", "404")},
        "Retrieves a specific schema definition by ID or name.",
        parameters=(_SCHEMA_ID,),
    ),
    Operation(
        "POST",
        "/partner/schema-definitions/{idOrName}",
        "updateSchemaDefinition",
        "Update schema",
        SCHEMAS_TAG,
        {**_DEFINITION_OK, **_WRITE, **errors("404")},
        "Updates an existing schema definition (a new version). Stored records are not "
        "rewritten; the next write to a record is validated against the new version.",
        parameters=(_SCHEMA_ID,),
        body=schema_ref("SchemaDefinitionUpdate"),
    ),
    Operation(
        "DELETE",
        "/partner/schema-definitions/{idOrName}",
        "deleteSchemaDefinition",
        "Delete schema",
        SCHEMAS_TAG,
        {**_DEFINITION_OK, **errors("401", "403", "404", "409")},
        "Deactivates a schema definition (built-in ones too) and returns it with deactivatedAt "
        "set; its name and plural name are then free for a new schema. 409 while any of the "
        "partner's live tenants holds a record of it, an unfinished batch writes to it, or "
        "another active schema references it.",
        parameters=(_SCHEMA_ID,),
    ),
]
