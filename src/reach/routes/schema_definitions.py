"""``/partner/schema-definitions`` — the partner's resource schemas (list, create, get, update,
delete = deactivate)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response
from starlette.routing import Route

from reach.domain import schemas
from reach.domain.compiled import json_type
from reach.domain.schemas import SchemaDefinition, SchemaInput
from reach.errors import BadRequest
from reach.routes.events import publish
from reach.storage.database import Connection
from reach.web.endpoint import Call, route
from reach.web.http import ok, refuse_nul

# wire name(s) → SchemaInput field, and the JSON type each must have
_FIELDS: dict[str, tuple[tuple[str, ...], tuple[type, ...]]] = {
    "name": (("name",), (str,)),
    "plural_name": (("pluralName", "plural_name"), (str,)),
    "description": (("description",), (str, type(None))),
    "category": (("category",), (str,)),
    "json_schema": (("schema",), (dict,)),
    "external_id_field": (("externalIdField", "external_id_field"), (str,)),
    "fields_to_expose": (("fieldsToExpose",), (list, type(None))),
    "expose_name_json_path": (("exposeNameJsonPath",), (str, type(None))),
}
_JSON_NAMES: dict[type, str] = {str: "string", dict: "object", list: "array"}
_KNOWN = {wire for names, _ in _FIELDS.values() for wire in names}


def schema_input(body: Any) -> SchemaInput:
    """Translate a request body (camelCase, with the deprecated snake_case twins)."""
    refuse_nul(body)
    if not isinstance(body, dict):
        raise BadRequest(
            "Validation failed", errors=[f"body: expected object, got {json_type(body)}"]
        )
    errors = [f"{key}: unknown field" for key in body if key not in _KNOWN]
    values: dict[str, Any] = {}
    for field, (names, types) in _FIELDS.items():
        given = [(n, body[n]) for n in names if n in body]
        if len(given) == 2 and given[0][1] != given[1][1]:
            errors.append(f"{names[1]}: conflicts with {names[0]}")
            continue
        if not given:
            continue
        wire, value = given[0]
        if not isinstance(value, types):
            errors.append(f"{wire}: expected {_JSON_NAMES[types[0]]}, got {json_type(value)}")
            continue
        if isinstance(value, list):
            errors.extend(
                f"{wire}[{i}]: expected object, got {json_type(item)}"
                for i, item in enumerate(value)
                if not isinstance(item, dict)
            )
        values[field] = value
    if errors:
        raise BadRequest("Invalid schema definition", errors=errors)
    return msgspec.convert(values, SchemaInput)


def schema_wire(definition: SchemaDefinition) -> dict[str, Any]:
    refs = sorted(set(definition.references.values()))
    options = definition.options
    twins = {
        "platformId": definition.partner_id,
        "pluralName": definition.plural_name,
        "versionNumber": definition.version_number,
        "partnerDbId": None,
        "partnerDbQuery": None,
        "referenceSchemas": refs,
        "externalIdField": definition.external_id_field,
        "deactivatedAt": definition.deactivated_at,
        "createdAt": definition.created_at,
        "updatedAt": definition.updated_at,
    }
    wire: dict[str, Any] = {
        "id": definition.id,
        "name": definition.name,
        "description": definition.description,
        "category": definition.category,
        "schema": definition.json_schema,
        "fieldsToExpose": options.get("fieldsToExpose"),
        "exposeNameJsonPath": options.get("exposeNameJsonPath"),
    }
    for camel, value in twins.items():
        wire[camel] = value
        wire[_snake(camel)] = value
    return wire


def _snake(camel: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)


async def list_schema_definitions(call: Call, conn: Connection) -> Response:
    found = await schemas.list_active(conn, call.partner_id)
    return ok([schema_wire(d) for d in found])


def _changed(definition: SchemaDefinition, message: str) -> Response:
    # The partner's cached definitions are forgotten by the transaction's after-commit hook
    # (storage.schemas.lock_partner announces every definition write): nothing to do here.
    return ok(schema_wire(definition), message)


async def create_schema_definition(call: Call, conn: Connection) -> Response:
    definition = await schemas.create(
        conn, call.partner_id, schema_input(call.body), limits=call.services.schemas.limits
    )
    await publish(
        call, conn, "schema_definition.created", schema_wire(definition), schema_id=definition.id
    )
    return _changed(definition, "Schema definition created")


async def get_schema_definition(call: Call, conn: Connection) -> Response:
    definition = await schemas.get(conn, call.partner_id, call.path("idOrName"))
    return ok(schema_wire(definition))


async def update_schema_definition(call: Call, conn: Connection) -> Response:
    definition = await schemas.update(
        conn, call.services.schemas, call.partner_id, call.path("idOrName"), schema_input(call.body)
    )
    await publish(
        call, conn, "schema_definition.updated", schema_wire(definition), schema_id=definition.id
    )
    return _changed(definition, "Schema definition updated")


async def delete_schema_definition(call: Call, conn: Connection) -> Response:
    definition = await schemas.deactivate(
        conn,
        call.partner_id,
        call.path("idOrName"),
    )
    await publish(
        call, conn, "schema_definition.deleted", schema_wire(definition), schema_id=definition.id
    )
    return _changed(definition, "Schema definition deleted")


ROUTES: list[Route] = [
    route(
        "/partner/schema-definitions",
        "GET",
        list_schema_definitions,
        access="partner",
        replica=True,
    ),
    route(
        "/partner/schema-definitions",
        "POST",
        create_schema_definition,
        access="partner",
        write=True,
        body=True,
    ),
    route(
        "/partner/schema-definitions/{idOrName}",
        "GET",
        get_schema_definition,
        access="partner",
        replica=True,
    ),
    route(
        "/partner/schema-definitions/{idOrName}",
        "POST",
        update_schema_definition,
        access="partner",
        write=True,
        body=True,
    ),
    route(
        "/partner/schema-definitions/{idOrName}",
        "DELETE",
        delete_schema_definition,
        access="partner",
        write=True,
    ),
]
