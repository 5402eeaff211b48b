"""``$ref`` links between records: existence checks, ``include`` resolution, referrers.

A reference field holds the external id of a record of the target schema, in the same tenant.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import msgspec

from reach.domain import schemas
from reach.domain.write_rule import Missing
from reach.errors import BadRequest

if TYPE_CHECKING:
    from reach.domain.resources import Record, Scope


async def missing(scope: Scope, wanted: list[tuple[str, str, str]]) -> list[Missing]:
    """Of the (field, target schema id, external id) references a write sets
    (:func:`reach.domain.write_rule.write`), those whose target record does not exist."""
    found: list[Missing] = []
    for field, target_id, value in wanted:
        if not await scope.rows.exists(target_id, value, share=True):
            target = await scope.registry.resolve(scope.conn, scope.tenant.partner_id, target_id)
            found.append(Missing(field, target_id, target.name, value))
    return found


async def included(
    scope: Scope, documents: list[dict[str, Any]], include: list[str]
) -> list[Record]:
    refs = scope.compiled.references
    unknown = [name for name in include if name not in refs]
    if unknown:
        raise BadRequest(
            "Invalid include",
            errors=[
                f"include: {name!r} is not a reference field of {scope.schema.name}"
                for name in unknown
            ],
        )
    wanted: dict[str, list[str]] = {}
    for name in include:
        for document in documents:
            value = document.get(name)
            if isinstance(value, str) and value not in wanted.setdefault(refs[name], []):
                wanted[refs[name]].append(value)
    records: list[Record] = []
    seen: set[str] = set()
    for target_id, external_ids in wanted.items():
        for row in await scope.rows.get_many(target_id, external_ids):
            if str(row["id"]) not in seen:
                seen.add(str(row["id"]))
                records.append(scope.record(row, schema_id=target_id))
    return records


class Referrer(msgspec.Struct, frozen=True):
    schema_id: str
    schema_name: str
    seq: int
    external_id: str


async def referencing(
    scope: Scope, external_ids: list[str], target_id: str | None = None
) -> list[Referrer]:
    """Every record in the tenant that references one of ``external_ids`` of the schema
    ``target_id`` (the scope's schema by default); a record naming itself does not count."""
    target_id = target_id or scope.schema.id
    referrers: list[Referrer] = []
    for definition in await schemas.list_active(scope.conn, scope.tenant.partner_id):
        for field, ref_target in definition.references.items():
            if ref_target != target_id:
                continue
            for row in await scope.rows.referencing(definition.id, field, external_ids):
                if definition.id == target_id and row["external_id"] in external_ids:
                    continue
                referrers.append(
                    Referrer(definition.id, definition.name, int(row["seq"]), row["external_id"])
                )
    return referrers


async def cascade(scope: Scope, external_id: str, root_seq: int) -> list[Referrer]:
    """Everything a cascading delete of one record takes with it: its referrers, their
    referrers, and so on — so no surviving record is left pointing at a deleted one."""
    taken: dict[int, Referrer] = {}
    frontier: list[tuple[str, list[str]]] = [(scope.schema.id, [external_id])]
    while frontier:
        target_id, ids = frontier.pop()
        found = [
            r
            for r in await referencing(scope, ids, target_id)
            if r.seq != root_seq and r.seq not in taken
        ]
        by_schema: dict[str, list[str]] = {}
        for referrer in found:
            taken[referrer.seq] = referrer
            by_schema.setdefault(referrer.schema_id, []).append(referrer.external_id)
        frontier.extend(by_schema.items())
    return list(taken.values())


def count_by_schema(referrers: list[Referrer]) -> list[tuple[str, int]]:
    return sorted(Counter(r.schema_name for r in referrers).items())
