"""Bulk-loading customers straight into a fresh database, for the ``--scale`` mode only.

A million records through the API would take many minutes of the run; the question the scale
mode asks is how the server *reads and writes* at that size, not how fast it ingests. So the
rows are written with SQL (sqlite3 ``executemany`` / PostgreSQL ``COPY``) **before** the server
starts, in exactly the stored form the server would produce (``documents.stored_customer``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import orjson

from bench import documents

CHUNK = 50_000
_SCHEMA_ID = "SELECT id FROM schema_definitions WHERE partner_id = $1 AND name_key = 'customers'"


def _rows(records: int, first: int = 0) -> Iterator[list[tuple[str, str, str]]]:
    """(id, external_id, data) in chunks, so a million documents never sit in memory at once."""
    for start in range(first, records, CHUNK):
        yield [
            (
                str(uuid.uuid4()),
                documents.customer_id(i),
                orjson.dumps(documents.stored_customer(i)).decode(),
            )
            for i in range(start, min(records, start + CHUNK))
        ]


def _sqlite(path: str, partner_id: str, tenant_id: str, records: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        (schema_id,) = conn.execute(_SCHEMA_ID.replace("$1", "?"), (partner_id,)).fetchone()
        at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        conn.execute("BEGIN IMMEDIATE")
        # SQLite's seq is the tenant's next, not the rowid (migration 0012): given here.
        (seq,) = conn.execute(
            "SELECT coalesce(max(seq), 0) FROM resources WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()
        for chunk in _rows(records):
            conn.executemany(
                "INSERT INTO resources (seq, id, tenant_id, schema_id, external_id, data, "
                "version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
                [
                    (seq + n, rid, tenant_id, schema_id, ext, data, at, at)
                    for n, (rid, ext, data) in enumerate(chunk, start=1)
                ],
            )
            seq += len(chunk)
        conn.execute(_RECOUNT, (tenant_id, schema_id))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("ANALYZE")
    finally:
        conn.close()


# Rows loaded behind the server's back must be counted as the server would have counted them.
_RECOUNT = (
    "INSERT INTO resource_counts (tenant_id, schema_id, slot, count) "
    "SELECT tenant_id, schema_id, 0, count(*) FROM resources "
    "WHERE tenant_id = ? AND schema_id = ? GROUP BY tenant_id, schema_id "
    "ON CONFLICT (tenant_id, schema_id, slot) DO UPDATE SET count = excluded.count"
)


async def _postgres(url: str, partner_id: str, tenant_id: str, records: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        schema_id = await conn.fetchval(_SCHEMA_ID, partner_id)
        at = datetime.now(UTC)
        for chunk in _rows(records):
            await conn.copy_records_to_table(
                "resources",
                columns=[
                    "id",
                    "tenant_id",
                    "schema_id",
                    "external_id",
                    "data",
                    "version",
                    "created_at",
                    "updated_at",
                ],
                records=[
                    (uuid.UUID(rid), uuid.UUID(tenant_id), schema_id, ext, data, 1, at, at)
                    for rid, ext, data in chunk
                ],
            )
        await conn.execute(
            _RECOUNT.replace("?", "$1", 1).replace("?", "$2", 1), tenant_id, schema_id
        )
        await conn.execute("ANALYZE resources")
    finally:
        await conn.close()


def load(engine: str, database: str, partner_id: str, tenant_id: str, records: int) -> float:
    """Insert ``records`` customers for the tenant; returns the seconds it took.

    ``database`` is the SQLite file path or the PostgreSQL URL.
    """
    start = time.monotonic()
    if engine == "sqlite":
        _sqlite(database, partner_id, tenant_id, records)
    else:
        asyncio.run(_postgres(database, partner_id, tenant_id, records))
    return time.monotonic() - start
