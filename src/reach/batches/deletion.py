"""Deleting records in bulk: which go, which are skipped because others reference them, and
which other records a cascade takes along. One planner serves the worker and ``dryRun``, so a
preview counts exactly what the batch would do.

Decisions (the reference leaves them open; see docs/batches.md):

* Without ``cascade``, a record that a record outside the deletion references is skipped (an
  item failure, reason ``referenced_by_other_records``) — and so, transitively, is a record that
  a skipped one references inside the same schema, so no deletion leaves a dangling reference.
* With ``cascade``, every record that references a deleted record is deleted too, transitively
  (a refund that references a cascaded transaction goes with it).
* ``deleteAll`` walks the records that existed when the batch was accepted; references between
  records of the schema itself never block it (they are all being deleted).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from reach.domain import schemas
from reach.domain.resources import Scope
from reach.domain.schemas import SchemaDefinition
from reach.storage.database import Row


class Target:
    """One record asked for (``row`` is None when it does not exist)."""

    __slots__ = ("external_id", "position", "row")

    def __init__(self, position: int, external_id: str, row: Row | None) -> None:
        self.position = position
        self.external_id = external_id
        self.row = row


class Plan:
    def __init__(self) -> None:
        self.deleted: list[Target] = []
        self.skipped: list[tuple[Target, Counter[str]]] = []
        self.not_found: list[Target] = []
        self.cascaded: dict[int, str] = {}  # seq → schema name

    def seqs(self) -> list[int]:
        return [int(t.row["seq"]) for t in self.deleted if t.row is not None] + list(self.cascaded)


class _Edge:
    __slots__ = ("referrer_external_id", "referrer_schema", "referrer_seq", "target")

    def __init__(self, schema: SchemaDefinition, row: Row, target: str) -> None:
        self.referrer_schema = schema
        self.referrer_seq = int(row["seq"])
        self.referrer_external_id: str = row["external_id"]
        self.target = target


async def plan(
    scope: Scope,
    targets: list[Target],
    *,
    cascade: bool,
    delete_all: bool,
    taken: set[int] | None = None,
) -> Plan:
    """Decide the fate of ``targets`` (records of the scope's schema). ``taken`` holds seqs a
    dry run already counted in an earlier chunk, so a cascade never counts them twice."""
    result = Plan()
    present: list[Target] = []
    for target in targets:
        if target.row is None:
            result.not_found.append(target)
        else:
            present.append(target)
    if not present:
        return result
    definitions = await schemas.list_active(scope.conn, scope.tenant.partner_id)
    keys = {t.external_id for t in present}
    seqs = {int(t.row["seq"]) for t in present if t.row is not None}
    if cascade:
        result.deleted = present
        await _cascade(scope, definitions, keys, seqs | (taken or set()), result)
        return result
    edges = await _referrers(scope, definitions, scope.schema.id, keys)
    blocked: dict[str, Counter[str]] = {}
    for edge in edges:
        inside = edge.referrer_seq in seqs
        same_schema = edge.referrer_schema.id == scope.schema.id
        if inside or (delete_all and same_schema):
            continue
        blocked.setdefault(edge.target, Counter())[edge.referrer_schema.name] += 1
    # A record referenced by a skipped record of the same deletion must stay as well.
    grew = True
    while grew:
        grew = False
        for edge in edges:
            if (
                edge.referrer_seq in seqs
                and edge.referrer_external_id in blocked
                and edge.referrer_schema.id == scope.schema.id
                and edge.target not in blocked
            ):
                blocked[edge.target] = Counter({edge.referrer_schema.name: 1})
                grew = True
    for target in present:
        referrers = blocked.get(target.external_id)
        if referrers:
            result.skipped.append((target, referrers))
        else:
            result.deleted.append(target)
    return result


async def _referrers(
    scope: Scope, definitions: list[SchemaDefinition], schema_id: str, keys: set[str]
) -> list[_Edge]:
    """Every record whose top-level reference field names one of ``keys`` of ``schema_id``."""
    edges: list[_Edge] = []
    ordered = sorted(keys)
    for definition in definitions:
        for field, target_id in definition.references.items():
            if target_id != schema_id:
                continue
            for row in await scope.rows.referencing(definition.id, field, ordered):
                value = orjson.loads(row["data"]).get(field)
                if isinstance(value, str) and value in keys:
                    edges.append(_Edge(definition, row, value))
    return edges


async def _cascade(
    scope: Scope,
    definitions: list[SchemaDefinition],
    keys: set[str],
    taken: set[int],
    result: Plan,
) -> None:
    """Add every record that references a deleted one, level by level, to ``result.cascaded``."""
    frontier: dict[str, set[str]] = {scope.schema.id: keys}
    while frontier:
        following: dict[str, set[str]] = {}
        for schema_id, frontier_keys in frontier.items():
            for edge in await _referrers(scope, definitions, schema_id, frontier_keys):
                if edge.referrer_seq in taken:
                    continue
                taken.add(edge.referrer_seq)
                result.cascaded[edge.referrer_seq] = edge.referrer_schema.name
                following.setdefault(edge.referrer_schema.id, set()).add(edge.referrer_external_id)
        frontier = following


def referenced_message(referrers: Counter[str]) -> str:
    counts = ", ".join(f"{n} {name}" for name, n in sorted(referrers.items()))
    return f"referenced by other records ({counts}); delete with cascade=true to delete them too"


class Preview:
    """What a delete would do, accumulated over chunks (``dryRun``)."""

    def __init__(self, schema_name: str) -> None:
        self.schema_name = schema_name
        self.deletions: Counter[str] = Counter()
        self.skipped = 0
        self.not_found = 0
        self.counted: set[int] = set()

    def add(self, result: Plan) -> None:
        self.deletions[self.schema_name] += len(result.deleted)
        for name in result.cascaded.values():
            self.deletions[name] += 1
        self.skipped += len(result.skipped)
        self.not_found += len(result.not_found)
        self.counted.update(result.seqs())
        self.counted.update(int(t.row["seq"]) for t, _ in result.skipped if t.row is not None)

    def wire(self) -> dict[str, Any]:
        return {
            "deletions": dict(sorted(self.deletions.items())),
            "totalDeletions": sum(self.deletions.values()),
            "skippedForReferences": {self.schema_name: self.skipped},
            "notFound": self.not_found,
        }
