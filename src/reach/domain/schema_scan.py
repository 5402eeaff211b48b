"""The start-up scan for stored schema definitions that name URLs (written before such
definitions were refused)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from reach.domain.schema_safety import remote_references
from reach.domain.schemas import SchemaDefinition
from reach.storage import schemas as store
from reach.storage.database import Database, Row


async def unsafe_stored(
    db: Database, page: int = 200
) -> AsyncIterator[tuple[SchemaDefinition, list[str]]]:
    """Stored definitions naming URLs (written before such definitions were refused), with
    what is wrong in each. They stay readable; writes to their records are refused with
    the reason (:class:`reach.domain.compiled.CompiledSchema`); nothing is fetched.

    A page at a time, each in a short read transaction, the walks in a thread: it runs
    beside the requests a server has started serving."""
    after = "00000000-0000-0000-0000-000000000000"  # below every id (ids are random UUIDs)
    while True:
        async with db.transaction(write=False) as conn:
            rows = await store.page_all_active(conn, after, page)
        if not rows:
            return
        after = str(rows[-1]["id"])
        for found in await asyncio.to_thread(_unsafe, rows):
            yield found


def _unsafe(rows: list[Row]) -> list[tuple[SchemaDefinition, list[str]]]:
    found = []
    for row in rows:
        definition = SchemaDefinition.from_row(row)
        problems = remote_references(definition.json_schema)
        if problems:
            found.append((definition, problems))
    return found
