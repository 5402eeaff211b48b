"""The served OpenAPI 3.0.3 document, assembled from the declarative operation tables.

Without a token the document describes the built-in schemas (customers, locations,
transactions). With a partner token it describes that partner's active schema definitions as
they stand — its edited defaults and its custom schemas — and never another partner's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from reach import __version__
from reach.domain.compiled import REF_PREFIX
from reach.domain.default_schemas import DEFAULT_SCHEMAS
from reach.domain.schemas import SchemaDefinition
from reach.openapi import (
    batches,
    components,
    events,
    idempotency,
    partner,
    resources,
    segments,
    webhooks,
)
from reach.openapi.components import Schema, errors, response, schema_ref
from reach.openapi.operations import Operation, add_to
from reach.openapi.resources import ResourceSchema

OPENAPI_VERSION = "3.0.3"
DEFAULT_NAMES = frozenset(spec["name"] for spec in DEFAULT_SCHEMAS)
META_TAG = "Service"

_DESCRIPTION = """\
A self-hostable server for the Reach Partner Resources API, wire-compatible with Reach.

* **Authentication**: `Authorization: Bearer <JWT>`, HS256, signed with your partner secret.
  `/partner/*` needs a partner-scoped token; `/api/*` takes a tenant-scoped token, or a
  partner-scoped token plus the `reach-tenant-id` header.
* **Your schemas**: fetch this document with your partner token
  (`GET /openapi.json` + `Authorization`) to get explicit paths for every schema you defined.
  Without a token it shows the built-in schemas only.
* **Errors**: 400 `{success, message, errors[]}`, 404 `{success, message, data: {error}}`,
  everything else `{success, message}`.
"""

_TAGS = [
    (META_TAG, "Health and this document (no authentication)"),
    (partner.TENANTS_TAG, "Tenants (Reach businesses) of the partner"),
    (partner.SCHEMAS_TAG, "The partner's resource schemas (JSON Schema)"),
    (resources.GENERIC_TAG, "Resources of any schema, by schema name or id"),
    (resources.DEFAULT_TAG, "customers, locations and transactions"),
    (resources.CUSTOM_TAG, "The partner's own schemas"),
    (batches.TAG, "Asynchronous upload, patch and delete of up to 1000 resources"),
    *segments.TAGS,
    *webhooks.TAGS,
    (events.TAG, events.TAG_TEXT),
]

META_OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/healthz",
        "healthz",
        "Liveness",
        META_TAG,
        {"200": response("The process is serving", schema_ref("Liveness"))},
        "Touches nothing; answers as long as the process serves requests.",
        public=True,
    ),
    Operation(
        "GET",
        "/readyz",
        "readyz",
        "Readiness",
        META_TAG,
        {
            "200": response("The database answers", schema_ref("Readiness")),
            "503": response("The database is unreachable", schema_ref("Error")),
        },
        "Pings the database.",
        public=True,
    ),
    Operation(
        "GET",
        "/openapi.json",
        "openapi",
        "This document",
        META_TAG,
        {
            "200": {
                "description": "The OpenAPI document",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            **errors("401"),
        },
        "Public. With a partner token it also describes that partner's own schemas; an "
        "invalid token is a 401.",
        # An empty requirement makes the token optional.
        extra={"security": [{}, {"bearerAuth": []}]},
    ),
]


def _resource_schema(spec: dict[str, Any]) -> ResourceSchema:
    return ResourceSchema(
        name=spec["name"],
        json_schema=spec["schema"],
        external_id_field=spec["externalIdField"],
        is_default=spec["name"] in DEFAULT_NAMES,
        plural_name=spec.get("pluralName"),
        description=spec.get("description"),
    )


def default_schemas() -> list[ResourceSchema]:
    return [_resource_schema(spec) for spec in DEFAULT_SCHEMAS]


def partner_schemas(definitions: list[SchemaDefinition]) -> list[ResourceSchema]:
    return [
        ResourceSchema(
            name=d.name,
            json_schema=d.json_schema,
            external_id_field=d.external_id_field,
            is_default=d.name in DEFAULT_NAMES,
            id=d.id,
            plural_name=d.plural_name,
            description=d.description,
        )
        for d in definitions
    ]


def _name_lookup(schemas: list[ResourceSchema]) -> dict[str, str]:
    """Every key a ``reach:schemas/<key>`` may use (name, plural, id; any case) → name."""
    lookup: dict[str, str] = {}
    for schema in schemas:
        for key in (schema.name, schema.plural_name, schema.id):
            if key:
                lookup[key.lower()] = schema.name
    return lookup


def _with_references(schema: ResourceSchema, lookup: dict[str, str]) -> ResourceSchema:
    references: dict[str, str] = {}
    for field, spec in (schema.json_schema.get("properties") or {}).items():
        ref = spec.get("$ref") if isinstance(spec, dict) else None
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            key = ref.removeprefix(REF_PREFIX)
            references[field] = lookup.get(key.lower(), key)
    return replace(schema, references=references)


def build_document(schemas: list[ResourceSchema], *, server_url: str = "/") -> Schema:
    """The whole document for the given resource schemas (defaults first, then by name)."""
    lookup = _name_lookup(schemas)
    ordered = sorted(schemas, key=lambda s: (not s.is_default, s.name.lower()))
    ordered = [_with_references(s, lookup) for s in ordered]
    known = {s.name for s in ordered}

    def names(key: str) -> str:
        return lookup.get(key.lower(), key)

    paths: dict[str, Schema] = {}
    add_to(paths, META_OPERATIONS)
    add_to(paths, partner.OPERATIONS)
    add_to(paths, resources.operations(None, known))
    add_to(paths, batches.operations(None))
    for schema in ordered:
        add_to(paths, resources.operations(schema, known))
        add_to(paths, batches.operations(schema))
    add_to(paths, batches.JOB_OPERATIONS)
    add_to(paths, segments.OPERATIONS)
    add_to(paths, webhooks.OPERATIONS)
    add_to(paths, events.OPERATIONS)
    idempotency.document(paths)
    # A tag with no operation (no custom schema yet) would show as an empty section.
    used = {tag for item in paths.values() for op in item.values() for tag in op["tags"]}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Reach API (reach-server)",
            "version": __version__,
            "description": _DESCRIPTION,
        },
        "servers": [{"url": server_url}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": name, "description": text} for name, text in _TAGS if name in used],
        "paths": paths,
        "components": {
            "schemas": {
                **components.SCHEMAS,
                **partner.SCHEMAS,
                **batches.SCHEMAS,
                **segments.SCHEMAS,
                **webhooks.SCHEMAS,
                **events.SCHEMAS,
                **resources.component_schemas(ordered, names),
            },
            "responses": {**components.RESPONSES, **idempotency.RESPONSES},
            "parameters": {**components.PARAMETERS, **idempotency.PARAMETERS},
            "headers": idempotency.HEADERS,
            "securitySchemes": components.SECURITY_SCHEMES,
        },
    }
