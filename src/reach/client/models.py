"""Typed views of the server's answers (msgspec Structs decoded straight from the body).

Field names follow the wire's camelCase names in snake_case; the deprecated snake_case twins the
server also sends are ignored. Reach calls a partner a *platform* and a tenant a *business*, and
the records keep those names (``platform_id``, ``business_id``).
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

FINISHED = frozenset({"success", "partial_success", "failed"})


class Envelope(msgspec.Struct, Generic[T]):
    success: bool
    message: str
    data: T


class Record(msgspec.Struct, rename="camel", frozen=True):
    id: str
    schema_definition_id: str
    platform_id: str
    business_id: str
    resource_external_id: str
    created_at: str
    updated_at: str
    data: dict[str, Any]

    @property
    def external_id(self) -> str:
        return self.resource_external_id


class Fetched(msgspec.Struct, frozen=True):
    """A record and the records its ``$ref`` fields named in ``include`` resolve to."""

    result: Record
    included: list[Record]


class Pagination(msgspec.Struct, rename="camel", frozen=True):
    has_next_page: bool
    total: int
    cursor: str | None = None


class Page(msgspec.Struct, Generic[T], frozen=True):
    results: list[T]
    pagination: Pagination


class Tenant(msgspec.Struct, rename="camel", frozen=True):
    id: str
    external_id: str
    name: str
    created_at: str
    updated_at: str
    website: str | None = None
    locations: list[dict[str, Any]] = []
    deleted_at: str | None = None


class SchemaDefinition(msgspec.Struct, rename="camel", frozen=True):
    id: str
    name: str
    plural_name: str
    category: str
    external_id_field: str
    version_number: int
    created_at: str
    updated_at: str
    schema: dict[str, Any] = {}
    description: str | None = None
    reference_schemas: list[str] = []

    @property
    def properties(self) -> dict[str, Any]:
        found = self.schema.get("properties")
        return found if isinstance(found, dict) else {}


class BatchProgress(msgspec.Struct, rename="camel", frozen=True):
    total_records: int
    processed_records: int
    successful_records: int
    pending_records: int
    failed_records: int
    success_rate: float


class ItemFailure(msgspec.Struct, rename="camel", frozen=True):
    index: int
    external_id: str | None
    errors: list[str]


class BatchErrors(msgspec.Struct, frozen=True):
    summary: dict[str, int]
    details: dict[str, ItemFailure]
    message: str


class Batch(msgspec.Struct, rename="camel", frozen=True):
    batch_id: str
    status: str
    batch_type: str
    progress: BatchProgress
    errors: BatchErrors
    created_at: str
    schema_name: str
    schema_definition_id: str
    started_at: str | None = None
    completed_at: str | None = None
    cascaded_records: int = 0

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def failures(self) -> list[ItemFailure]:
        """The failed items, in request order."""
        return sorted(self.errors.details.values(), key=lambda f: f.index)


class Accepted(msgspec.Struct, rename="camel", frozen=True):
    batch_id: str
    record_count: int
    schema_definition_id: str
