"""Shared pieces of the OpenAPI document: envelopes, error bodies, parameters, security.

The wire shapes are the published contract's (``shared/reference/patch-customer-resource``):
the 400 and 404 bodies and the ``reach-tenant-id`` / ``ignoreUnknownFields`` parameters are
copied from it word for word, so every operation that reuses them speaks the contract.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
BOOLEAN: Schema = {"type": "boolean"}
UUID: Schema = {"type": "string", "format": "uuid"}
TIMESTAMP: Schema = {
    "type": "string",
    "format": "date-time",
    "description": "RFC 3339 UTC timestamp with milliseconds",
}


def ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def schema_ref(name: str) -> Schema:
    return ref("schemas", name)


def param_ref(name: str) -> Schema:
    return ref("parameters", name)


def obj(properties: dict[str, Schema], required: list[str] | None = None, **extra: Any) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    out.update(extra)
    return out


def array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def envelope(data: Schema | None = None) -> Schema:
    """``{success, message, data}``: the body of every successful response."""
    properties: dict[str, Schema] = {"success": BOOLEAN, "message": STRING}
    if data is not None:
        properties["data"] = data
    return obj(properties, ["success"])


def json_body(schema: Schema, description: str | None = None) -> Schema:
    content: Schema = {"content": {"application/json": {"schema": schema}}}
    if description:
        content["description"] = description
    return content


def response(description: str, schema: Schema) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def page_of(item: Schema) -> Schema:
    return obj({"results": array(item), "pagination": schema_ref("Pagination")})


def path_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "description": description},
    }


def query_param(name: str, schema: Schema, description: str, **extra: Any) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {**schema, "description": description},
        **extra,
    }


# --- error bodies -------------------------------------------------------------------------

VALIDATION_ERROR: Schema = obj(
    {
        "success": {"type": "boolean", "enum": [False], "default": False},
        "message": {"type": "string", "description": "Error message describing what went wrong"},
        "errors": array(STRING, description="Optional array of specific validation errors"),
    },
    ["message"],
)

NOT_FOUND_ERROR: Schema = obj(
    {
        "success": BOOLEAN,
        "message": STRING,
        "data": obj({"error": STRING}, ["error"]),
    },
    ["success"],
)

ERROR: Schema = obj(
    {
        "success": {"type": "boolean", "enum": [False]},
        "message": {"type": "string", "description": "What went wrong"},
        "errors": array(STRING, description="Details, one string per problem, when useful"),
    },
    ["success", "message"],
)

# status → (component name, description, body schema component)
ERROR_RESPONSES: dict[str, tuple[str, str, str]] = {
    "400": ("BadRequest", "Bad Request - Validation or request error", "ValidationError"),
    "401": (
        "Unauthorized",
        "Missing, malformed, expired or wrongly signed bearer token (HS256 only)",
        "Error",
    ),
    "403": ("Forbidden", "The token may not do this (e.g. a tenant token on /partner)", "Error"),
    "404": ("NotFound", "Status 404 response", "NotFoundError"),
    "409": ("Conflict", "Conflicts with the current state (duplicate, referenced)", "Error"),
    "413": ("PayloadTooLarge", "Request body over the configured size limit", "Error"),
    "415": ("UnsupportedMediaType", "Content-Type is not application/json", "Error"),
}


def errors(*statuses: str) -> dict[str, Schema]:
    """Response references for the given error statuses."""
    return {status: ref("responses", ERROR_RESPONSES[status][0]) for status in statuses}


# --- parameters ---------------------------------------------------------------------------

_TENANT_TEXT = (
    "If using a platform scoped JWT, you can pass in a header to impersonate a specific "
    "tenant to impersonate the request as."
)
_IGNORE_TEXT = (
    "Whether to allow extra fields that are not defined in the schema. If true, extra fields "
    "will be accepted but not saved. If false, requests with extra fields will be rejected."
)

PARAMETERS: dict[str, Schema] = {
    "TenantId": {
        "name": "reach-tenant-id",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "description": _TENANT_TEXT},
    },
    "TenantIdAlias": {
        "name": "X-Tenant-Id",
        "in": "header",
        "required": False,
        "description": "Alias of reach-tenant-id (the tenant's id or external id); "
        "reach-tenant-id wins when both are sent.",
        "schema": {"type": "string"},
    },
    "IgnoreUnknownFields": {
        "schema": {
            "type": "boolean",
            "nullable": True,
            "default": False,
            "description": _IGNORE_TEXT,
        },
        "required": False,
        "description": _IGNORE_TEXT,
        "name": "ignoreUnknownFields",
        "in": "query",
    },
    "OnConflict": query_param(
        "onconflict",
        {"type": "string", "enum": ["upsert", "reject"], "default": "upsert"},
        "What to do if the resource already exists. upsert will merge new data with existing "
        "data (PATCH-like behavior), preserving existing fields not included in the request. "
        "Null values will delete fields. reject will throw an error (409) if the resource "
        "already exists",
    ),
    "Cursor": query_param(
        "cursor",
        STRING,
        "Opaque cursor from the previous page's pagination.cursor; omit for the first page",
    ),
    "Limit": query_param(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
        "The limit of items to return, default is 100",
    ),
}

TENANT_PARAMETERS: list[Schema] = [param_ref("TenantId"), param_ref("TenantIdAlias")]

# --- shared schemas -----------------------------------------------------------------------

PAGINATION: Schema = obj(
    {
        "hasNextPage": BOOLEAN,
        "total": {"type": "integer", "description": "Items matching the query, all pages"},
        "cursor": {
            "type": "string",
            "nullable": True,
            "description": "Pass as ?cursor= for the next page; null on the last page",
        },
    },
    ["hasNextPage", "total", "cursor"],
)

# Two shapes, each with the example it really returns: one shared schema made Swagger UI show
# liveness with a database field and readiness with status "ok", which neither sends.
LIVENESS: Schema = {
    **envelope(obj({"status": {"type": "string", "enum": ["ok"]}}, ["status"])),
    "example": {"success": True, "message": "ok", "data": {"status": "ok"}},
}
READINESS: Schema = {
    **envelope(
        obj(
            {
                "status": {"type": "string", "enum": ["ready"]},
                "database": {"type": "string", "enum": ["sqlite", "postgresql"]},
                "replicas": array(
                    obj(
                        {
                            "name": {"type": "string", "description": "host:port/database"},
                            "up": {"type": "boolean", "description": "In rotation"},
                            "lagSeconds": {
                                "type": "number",
                                "nullable": True,
                                "description": "At most this stale (null until known)",
                            },
                            "lagBytes": {
                                "type": "integer",
                                "nullable": True,
                                "description": "WAL bytes behind the primary's last sample",
                            },
                            "reason": {"type": "string", "description": "Why it is out"},
                        },
                        ["name", "up", "lagSeconds", "lagBytes"],
                    ),
                    description="Only with REACH_DATABASE_READ_URLS: each read replica's "
                    "health (a replica out of rotation never makes the server unready)",
                ),
            },
            ["status", "database"],
        )
    ),
    "example": {
        "success": True,
        "message": "OK",
        "data": {"status": "ready", "database": "sqlite"},
    },
}

SCHEMAS: dict[str, Schema] = {
    "ValidationError": VALIDATION_ERROR,
    "NotFoundError": NOT_FOUND_ERROR,
    "Error": ERROR,
    "Pagination": PAGINATION,
    "Liveness": LIVENESS,
    "Readiness": READINESS,
}

RESPONSES: dict[str, Schema] = {
    name: response(description, schema_ref(body))
    for name, description, body in ERROR_RESPONSES.values()
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": (
            "A JWT signed with HS256 (and only HS256) using one of the partner's secrets; "
            '`exp` is required. Partner-scoped: `{partnerId, type: "partner"}` — needed for '
            "/partner routes, and on /api routes together with the `reach-tenant-id` header. "
            "Tenant-scoped: `{partnerId, tenantExternalId}` (optional `email`, `name`, "
            "`externalId`) — acts for that tenant on /api routes."
        ),
    }
}
