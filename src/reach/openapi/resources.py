"""Resource operations: the generic ``/api/resources/{schemaDefinitionNameOrId}/...`` routes and
an explicit copy of them per schema definition (``/api/resources/customers/...``), whose bodies
and responses carry that schema's fields.

The explicit customer PATCH is the published contract; its wording (summary, parameter texts,
"Partial customer resource data...") is generated here from the schema's title, so every other
schema reads the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reach.openapi.components import (
    STRING,
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
from reach.openapi.convert import data_schema
from reach.openapi.operations import Operation

GENERIC_TAG = "Partner Resources"
DEFAULT_TAG = "Default Partner Resources"
CUSTOM_TAG = "Custom Partner Resources"
GENERIC_RECORD = "Resource"


@dataclass(frozen=True, slots=True)
class ResourceSchema:
    """What the document needs of one schema definition."""

    name: str
    json_schema: dict[str, Any]
    external_id_field: str
    is_default: bool
    id: str | None = None
    plural_name: str | None = None
    description: str | None = None
    # top-level field → name of the schema it references
    references: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        title = self.json_schema.get("title")
        return title if isinstance(title, str) and title.strip() else self.name

    @property
    def noun(self) -> str:
        """``Customer`` → ``customer`` (an acronym such as ``SKU`` stays as it is)."""
        title = self.title
        return title if title[:2].isupper() else title[:1].lower() + title[1:]

    def component(self, part: str) -> str:
        # Schema names are [A-Za-z0-9_-]; the dot keeps them apart from the fixed components.
        return f"{self.name}.{part}"


def record_schema(data: Schema) -> Schema:
    """A stored resource as the contract returns it: camelCase fields, their deprecated
    snake_case twins, and ``data``."""
    properties: dict[str, Schema] = {
        "id": {**UUID, "description": "Unique identifier for the resource"}
    }
    twins: list[tuple[str, str, Schema, str]] = [
        (
            "schemaDefinitionId",
            "schema_definition_id",
            UUID,
            "ID of the schema definition for this resource",
        ),
        ("platformId", "platform_id", UUID, "ID of the platform this resource belongs to"),
        ("businessId", "business_id", UUID, "ID of the business this resource belongs to"),
        ("resourceExternalId", "resource_external_id", STRING, "External ID of the resource"),
    ]
    for camel, snake, kind, text in twins:
        properties[snake] = {
            **kind,
            "description": f"[Deprecated] Please use {camel} instead. {text}",
        }
        properties[camel] = {**kind, "description": text}
    for camel, snake, text in (
        ("createdAt", "created_at", "Creation timestamp"),
        ("updatedAt", "updated_at", "Last update timestamp"),
    ):
        properties[snake] = {**STRING, "description": f"[Deprecated] Please use {camel} instead"}
        properties[camel] = {**STRING, "description": text}
    properties["data"] = data
    return obj(properties, list(properties))


def component_schemas(
    schemas: list[ResourceSchema], names: Callable[[str], str]
) -> dict[str, Schema]:
    out: dict[str, Schema] = {
        GENERIC_RECORD: record_schema(
            {"type": "object", "additionalProperties": True, "description": "The resource data"}
        )
    }
    for schema in schemas:
        full = data_schema(schema.json_schema, "full", names)
        partial = data_schema(schema.json_schema, "partial", names)
        partial["description"] = f"Partial {schema.noun} resource data for incremental update"
        create = data_schema(schema.json_schema, "create", names)
        create.setdefault("description", schema.description or f"{schema.title} resource data")
        out[schema.component("Data")] = full
        out[schema.component("PartialData")] = partial
        out[schema.component("CreateData")] = create
        out[schema.component("Record")] = record_schema(schema_ref(schema.component("Data")))
    return out


def _included(schema: ResourceSchema | None, known: set[str]) -> Schema:
    if schema is None:
        item = schema_ref(GENERIC_RECORD)
    elif not schema.references:
        # Nothing can be included; the contract still types the items as this schema's records.
        item = schema_ref(schema.component("Record"))
    else:
        targets = sorted({t for t in schema.references.values() if t in known})
        item = (
            record_schema({"anyOf": [schema_ref(f"{t}.Data") for t in targets]})
            if targets
            else schema_ref(GENERIC_RECORD)
        )
    return array(item, description="Included resources when specified in the include parameter")


def _one(record: Schema, included: Schema) -> Schema:
    return envelope(obj({"result": record, "included": included}, ["result"]))


def _body(data: Schema) -> Schema:
    return obj({"data": data}, ["data"])


def _filter(schema: ResourceSchema | None) -> Schema:
    text = (
        "filter[field]=value keeps records whose top-level field equals value (typed by the "
        "schema: true/false for booleans, numbers for numeric fields); several filters must "
        "all match"
    )
    shape: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
    if schema is not None:
        properties = schema.json_schema.get("properties", {})
        scalar = {
            name: {"type": spec.get("type", "string") if "$ref" not in spec else "string"}
            for name, spec in properties.items()
            if isinstance(spec, dict)
            and ("$ref" in spec or spec.get("type") in ("string", "number", "integer", "boolean"))
        }
        shape = {"type": "object", "properties": scalar, "additionalProperties": False}
    return query_param("filter", shape, text, style="deepObject", explode=True)


def _include(schema: ResourceSchema | None) -> Schema:
    items: Schema = {"type": "string"}
    text = "Reference ($ref) fields whose records to return in included; comma-separated"
    if schema is not None and schema.references:
        items = {"type": "string", "enum": sorted(schema.references)}
    elif schema is not None:
        text += f" ({schema.name} has no reference fields)"
    return query_param("include", array(items), text, style="form", explode=False)


_CASCADE = query_param(
    "cascade",
    {"type": "boolean", "default": False},
    "Also delete the records of other schemas that reference this one; without it a "
    "referenced record is not deleted (409)",
)
_ETAG_TEXT = (
    'The record\'s strong entity tag, "<version>-<id>": it changes with every write that changes '
    "the record, and no two records share one. Send it back in If-Match to write only that "
    "version, or in If-None-Match to read only if it changed."
)
_ETAG: Schema = {"ETag": {"description": _ETAG_TEXT, "schema": STRING}}


def _condition(name: str, text: str) -> Schema:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": text,
        "schema": {"type": "string", "description": text},
    }


_IF_MATCH = _condition(
    "If-Match",
    "Write only if the record's current ETag is one of these (a comma-separated list of "
    'entity tags, e.g. "3-<id>"), or, for *, only if the record exists; otherwise 412 and '
    "nothing changes. Weak tags (W/...) never match.",
)
_IF_NONE_MATCH_CREATE = _condition(
    "If-None-Match",
    "* creates only: if the record already exists the answer is 412 and nothing changes. A "
    "list of entity tags: 412 if the record's current ETag is one of them.",
)
_IF_NONE_MATCH_READ = _condition(
    "If-None-Match",
    "Answer 304 Not Modified (no body) if the record's current ETag is one of these (weak "
    "comparison), or for * if it exists. Never 304 when include is given.",
)
_PRECONDITION_FAILED: dict[str, Schema] = {
    "412": response(
        "Precondition failed (If-Match / If-None-Match): nothing was changed", schema_ref("Error")
    )
}
_NOT_MODIFIED: dict[str, Schema] = {
    "304": {
        "description": "Not modified: the record's ETag is one given in If-None-Match",
        "headers": _ETAG,
    }
}
_MERGE_TEXT = (
    " Fields not included in the request are left unchanged. Null values will explicitly "
    "delete the field (required fields cannot be deleted and will return a validation error)."
)


def operations(schema: ResourceSchema | None, known: set[str]) -> list[Operation]:
    """The six resource operations, generic (``schema`` None) or for one schema."""
    if schema is None:
        base = "/api/resources/{schemaDefinitionNameOrId}"
        noun, title, tag, suffix = "resource", "", GENERIC_TAG, ""
        data: Schema = {"type": "object", "additionalProperties": True}
        partial, create, record = data, data, schema_ref(GENERIC_RECORD)
        scope: tuple[Schema, ...] = (
            path_param("schemaDefinitionNameOrId", "The name or id of the schema definition"),
        )
    else:
        base = f"/api/resources/{schema.name}"
        noun = f"{schema.noun} resource"
        title = schema.title[:1].upper() + schema.title[1:] + " "
        tag = DEFAULT_TAG if schema.is_default else CUSTOM_TAG
        suffix = f"_{schema.name}"
        partial = schema_ref(schema.component("PartialData"))
        create = schema_ref(schema.component("CreateData"))
        record = schema_ref(schema.component("Record"))
        scope = ()
    one = _one(record, _included(schema, known))
    item = f"{base}/{{externalId}}"

    def external_id(verb: str) -> Schema:
        return path_param("externalId", f"The external ID of the {noun} to {verb}")

    def ok(body: Schema) -> dict[str, Schema]:
        return {"200": response("Status 200 response", body)}

    def tagged(body: Schema) -> dict[str, Schema]:
        """A single-record answer: it carries the record's ETag."""
        return {"200": {**response("Status 200 response", body), "headers": _ETAG}}

    read = errors("400", "401", "403", "404")
    write = errors("400", "401", "403", "404", "413", "415")
    upload = (param_ref("OnConflict"), param_ref("IgnoreUnknownFields"))
    return [
        Operation(
            "GET",
            base,
            f"listResources{suffix}",
            f"List {title}Resources",
            tag,
            {**ok(envelope(page_of(record))), **read},
            f"Lists {noun}s, oldest first, with cursor pagination and exact-match filters.",
            parameters=(*scope, param_ref("Cursor"), param_ref("Limit"), _filter(schema)),
        ),
        Operation(
            "POST",
            base,
            f"createResource{suffix}",
            f"Create {title}Resource",
            tag,
            {**tagged(envelope(record)), **write, **errors("409"), **_PRECONDITION_FAILED},
            f"Creates a {noun}; its external ID is data.<externalIdField>. When upsert is "
            "enabled, new data is merged with existing data." + _MERGE_TEXT,
            parameters=(*scope, *upload, _IF_MATCH, _IF_NONE_MATCH_CREATE),
            body=_body(create),
        ),
        Operation(
            "GET",
            item,
            f"getResource{suffix}",
            f"Get {title}Resource",
            tag,
            {**tagged(one), **_NOT_MODIFIED, **read},
            f"Retrieves a {noun} by its external ID. Can include reference fields to resolve.",
            parameters=(*scope, external_id("retrieve"), _include(schema), _IF_NONE_MATCH_READ),
        ),
        Operation(
            "PATCH",
            item,
            f"patchResource{suffix}",
            f"Patch {title}Resource",
            tag,
            {**tagged(one), **write, **_PRECONDITION_FAILED},
            f"Updates a {noun} by its external ID. This is an incremental update, only "
            "provided fields will be updated." + _MERGE_TEXT,
            parameters=(*scope, external_id("update"), param_ref("IgnoreUnknownFields"), _IF_MATCH),
            body=_body(partial),
        ),
        Operation(
            "POST",
            item,
            f"createResourceAt{suffix}",
            f"Create {title}Resource (external ID in the path)",
            tag,
            {**tagged(envelope(record)), **write, **errors("409"), **_PRECONDITION_FAILED},
            "The older form of create: the external ID is the path; a different "
            "data.<externalIdField> is a 400.",
            parameters=(
                *scope,
                external_id("create or update"),
                *upload,
                _IF_MATCH,
                _IF_NONE_MATCH_CREATE,
            ),
            body=_body(create),
            extra={"deprecated": True},
        ),
        Operation(
            "DELETE",
            item,
            f"deleteResource{suffix}",
            f"Delete {title}Resource",
            tag,
            {**tagged(envelope(record)), **read, **errors("409"), **_PRECONDITION_FAILED},
            f"Deletes a {noun} and returns it as it was.",
            parameters=(*scope, external_id("delete"), _CASCADE, _IF_MATCH),
        ),
    ]
