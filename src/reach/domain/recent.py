"""Records this process read or wrote last: hints that let a merge skip its read.

A merge (PATCH, upsert into an existing record) is compare-and-set on the record's version
(:mod:`reach.domain.resources`). When this process has just read or written a record it already
holds one (version, document) pair of it, and while that version is current, reading it again
only confirms what the version check will confirm anyway. So a merge may start from the hint
and let the check decide: a stale hint (another process wrote, or the record was deleted and
created again under a new ``seq``) matches no row and changes nothing, and the merge reads the
stored record as usual.

A hint is only taken once its transaction has committed (``Connection.when_committed``): a
version that rolled back may be written later by another process with another document, and a
hint of it would pass that version's check.

A hint is never an answer. GETs always read. A merge reads before it answers whenever the
outcome would rest on the hint being current: when the merged document fails validation, or
when nothing would change. Only a write the database accepted for that exact version is
answered from it, and a version is written once, so that answer is the stored record.
"""

from __future__ import annotations

from typing import Any

from reach.storage.database import Row

# tenant id, schema id, external id: a key that cannot reach across tenants or schemas
Key = tuple[str, str, str]

_FIELDS = ("seq", "id", "schema_id", "external_id", "data", "version", "created_at", "updated_at")


def snapshot(row: Row | dict[str, Any]) -> dict[str, Any]:
    """A stored row as a plain dict, detached from its cursor or connection."""
    if isinstance(row, dict):
        return row
    return {name: row[name] for name in _FIELDS}


class RecentRecords:
    """A bounded map of hints, oldest dropped first; one per process."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._rows: dict[Key, dict[str, Any]] = {}

    def get(self, key: Key) -> dict[str, Any] | None:
        return self._rows.get(key)

    def put(self, key: Key, row: dict[str, Any]) -> None:
        if self.max_size <= 0:
            return
        rows = self._rows
        # Re-inserted at the end: dicts keep insertion order, so the front is the oldest.
        rows.pop(key, None)
        if len(rows) >= self.max_size:
            del rows[next(iter(rows))]
        rows[key] = row

    def forget(self, key: Key) -> None:
        self._rows.pop(key, None)

    def __len__(self) -> int:
        return len(self._rows)
