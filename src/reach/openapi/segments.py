"""Operations of issue 15: ``/partner/schema-mappings``, ``/api/segments…`` and
``/api/channel/accounts…``. Shapes follow :mod:`reach.routes.mappings`,
:mod:`reach.routes.segments` and :mod:`reach.routes.channel_accounts`."""

from __future__ import annotations

from typing import Any

from reach.domain.channel_accounts import TYPES as CHANNEL_TYPES
from reach.domain.mappings import CONTACT_FIELDS, LOCATION_FIELDS
from reach.domain.segment_conditions import OPERATORS
from reach.domain.segments import TYPES as SEGMENT_TYPES
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
    response,
    schema_ref,
)
from reach.openapi.operations import Operation
from reach.openapi.resources import GENERIC_RECORD

MAPPINGS_TAG = "Schema Mappings"
SEGMENTS_TAG = "Segments"
CHANNELS_TAG = "Channel Accounts"
TAGS = [
    (MAPPINGS_TAG, "Which fields of the partner's schemas play Reach's roles"),
    (SEGMENTS_TAG, "Audiences of a tenant's contacts, always current"),
    (CHANNELS_TAG, "The tenant's sending accounts"),
]

_FIELD = {**STRING, "description": "A top-level field name, or a JSON path like $.address.city"}
_CONTACTS_SOURCE = obj(
    {
        "type": {"type": "string", "enum": ["contacts_schema"]},
        "schemaId": UUID,
        **dict.fromkeys(CONTACT_FIELDS, _FIELD),
    },
    ["schemaId", "userId"],
    additionalProperties=False,
)
_TRANSACTIONS_SOURCE = obj(
    {
        "type": {"type": "string", "enum": ["transactions_schema"]},
        "schemaId": UUID,
        "eventType": STRING,
        "id_field": _FIELD,
        "userId": _FIELD,
        "locationId": _FIELD,
        "filter": BOOLEAN,
        "urlPattern": STRING,
        "status": obj(
            {
                "field": _FIELD,
                "paidValue": {},
                "unpaidValue": {},
                "cancelledValue": {},
            }
        ),
        "amount": obj({"field": _FIELD, "currency": STRING, "currencyField": _FIELD}),
        "dates": obj(
            dict.fromkeys(("createdDate", "paidDate", "dueDate", "startDate", "endDate"), _FIELD)
        ),
        "metadata": array(_FIELD),
    },
    ["schemaId", "userId"],
)
_CUSTOM_SOURCE = obj(
    {
        "type": {"type": "string", "enum": ["custom_schema"]},
        "schemaId": UUID,
        "id_field": _FIELD,
        "date": _FIELD,
        "userId": _FIELD,
        "metadata": array(_FIELD),
    },
    ["schemaId", "userId"],
)
_LOCATIONS_SOURCE = obj(
    {
        "type": {"type": "string", "enum": ["locations_schema"]},
        "schemaId": UUID,
        "urlPattern": STRING,
        **dict.fromkeys(LOCATION_FIELDS, _FIELD),
    },
    ["schemaId"],
)
MAPPING = obj(
    {
        "type": {"type": "string", "enum": ["combined_schema"]},
        "contactsSchema": obj(
            {
                "primarySource": schema_ref("ContactsSource"),
                "additionalSources": array(schema_ref("ContactsSource")),
            },
            ["primarySource"],
            nullable=True,
        ),
        "transactionsSchema": array(_TRANSACTIONS_SOURCE),
        "customSchema": array(_CUSTOM_SOURCE),
        "locationsSchema": array(_LOCATIONS_SOURCE),
    },
    ["type", "contactsSchema"],
)

