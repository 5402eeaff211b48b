"""Partner schema mappings (``/partner/schema-mappings``): which fields of which schemas play
the roles Reach needs (the contact's id, email, phone…, a transaction's amount and dates).

A partner that never sent a mapping has the default one, derived from its built-in schemas
as they stand now (``customers``, ``transactions``). A POST replaces the whole mapping after
validating it against the partner's active schemas: each ``schemaId`` must be one of them,
each mapped value must name a field of that schema (a top-level name or a ``$.`` JSON path).
"""

from __future__ import annotations

from typing import Any

import orjson

from reach import clock
from reach.domain import field_paths, schemas
from reach.domain.compiled import json_type
from reach.domain.schemas import SchemaDefinition
from reach.errors import BadRequest
from reach.storage import mappings as store
from reach.storage.database import Connection

# What each key of a mapping object holds: "field" (names a field of the object's schema),
# "fields" (a list of them), "string" / "boolean" / "scalar" (a literal), or a nested object.
Spec = dict[str, Any]
# The fields a contacts source maps (each to a field of its schema); the served OpenAPI
# describes the same list.
CONTACT_FIELDS = (
    "userId",
    "email",
    "emailOptOut",
    "emailOptOutTimestamp",
    "phone",
    "smsOptOut",
    "smsOptOutTimestamp",
    "firstName",
    "lastName",
    "fullName",
    "location",
)
# The fields a locations mapping names (each maps to a field of the locations schema); the
# served OpenAPI describes the same list.
LOCATION_FIELDS = (
    "id_field",
    "name",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "locality",
    "district",
    "postal_code",
    "country_code",
    "phone",
    "email",
    "website",
)
_CONTACTS: Spec = {
    "type": "literal:contacts_schema",
    "schemaId": "schemaId",
    **dict.fromkeys(CONTACT_FIELDS, "field"),
}
_TRANSACTIONS: Spec = {
    "type": "literal:transactions_schema",
    "schemaId": "schemaId",
    "eventType": "string",
    "id_field": "field",
    "userId": "field",
    "locationId": "field",
    "filter": "boolean",
    "urlPattern": "string",
    "status": {
        "field": "field",
        "paidValue": "scalar",
        "unpaidValue": "scalar",
        "cancelledValue": "scalar",
    },
    "amount": {"field": "field", "currency": "string", "currencyField": "field"},
    "dates": dict.fromkeys(("createdDate", "paidDate", "dueDate", "startDate", "endDate"), "field"),
    "metadata": "fields",
}
_CUSTOM: Spec = {
    "type": "literal:custom_schema",
    "schemaId": "schemaId",
    "id_field": "field",
    "date": "field",
    "userId": "field",
    "metadata": "fields",
}
_LOCATIONS: Spec = {
    "type": "literal:locations_schema",
    "schemaId": "schemaId",
    "urlPattern": "string",
    **dict.fromkeys(LOCATION_FIELDS, "field"),
}
_REQUIRED = {"contacts": ("schemaId", "userId"), "transactions": ("schemaId", "userId")}
_LISTS = (
    ("transactionsSchema", _TRANSACTIONS, ("schemaId", "userId")),
    ("customSchema", _CUSTOM, ("schemaId", "userId")),
    ("locationsSchema", _LOCATIONS, ("schemaId",)),
)
MAX_SOURCES = 50


async def get(conn: Connection, partner_id: str) -> dict[str, Any]:
    stored = await store.get(conn, partner_id)
    if stored is not None:
        mapping: dict[str, Any] = orjson.loads(stored)
        return mapping
    return default_mapping(await schemas.list_active(conn, partner_id))


async def replace(conn: Connection, partner_id: str, body: Any) -> dict[str, Any]:
    active = {d.id: d for d in await schemas.list_active(conn, partner_id)}
    mapping = validate(body, active)
    await store.put(conn, partner_id, orjson.dumps(mapping).decode(), clock.now())
    return mapping


def default_mapping(active: list[SchemaDefinition]) -> dict[str, Any]:
    """The mapping of the built-in schemas, keeping only the fields they still declare."""
    by_name = {d.name: d for d in active}
    mapping: dict[str, Any] = {
        "type": "combined_schema",
        "contactsSchema": None,
        "transactionsSchema": [],
        "customSchema": [],
        "locationsSchema": [],
    }
    customers = by_name.get("customers")
    if customers is not None and _has(customers, "customerId"):
        source: dict[str, Any] = {
            "type": "contacts_schema",
            "schemaId": customers.id,
            "userId": "customerId",
        }
        for field in ("email", "phone", "firstName", "lastName", "emailOptOut", "smsOptOut"):
            if _has(customers, field):
                source[field] = field
        mapping["contactsSchema"] = {"primarySource": source, "additionalSources": []}
    transactions = by_name.get("transactions")
    if transactions is not None and _has(transactions, "customerId"):
        entry: dict[str, Any] = {
            "type": "transactions_schema",
            "schemaId": transactions.id,
            "userId": "customerId",
        }
        if _has(transactions, "transactionId"):
            entry["id_field"] = "transactionId"
        if _has(transactions, "transactionTotal"):
            entry["amount"] = {"field": "transactionTotal"}
        if _has(transactions, "transactionDate"):
            entry["dates"] = {"createdDate": "transactionDate"}
        mapping["transactionsSchema"] = [entry]
    return mapping


