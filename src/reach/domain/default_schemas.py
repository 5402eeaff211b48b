"""The schemas every partner has from its creation: customers, locations, transactions.

``customers`` follows the published PATCH contract field for field (required fields and the
opt-out defaults included). ``transactions`` links to the other two through ``$ref`` fields.
"""

from __future__ import annotations

from typing import Any

DRAFT_07 = "http://json-schema.org/draft-07/schema#"

CUSTOMERS: dict[str, Any] = {
    "name": "customers",
    "pluralName": "customers",
    "description": "Default customer resource",
    "category": "contacts_schema",
    "externalIdField": "customerId",
    "schema": {
        "$schema": DRAFT_07,
        "title": "Customer",
        "type": "object",
        "properties": {
            "customerId": {"type": "string", "x-pii-type": "EXTERNAL_ID"},
            "email": {"type": "string", "x-pii-type": "EMAIL"},
            "phone": {"type": "string", "x-pii-type": "PHONE"},
            "firstName": {"type": "string", "x-pii-type": "FIRST_NAME"},
            "lastName": {"type": "string", "x-pii-type": "LAST_NAME"},
            "emailOptOut": {
                "type": "boolean",
                "default": False,
                "description": "Email subscription opt-out status. Defaults to false (opted in)",
            },
            "smsOptOut": {
                "type": "boolean",
                "default": True,
                "description": "SMS subscription opt-out status. Defaults to true (opted out)",
            },
            "customerDetailUrl": {
                "type": "string",
                "description": "URL to click-out to the customer detail page",
            },
            "createdAt": {"type": "string", "format": "date-time"},
        },
        "required": ["customerId", "firstName", "lastName", "createdAt"],
    },
}

LOCATIONS: dict[str, Any] = {
    "name": "locations",
    "pluralName": "locations",
    "description": "Default location resource",
    "category": "locations_schema",
    "externalIdField": "locationId",
    "schema": {
        "$schema": DRAFT_07,
        "title": "Location",
        "type": "object",
        "properties": {
            "locationId": {"type": "string", "x-pii-type": "EXTERNAL_ID"},
            "name": {"type": "string"},
            "address": {"type": "string"},
            "address2": {"type": "string"},
            "address3": {"type": "string"},
            "city": {"type": "string"},
            "state": {"type": "string"},
            "zipCode": {"type": "string"},
        },
        "required": ["locationId", "name"],
    },
}

TRANSACTIONS: dict[str, Any] = {
    "name": "transactions",
    "pluralName": "transactions",
    "description": "Default transaction resource",
    "category": "transactions_schema",
    "externalIdField": "transactionId",
    "schema": {
        "$schema": DRAFT_07,
        "title": "Transaction",
        "type": "object",
        "properties": {
            "transactionId": {"type": "string", "x-pii-type": "EXTERNAL_ID"},
            "customerId": {"$ref": "reach:schemas/customers"},
            "locationId": {"$ref": "reach:schemas/locations"},
            "transactionDate": {"type": "string", "format": "date-time"},
            "transactionTotal": {"type": "number"},
            "transactionDetailUrl": {"type": "string"},
        },
        "required": ["transactionId", "transactionDate", "transactionTotal"],
    },
}

# Order matters: a schema's $ref targets must exist before it.
DEFAULT_SCHEMAS: tuple[dict[str, Any], ...] = (CUSTOMERS, LOCATIONS, TRANSACTIONS)
