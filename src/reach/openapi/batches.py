"""Batch operations: ``/api/resources/{schema}/batch`` (upload, patch, delete, up to 1000
resources, processed asynchronously) and the batch jobs at ``/api/batches``.

Shapes follow :mod:`reach.routes.batches` and the Reach docs digest (202 envelope with
``batchId``; status with ``progress``, ``errors`` and pending resources).
"""

from __future__ import annotations

from reach.openapi.components import (
    BOOLEAN,
    STRING,
    TIMESTAMP,
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
from reach.openapi.resources import CUSTOM_TAG, DEFAULT_TAG, ResourceSchema

TAG = "Batch Operations"
MAX_ITEMS = 1000
BATCH_TYPES = [
    "PARTNER_RESOURCE_JSON_INGEST",
    "PARTNER_RESOURCE_BATCH_PATCH",
    "PARTNER_RESOURCE_BATCH_DELETE",
]
STATUSES = ["pending", "processing", "success", "partial_success", "failed"]

_COUNT: Schema = {"type": "integer", "minimum": 0}
_COUNTS: Schema = {"type": "object", "additionalProperties": _COUNT}
_FLAG: Schema = {
    "oneOf": [BOOLEAN, {"type": "string", "enum": ["true", "false"]}],
    "default": False,
}
_MISSING = obj(
    {"schemaDefinitionId": STRING, "externalId": STRING, "schemaName": STRING},
    ["schemaDefinitionId", "externalId", "schemaName"],
)
_ITEM_ERROR = obj(
    {
        "index": {**_COUNT, "description": "Position of the item in the request"},
        "externalId": {**STRING, "nullable": True},
        "errors": array(STRING),
    },
    ["index", "externalId", "errors"],
)
_PENDING = obj(
    {
        "id": STRING,
        "resourceExternalId": {**STRING, "nullable": True},
        "schemaDefinitionId": STRING,
        "schemaName": STRING,
        "missingDependencies": array(_MISSING),
        "expiresAt": {**TIMESTAMP, "nullable": True},
        "createdAt": {**TIMESTAMP, "nullable": True},
    },
    ["id", "schemaDefinitionId", "schemaName", "missingDependencies"],
)

SCHEMAS: dict[str, Schema] = {
    "BatchAccepted": envelope(
        obj(
            {
                "batchId": {**STRING, "format": "uuid"},
                "message": STRING,
                "recordCount": _COUNT,
                "schemaDefinitionId": {**STRING, "format": "uuid"},
            },
            ["batchId", "message", "recordCount", "schemaDefinitionId"],
        )
    ),
    "BatchStatus": obj(
        {
            "batchId": {**STRING, "format": "uuid"},
            "status": {"type": "string", "enum": STATUSES},
            "batchType": {"type": "string", "enum": BATCH_TYPES},
            "progress": obj(
                {
                    "totalRecords": _COUNT,
                    "processedRecords": _COUNT,
                    "successfulRecords": _COUNT,
                    "pendingRecords": _COUNT,
                    "failedRecords": _COUNT,
                    "successRate": {
                        "type": "number",
                        "minimum": 0,
                        "maximum": 100,
                        "description": "Percent of processed records that succeeded",
                    },
                },
                [
                    "totalRecords",
                    "processedRecords",
                    "successfulRecords",
                    "pendingRecords",
                    "failedRecords",
                    "successRate",
                ],
            ),
            "cascadedRecords": {
                **_COUNT,
                "description": "Records of other schemas deleted by cascade",
            },
            "createdAt": TIMESTAMP,
            "startedAt": {**TIMESTAMP, "nullable": True},
            "completedAt": {**TIMESTAMP, "nullable": True},
            "schemaName": STRING,
            "schemaDefinitionId": {**STRING, "format": "uuid"},
            "errors": obj(
                {
                    "summary": {**_COUNTS, "description": "Failed items per reason"},
                    "details": {
                        "type": "object",
                        "additionalProperties": _ITEM_ERROR,
                        "description": "Failed items by request index (empty in the list)",
                    },
                    "message": STRING,
                },
                ["summary", "details", "message"],
            ),
            "pendingResources": array(
                _PENDING,
                description="Items waiting for a dependency; only with includePendingDetails",
            ),
        },
        ["batchId", "status", "batchType", "progress", "createdAt", "errors"],
    ),
    "BatchDelete": obj(
        {
            "externalIds": array(
                STRING,
                maxItems=MAX_ITEMS,
                description="External IDs to delete. Required (non-empty) unless deleteAll",
            ),
            "cascade": {
                **_FLAG,
                "description": "Also delete resources of other schemas that reference them",
            },
            "deleteAll": {
                **_FLAG,
                "description": "Delete every resource of the schema (externalIds empty)",
            },
            "dryRun": {
                **_FLAG,
                "description": "Answer at once with what would be deleted; change nothing",
            },
        },
        additionalProperties=False,
    ),
    "BatchDeletePreview": envelope(
        obj(
            {
                "dryRun": {"type": "boolean", "enum": [True]},
                "schemaDefinitionId": {**STRING, "format": "uuid"},
                "schemaName": STRING,
                "recordCount": _COUNT,
                "cascade": BOOLEAN,
                "deleteAll": BOOLEAN,
                "deletions": {**_COUNTS, "description": "Records that would go, per schema"},
                "totalDeletions": _COUNT,
                "skippedForReferences": {
                    **_COUNTS,
                    "description": "Records kept because others reference them (no cascade)",
                },
                "notFound": _COUNT,
            },
            ["dryRun", "recordCount", "deletions", "totalDeletions"],
        )
    ),
}

_ACCEPTED = {"202": response("Accepted; poll /api/batches/{batchId}", schema_ref("BatchAccepted"))}
_REJECTED = errors("400", "401", "403", "404", "413", "415")
_DEPENDENCY_WAIT = query_param(
    "dependencyWaitTimeout",
    {"type": "integer", "nullable": True, "minimum": 0, "maximum": 86400, "default": 0},
    "Timeout in seconds for storing resources with missing dependencies ($ref targets) as "
    "pending. If 0 or not provided, resources with missing dependencies will be rejected",
)


def _resources_body(item: Schema, text: str) -> Schema:
    return obj(
        {"resources": array(item, minItems=1, maxItems=MAX_ITEMS, description=text)}, ["resources"]
    )


def operations(schema: ResourceSchema | None) -> list[Operation]:
    """Batch upload, patch and delete on one schema's path, or on the generic path."""
    if schema is None:
        path = "/api/resources/{schemaDefinitionNameOrId}/batch"
        scope: tuple[Schema, ...] = (
            path_param("schemaDefinitionNameOrId", "The name or id of the schema definition"),
        )
        tag, suffix, noun = TAG, "", "resources"
        item: Schema = {"type": "object", "additionalProperties": True}
        patch_item = item
    else:
        path = f"/api/resources/{schema.name}/batch"
        scope = ()
        tag = DEFAULT_TAG if schema.is_default else CUSTOM_TAG
        suffix, noun = f"_{schema.name}", f"{schema.noun} resources"
        item = schema_ref(schema.component("CreateData"))
        patch_item = {
            "allOf": [
                schema_ref(schema.component("PartialData")),
                {"required": [schema.external_id_field]},
            ]
        }
    return [
        Operation(
            "POST",
            path,
            f"batchUploadResources{suffix}",
            f"Batch upload {noun}",
            tag,
            {**_ACCEPTED, **_REJECTED},
            f"Queues up to {MAX_ITEMS} {noun} for asynchronous create-or-merge. Each item "
            "is the bare resource object (no data wrapper).",
            parameters=(
                *scope,
                param_ref("OnConflict"),
                param_ref("IgnoreUnknownFields"),
                _DEPENDENCY_WAIT,
            ),
            body=_resources_body(item, "The resources to upload"),
        ),
        Operation(
            "PATCH",
            path,
            f"batchPatchResources{suffix}",
            f"Batch patch {noun}",
            tag,
            {**_ACCEPTED, **_REJECTED},
            "Queues incremental updates; each item names its record by the external ID "
            "field. Within a batch, patches apply in order.",
            parameters=(*scope, param_ref("IgnoreUnknownFields")),
            body=_resources_body(patch_item, "The partial resources to apply"),
        ),
        Operation(
            "DELETE",
            path,
            f"batchDeleteResources{suffix}",
            f"Batch delete {noun}",
            tag,
            {
                **_ACCEPTED,
                "200": response("dryRun: what would be deleted", schema_ref("BatchDeletePreview")),
                **_REJECTED,
            },
            "Queues the deletion of the given external IDs (or of every resource with deleteAll).",
            parameters=scope,
            body=schema_ref("BatchDelete"),
        ),
    ]


JOB_OPERATIONS: list[Operation] = [
    Operation(
        "GET",
        "/api/batches",
        "listBatches",
        "List batch jobs",
        TAG,
        {
            "200": response("Status 200 response", envelope(page_of(schema_ref("BatchStatus")))),
            **errors("400", "401", "403", "404"),
        },
        "Retrieves all batch jobs for a business with pagination.",
        parameters=(
            param_ref("Cursor"),
            query_param(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20},
                "Number of results per page (Default: 20)",
            ),
            query_param(
                "batchType",
                {"type": "string", "enum": BATCH_TYPES},
                "Optional batch type to filter by. If not provided, returns all batch types.",
            ),
            query_param(
                "sortBy",
                {"type": "string", "enum": ["createdAt"], "default": "createdAt"},
                "Field to sort by",
            ),
            query_param(
                "sortOrder",
                {"type": "string", "enum": ["desc", "asc"], "default": "desc"},
                "Newest first (desc) or oldest first (asc)",
            ),
        ),
    ),
    Operation(
        "GET",
        "/api/batches/{batchId}",
        "getBatch",
        "Get batch status",
        TAG,
        {
            "200": response("Status 200 response", envelope(schema_ref("BatchStatus"))),
            **errors("400", "401", "403", "404"),
        },
        "Retrieves the current status, progress, and any error details for a batch operation.",
        parameters=(
            path_param("batchId", "The batch ID to check status for"),
            query_param(
                "includePendingDetails",
                {"type": "string", "enum": ["true", "false"]},
                "Whether to include detailed information about pending resources and their "
                "dependencies",
            ),
        ),
    ),
]