_CONDITION = obj(
    {
        "field": {
            **STRING,
            "description": "userId, email, phone, firstName, lastName (through the contacts "
            "mapping), or a field the contacts schema exposes for segments",
        },
        "operator": {"type": "string", "enum": list(OPERATORS)},
        "value": array({}, description="Values for the operator; [] for exists/not_exists"),
    },
    ["field", "operator"],
)
SEGMENT = obj(
    {
        "id": UUID,
        "name": STRING,
        "description": {**STRING, "nullable": True},
        "createdAt": TIMESTAMP,
        "type": {"type": "string", "enum": ["all_users", "managed", "custom", "one_off", "sql"]},
        "conditions": array(schema_ref("SegmentCondition")),
        "updatedAt": TIMESTAMP,
    },
    ["id", "name", "createdAt", "type"],
)
SEGMENT_CREATE = obj(
    {
        "name": {**STRING, "minLength": 1, "maxLength": 200},
        "description": {**STRING, "nullable": True},
        "conditions": array(schema_ref("SegmentCondition"), description="ANDed"),
        "type": {
            "type": "string",
            "enum": list(SEGMENT_TYPES),
            "description": "custom when not given on create",
        },
    },
    ["name", "conditions"],
    additionalProperties=False,
)
SEGMENT_UPDATE = obj(
    dict(SEGMENT_CREATE["properties"]),
    additionalProperties=False,
    description="Only the fields sent change",
)
TEXT_TO_SEGMENT = obj(
    {
        "text": {**STRING, "minLength": 1},
        "userCustomVerb": {**STRING, "description": "A noun for the contacts; user if not given"},
    },
    ["text"],
    additionalProperties=False,
)
TEXT_TO_SEGMENT_RESULT = obj(
    {
        "success": BOOLEAN,
        "failureReason": {**STRING, "nullable": True},
        "conditions": array(schema_ref("SegmentCondition")),
        "title": {**STRING, "nullable": True},
        "description": {**STRING, "nullable": True},
    },
    ["success", "failureReason", "conditions", "title", "description"],
)
_METADATA = obj(
    {"baseDomain": {**STRING, "format": "hostname", "description": "e.g. mail.example.com"}},
    additionalProperties=False,
)
CHANNEL_ACCOUNT = obj(
    {
        "id": UUID,
        "type": {"type": "string", "enum": list(CHANNEL_TYPES)},
        "channelAccountMetadata": _METADATA,
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
    ["id", "type", "channelAccountMetadata", "createdAt", "updatedAt"],
)

SCHEMAS: dict[str, Schema] = {
    "SchemaMapping": MAPPING,
    "ContactsSource": _CONTACTS_SOURCE,
    "SegmentCondition": _CONDITION,
    "Segment": SEGMENT,
    "SegmentCreate": SEGMENT_CREATE,
    "SegmentUpdate": SEGMENT_UPDATE,
    "TextToSegment": TEXT_TO_SEGMENT,
    "TextToSegmentResult": TEXT_TO_SEGMENT_RESULT,
    "ChannelAccount": CHANNEL_ACCOUNT,
    "ChannelAccountCreate": obj(
        {
            "type": {"type": "string", "enum": list(CHANNEL_TYPES)},
            "channelAccountMetadata": _METADATA,
        },
        ["type"],
        additionalProperties=False,
    ),
    "ChannelAccountUpdate": obj(
        {"channelAccountMetadata": {**_METADATA, "required": ["baseDomain"]}},
        ["channelAccountMetadata"],
        additionalProperties=False,
    ),
}


def _ok(data: Schema) -> dict[str, Any]:
    return {"200": response("Status 200 response", envelope(data))}


_SEGMENT_ID = path_param("id", "The segment's id")
_READ = errors("400", "401", "403", "404")
_WRITE = errors("400", "401", "403", "404", "409", "413", "415")
_NO_CONTACTS = "409 when the partner's mapping names no active contacts schema."

OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/partner/schema-mappings",
        "getSchemaMappings",
        "Get schema mappings",
        MAPPINGS_TAG,
        {**_ok(schema_ref("SchemaMapping")), **errors("401", "403")},
        "The partner's mapping; until one is posted, the default mapping of the built-in "
        "customers and transactions schemas.",
    ),
    Operation(
        "POST",
        "/partner/schema-mappings",
        "updateSchemaMappings",
        "Update schema mappings",
        MAPPINGS_TAG,
        {**_ok(schema_ref("SchemaMapping")), **errors("400", "401", "403", "413", "415")},
        "Replaces the mapping. Each schemaId must be one of the partner's active schemas and "
        "each mapped value a field of that schema; 400s name the path of every problem.",
        body=schema_ref("SchemaMapping"),
    ),
    Operation(
        "GET",
        "/api/segments",
        "listSegments",
        "List segments",
        SEGMENTS_TAG,
        {**_ok(page_of(schema_ref("Segment"))), **_READ},
        "Cursor-paginated, oldest first.",
        parameters=(param_ref("Cursor"), param_ref("Limit")),
    ),
    Operation(
        "POST",
        "/api/segments",
        "createSegment",
        "Create segment",
        SEGMENTS_TAG,
        {**_ok(schema_ref("Segment")), **_WRITE},
        "Create a new tenant segment. Conditions are ANDed; semantics per operator in "
        "docs/decisions.md (Segments). " + _NO_CONTACTS,
        body=schema_ref("SegmentCreate"),
    ),
    Operation(
        "POST",
        "/api/segments/text-to-segment",
        "textToSegment",
        "Text to segment",
        SEGMENTS_TAG,
        {**_ok(schema_ref("TextToSegmentResult")), **_WRITE},
        "Turns a fixed set of English phrasings into conditions (no language model): "
        "'customers named Ada', 'customers with(out) a phone', 'customers whose birthday is in "
        "March', 'customers whose city is Paris', 'customers who opted out of email', "
        "'customers created after 2024-01-31', 'emails ending in @example.com'. Anything "
        "else: success false with a failureReason.",
        body=schema_ref("TextToSegment"),
    ),
    Operation(
        "GET",
        "/api/segments/user/{externalId}",
        "getUserSegments",
        "Segments of a user",
        SEGMENTS_TAG,
        {**_ok(obj({"segments": array(schema_ref("Segment"))}, ["segments"])), **_READ},
        "Get all segments a user (a contact, by its external id) belongs to; 404 for an "
        "unknown user.",
        parameters=(path_param("externalId", "The contact's external id"),),
    ),
    Operation(
        "GET",
        "/api/segments/{id}",
        "getSegment",
        "Get segment",
        SEGMENTS_TAG,
        {**_ok(schema_ref("Segment")), **_READ},
        parameters=(_SEGMENT_ID,),
    ),
    Operation(
        "PATCH",
        "/api/segments/{id}",
        "updateSegment",
        "Update segment",
        SEGMENTS_TAG,
        {**_ok(schema_ref("Segment")), **_WRITE},
        "Fields not sent are unchanged.",
        parameters=(_SEGMENT_ID,),
        body=schema_ref("SegmentUpdate"),
    ),
    Operation(
        "DELETE",
        "/api/segments/{id}",
        "deleteSegment",
        "Delete segment",
        SEGMENTS_TAG,
        {**_ok(schema_ref("Segment")), **errors("401", "403", "404")},
        parameters=(_SEGMENT_ID,),
    ),
    Operation(
        "GET",
        "/api/segments/{id}/members",
        "listSegmentMembers",
        "Segment members",
        SEGMENTS_TAG,
        {**_ok(page_of(schema_ref(GENERIC_RECORD))), **_READ},
        "The contacts' records, evaluated now, in storage order; pagination.total counts "
        "every member. " + _NO_CONTACTS,
        parameters=(_SEGMENT_ID, param_ref("Cursor"), param_ref("Limit")),
    ),
    Operation(
        "GET",
        "/api/channel/accounts",
        "listChannelAccounts",
        "List channel accounts",
        CHANNELS_TAG,
        {**_ok(array(schema_ref("ChannelAccount"))), **errors("401", "403", "404")},
        "All of the tenant's channel accounts (not paginated; at most 100).",
    ),
    Operation(
        "POST",
        "/api/channel/accounts",
        "createChannelAccount",
        "Create channel account",
        CHANNELS_TAG,
        {**_ok(schema_ref("ChannelAccount")), **_WRITE},
        body=schema_ref("ChannelAccountCreate"),
    ),
    Operation(
        "PATCH",
        "/api/channel/accounts/{id}",
        "updateChannelAccount",
        "Update channel account",
        CHANNELS_TAG,
        {**_ok(schema_ref("ChannelAccount")), **_WRITE},
        "Sets channelAccountMetadata.baseDomain (a host name).",
        parameters=(path_param("id", "The channel account's id"),),
        body=schema_ref("ChannelAccountUpdate"),
    ),
]
