"""What a batch is: its types, statuses, options, and the outcome of one item.

Statuses (the reference shows only ``success``; the rest are ours, see docs/batches.md):

* ``pending`` — accepted and stored; no worker has started it.
* ``processing`` — a worker has started it; items remain queued, or wait for a dependency.
* ``success`` — complete; every item succeeded (also a delete-all that found nothing).
* ``partial_success`` — complete; some items succeeded and some failed.
* ``failed`` — complete; no item succeeded.
"""

from __future__ import annotations

from typing import Any

import msgspec

INGEST = "PARTNER_RESOURCE_JSON_INGEST"
PATCH = "PARTNER_RESOURCE_BATCH_PATCH"
DELETE = "PARTNER_RESOURCE_BATCH_DELETE"
BATCH_TYPES = (INGEST, PATCH, DELETE)

PENDING = "pending"
PROCESSING = "processing"
SUCCESS = "success"
PARTIAL_SUCCESS = "partial_success"
FAILED = "failed"

MAX_ITEMS = 1000
MAX_WAIT_SECONDS = 86_400

# Item statuses (stored, never on the wire as such).
QUEUED = "queued"
SUCCEEDED = "succeeded"
WAITING = "pending"
ITEM_FAILED = "failed"


class Reason:
    """The keys of ``errors.summary``: why an item failed."""

    INVALID_ITEM = "invalid_item"
    UNKNOWN_FIELDS = "unknown_fields"
    INVALID_EXTERNAL_ID = "invalid_external_id"
    VALIDATION_FAILED = "validation_failed"
    ALREADY_EXISTS = "already_exists"
    NOT_FOUND = "not_found"
    MISSING_DEPENDENCY = "missing_dependency"
    DEPENDENCY_TIMEOUT = "dependency_timeout"
    REFERENCED = "referenced_by_other_records"
    SCHEMA_UNAVAILABLE = "schema_unavailable"
    TENANT_UNAVAILABLE = "tenant_unavailable"
    INTERNAL_ERROR = "internal_error"


class Options(msgspec.Struct, frozen=True, kw_only=True):
    """A batch's request options, stored with it so the worker applies what was asked."""

    on_conflict: str = "upsert"
    ignore_unknown: bool = False
    wait_seconds: int = 0
    cascade: bool = False
    delete_all: bool = False
    # Who submitted the batch, for the actor of its items' change events.
    tenant_token: bool = False
    request_id: str | None = None


class ItemError(Exception):
    """One item cannot be applied; the batch carries on with the others."""

    def __init__(self, reason: str, errors: list[str]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errors = errors


class Outcome(msgspec.Struct, kw_only=True):
    position: int
    status: str  # SUCCEEDED, ITEM_FAILED or WAITING
    external_id: str | None
    reason: str | None = None
    errors: list[str] | None = None
    missing: list[dict[str, Any]] | None = None
    pending_at: str | None = None
    expires_at: str | None = None


def failed(position: int, external_id: str | None, reason: str, errors: list[str]) -> Outcome:
    return Outcome(
        position=position,
        status=ITEM_FAILED,
        external_id=external_id,
        reason=reason,
        errors=errors,
    )


def final_status(total: int, successful: int) -> str:
    if successful >= total:
        return SUCCESS
    if successful == 0:
        return FAILED
    return PARTIAL_SUCCESS