def _has(definition: SchemaDefinition, field: str) -> bool:
    return field in (definition.json_schema.get("properties") or {})


def validate(body: Any, active: dict[str, SchemaDefinition]) -> dict[str, Any]:
    """The mapping to store, or a 400 listing every problem by its path in the body."""
    errors: list[str] = []
    if not isinstance(body, dict):
        raise BadRequest(
            "Invalid schema mapping", errors=[f"body: expected object, got {json_type(body)}"]
        )
    known = {"type", "contactsSchema", *(name for name, _, _ in _LISTS)}
    errors += [f"{key}: unknown field" for key in body if key not in known]
    if body.get("type") != "combined_schema":
        errors.append('type: required, must be "combined_schema"')
    out: dict[str, Any] = {"type": "combined_schema", "contactsSchema": None}
    contacts = body.get("contactsSchema")
    if contacts is None:
        errors.append("contactsSchema: required")
    elif not isinstance(contacts, dict):
        errors.append(f"contactsSchema: expected object, got {json_type(contacts)}")
    else:
        errors += [
            f"contactsSchema.{key}: unknown field"
            for key in contacts
            if key not in ("primarySource", "additionalSources")
        ]
        primary = _source(
            "contactsSchema.primarySource",
            contacts.get("primarySource"),
            _CONTACTS,
            _REQUIRED["contacts"],
            active,
            errors,
        )
        extra = _sources(
            "contactsSchema.additionalSources",
            contacts.get("additionalSources"),
            _CONTACTS,
            _REQUIRED["contacts"],
            active,
            errors,
        )
        out["contactsSchema"] = {"primarySource": primary, "additionalSources": extra}
    for name, spec, required in _LISTS:
        out[name] = _sources(name, body.get(name), spec, required, active, errors)
    if errors:
        raise BadRequest("Invalid schema mapping", errors=errors)
    return out


def _sources(
    where: str,
    given: Any,
    spec: Spec,
    required: tuple[str, ...],
    active: dict[str, SchemaDefinition],
    errors: list[str],
) -> list[dict[str, Any]]:
    if given is None:
        return []
    if not isinstance(given, list):
        errors.append(f"{where}: expected array, got {json_type(given)}")
        return []
    if len(given) > MAX_SOURCES:
        errors.append(f"{where}: at most {MAX_SOURCES} entries")
        return []
    found = [
        _source(f"{where}[{i}]", item, spec, required, active, errors)
        for i, item in enumerate(given)
    ]
    return [item for item in found if item is not None]


def _source(
    where: str,
    given: Any,
    spec: Spec,
    required: tuple[str, ...],
    active: dict[str, SchemaDefinition],
    errors: list[str],
) -> dict[str, Any] | None:
    if given is None:
        errors.append(f"{where}: required")
        return None
    if not isinstance(given, dict):
        errors.append(f"{where}: expected object, got {json_type(given)}")
        return None
    errors += [f"{where}.{key}: required" for key in required if given.get(key) is None]
    schema_id = given.get("schemaId")
    definition = active.get(schema_id) if isinstance(schema_id, str) else None
    if schema_id is not None and definition is None:
        errors.append(f"{where}.schemaId: {schema_id!r} is not one of the partner's active schemas")
    return _object(where, given, spec, definition, errors)


def _object(
    where: str,
    given: dict[str, Any],
    spec: Spec,
    definition: SchemaDefinition | None,
    errors: list[str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in given.items():
        path = f"{where}.{key}"
        kind = spec.get(key)
        if kind is None:
            errors.append(f"{path}: unknown field")
        elif value is None:
            continue  # not mapped
        elif isinstance(kind, dict):
            if isinstance(value, dict):
                out[key] = _object(path, value, kind, definition, errors)
            else:
                errors.append(f"{path}: expected object, got {json_type(value)}")
        elif isinstance(kind, str) and kind.startswith("literal:"):
            if value != kind[8:]:
                errors.append(f'{path}: must be "{kind[8:]}"')
            out[key] = kind[8:]
        else:
            problem = _check_value(kind, value, definition)
            if problem:
                errors.append(f"{path}: {problem}")
            else:
                out[key] = value
    if "type" in spec and "type" not in out:
        out = {"type": spec["type"][8:], **out}
    return out


def _check_value(kind: str, value: Any, definition: SchemaDefinition | None) -> str | None:
    if kind == "schemaId":
        return None if isinstance(value, str) else f"expected string, got {json_type(value)}"
    if kind == "string":
        return None if isinstance(value, str) else f"expected string, got {json_type(value)}"
    if kind == "boolean":
        return None if isinstance(value, bool) else f"expected boolean, got {json_type(value)}"
    if kind == "scalar":
        ok = isinstance(value, str | int | float | bool)
        return None if ok else f"expected a string, number or boolean, got {json_type(value)}"
    if kind == "fields":
        if not isinstance(value, list):
            return f"expected array, got {json_type(value)}"
        problems = [_check_value("field", item, definition) for item in value]
        named = [f"[{i}] {p}" for i, p in enumerate(problems) if p]
        return "; ".join(named) or None
    if not isinstance(value, str):
        return f"expected a field name or JSON path, got {json_type(value)}"
    if definition is None:
        return None  # the schemaId error already says why
    return field_paths.describe(value, definition.json_schema, definition.name)
