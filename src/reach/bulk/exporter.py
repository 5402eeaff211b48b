"""``reach export``: every record of one schema, streamed page by page (cursor pagination,
1000 a page) to a file or stdout, as JSON Lines (each line a record's ``data``) or CSV.

What is written is each record's ``data`` document, so an export can be imported again as it
is. CSV columns are the external id field, then the schema's other top-level properties by name
(or ``fields``);
a record with fields outside them is counted and reported, since CSV cannot hold them.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

import orjson

from reach.bulk.formats import CsvWriter
from reach.bulk.progress import Progress
from reach.client import Client, SchemaDefinition

PAGE = 1000


def default_columns(definition: SchemaDefinition) -> list[str]:
    """The external id field, then the other top-level properties by name: the same on both
    engines (PostgreSQL's jsonb does not keep a schema's property order)."""
    key = definition.external_id_field
    return [key, *sorted(name for name in definition.properties if name != key)]


def export(
    client: Client,
    schema: str,
    out: IO[bytes],
    *,
    fmt: str,
    fields: Sequence[str] | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> dict[str, Any]:
    """Write every record; ``progress`` is called with the record count once it is known."""
    started = time.monotonic()
    definition = client.get_schema(schema)
    count = 0
    writer: CsvWriter | None = None
    text: io.TextIOWrapper | None = None
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)
        writer = CsvWriter(text, list(fields or default_columns(definition)))
    cursor: str | None = None
    bar: Progress | None = None
    try:
        while True:
            page = client.list(definition.name, limit=PAGE, cursor=cursor)
            if writer is not None:
                for record in page.results:
                    writer.write(record.data)
            else:
                out.write(b"".join(orjson.dumps(r.data) + b"\n" for r in page.results))
            count += len(page.results)
            if bar is None and progress is not None:
                bar = progress(page.pagination.total)
            if bar is not None:
                bar.advance(len(page.results))
            if not page.pagination.has_next_page or not page.pagination.cursor:
                break
            cursor = page.pagination.cursor
    finally:
        if text is not None:
            text.flush()
            text.detach()  # the caller owns ``out``
        out.flush()
        if bar is not None:
            bar.close()
    seconds = time.monotonic() - started
    return {
        "schema": definition.name,
        "tenant": client.tenant,
        "records": count,
        "format": fmt,
        "recordsOutsideColumns": writer.dropped if writer is not None else 0,
        "seconds": round(seconds, 3),
        "recordsPerSecond": round(count / seconds) if seconds > 0 else None,
    }
