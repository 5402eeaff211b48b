"""What a change event costs SQLite, layout by layout: ``python -m bench.events_sqlite``.

Plain ``sqlite3``, no server: each loop is ``BEGIN IMMEDIATE``, the resource ``UPDATE`` (one
of ``--records``), the event ``INSERT`` (a ~1 KB body, as a PATCH's), ``COMMIT``; WAL,
``synchronous=NORMAL``, SQLite's default auto-checkpoint; ``--prefill`` events in the table
first. CPU per loop, the layouts interleaved round by round, medians printed. ``--group N``
commits every N loops (what group commit would buy). docs/benchmarks.md, *SQLite events as a
rowid table*, has the figures.

    python -m bench.events_sqlite --layouts none,main,rowid --rounds 5
    python -m bench.events_sqlite --layouts none,rowid,chain   # migration 0020's history chain
"""

# SQL here is assembled from this module's constant literals only (no outside input):
# ruff: noqa: S608

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path

_COLUMNS = (
    "tenant_id VARCHAR(36) NOT NULL, id VARCHAR(36) NOT NULL, partner_id VARCHAR(36) NOT NULL, "
    "position BIGINT, type TEXT NOT NULL, schema_id VARCHAR(36), external_id TEXT, "
    "version INTEGER, occurred_at TEXT NOT NULL, body TEXT NOT NULL"
)
_FEED = "CREATE INDEX ix_events_feed ON events (tenant_id, position);"
_HISTORY = "CREATE INDEX ix_events_history ON events (tenant_id, schema_id, external_id, seq);"
_BASE = (
    "CREATE TABLE resources (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, "
    "tenant_id TEXT NOT NULL, schema_id TEXT NOT NULL, external_id TEXT NOT NULL, "
    "data TEXT NOT NULL, version INTEGER NOT NULL, updated_at TEXT NOT NULL, "
    "last_event BIGINT, UNIQUE (tenant_id, id), UNIQUE (tenant_id, schema_id, external_id));"
    "CREATE TABLE event_heads (tenant_id TEXT NOT NULL, schema_id TEXT NOT NULL, "
    "external_id TEXT NOT NULL, seq BIGINT NOT NULL, "
    "PRIMARY KEY (tenant_id, schema_id, external_id));"
    "CREATE INDEX ix_resources_listing ON resources (tenant_id, schema_id, seq);"
    "CREATE TABLE sequences (name TEXT PRIMARY KEY, last BIGINT NOT NULL);"
    "INSERT INTO sequences VALUES ('events', 0);"
    "CREATE TABLE event_stamp (id SMALLINT PRIMARY KEY, last_position BIGINT NOT NULL);"
    "INSERT INTO event_stamp VALUES (1, 0);"
)
_ROWID = f"CREATE TABLE events (seq INTEGER PRIMARY KEY, {_COLUMNS}, prev BIGINT);"
# name → (DDL, how the insert numbers the event)
LAYOUTS = {
    "none": ("", ""),
    "main": (
        f"CREATE TABLE events (seq INTEGER NOT NULL, {_COLUMNS}, PRIMARY KEY (tenant_id, seq));"
        f"{_FEED}{_HISTORY}CREATE INDEX ix_events_stamp ON events (position, seq);"
        "CREATE TRIGGER sequences_events AFTER INSERT ON events BEGIN UPDATE sequences "
        "SET last = NEW.seq WHERE name = 'events' AND last < NEW.seq; END;",
        "sequences",
    ),
    "rowid": (f"{_ROWID}{_FEED}{_HISTORY}", "values"),
    # Migration 0020: no history index; each event chains to its record's previous one,
    # whose seq the record's row holds (reach.storage.events / event_chain).
    "chain": (f"{_ROWID}{_FEED}", "chain"),
    "rowid_select": (f"{_ROWID}{_FEED}{_HISTORY}", "select"),
    "feed_only": (f"{_ROWID}{_FEED}", "values"),
    "table_only": (_ROWID, "values"),
}
_NAMES = "seq, position, tenant_id, id, partner_id, type, schema_id, external_id, version, "
_NAMES += "occurred_at, body"
_NEXT = (
    "(SELECT max(coalesce((SELECT max(seq) FROM events), 0), "
    "coalesce((SELECT last_position FROM event_stamp WHERE id = 1), 0)) + 1)"
)
_INSERTS = {
    "sequences": f"INSERT INTO events ({_NAMES}) SELECT s.n, s.n, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    "FROM (SELECT (SELECT last + 1 FROM sequences WHERE name = 'events') AS n) AS s",
    "select": f"INSERT INTO events ({_NAMES}) SELECT s.n, s.n, ?, ?, ?, ?, ?, ?, ?, ?, ? "
    f"FROM (SELECT {_NEXT} AS n) AS s",
    "values": f"INSERT INTO events ({_NAMES}) VALUES ({_NEXT}, {_NEXT}, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "chain": f"INSERT INTO events ({_NAMES}, prev) VALUES ({_NEXT}, {_NEXT}, ?1, ?2, ?3, ?4, "
    "?5, ?6, ?7, ?8, ?9, coalesce((SELECT last_event FROM resources WHERE tenant_id = ?1 "
    "AND schema_id = ?5 AND external_id = ?6), (SELECT seq FROM event_heads WHERE "
    "tenant_id = ?1 AND schema_id = ?5 AND external_id = ?6), 0))",
}
_MOVE_HEAD = (
    "UPDATE resources SET last_event = last_insert_rowid() WHERE tenant_id = ? "
    "AND schema_id = ? AND external_id = ?"
)
_DOC = {
    "email": "someone@example.com",
    "firstName": "Some",
    "lastName": "Body",
    "phone": "+15550000000",
    "address": {"street": "1 Main St", "city": "Springfield", "zip": "12345"},
    "tags": ["a", "b"],
}


def fresh_database(
    path: Path, ddl: str, records: int
) -> tuple[sqlite3.Connection, tuple[str, str, str]]:
    """A new WAL database at ``path`` made by ``ddl``, with ``records`` resource rows
    (external ids ``c-1``…, version 1) of one tenant; the connection (autocommit) and that
    tenant's, schema's and partner's ids."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(ddl)
    tenant, schema, partner = (str(uuid.uuid4()) for _ in range(3))
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO resources (id, tenant_id, schema_id, external_id, data, version, "
        "updated_at) VALUES (?, ?, ?, ?, ?, 1, 't')",
        (
            (str(uuid.uuid4()), tenant, schema, f"c-{n}", json.dumps({**_DOC, "customerId": n}))
            for n in range(1, records + 1)
        ),
    )
    conn.execute("COMMIT")
    return conn, (tenant, schema, partner)


def run(layout: str, path: Path, args: argparse.Namespace) -> float:
    """CPU µs per loop for one fresh database of ``layout``."""
    ddl, numbering = LAYOUTS[layout]
    conn, (tenant, schema, partner) = fresh_database(path, _BASE + ddl, args.records)
    versions = [1] * (args.records + 1)
    insert = _INSERTS.get(numbering)
    rng = random.Random(7)

    def one(k: int) -> None:
        seq = rng.randint(1, args.records)
        data = {**_DOC, "customerId": seq, "score": k}
        body = json.dumps(
            {
                "id": str(uuid.uuid4()),
                "type": "resource.updated",
                "occurredAt": "2026-12-03T16:00:00.000Z",
                "schemaDefinitionId": schema,
                "schemaName": "customers",
                "resourceExternalId": f"c-{seq}",
                "version": versions[seq] + 1,
                "changes": {"score": {"from": k - 1, "to": k}},
                "data": data,
                "actor": {"partnerId": partner, "tenantToken": True, "via": "api"},
            }
        )
        if k % args.group == 0:
            conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE resources SET data = ?, version = ?, updated_at = 'u' "
            "WHERE tenant_id = ? AND seq = ? AND version = ?",
            (json.dumps(data), versions[seq] + 1, tenant, seq, versions[seq]),
        )
        versions[seq] += 1
        if insert is not None:
            conn.execute(
                insert,
                (tenant, str(uuid.uuid4()), partner, "resource.updated", schema, f"c-{seq}",
                 versions[seq], "2026-12-03T16:00:00.000Z", body),
            )  # fmt: skip
            if numbering == "chain":
                conn.execute(_MOVE_HEAD, (tenant, schema, f"c-{seq}"))
        if k % args.group == args.group - 1:
            conn.execute("COMMIT")

    for k in range(args.prefill):
        one(k)
    began = time.process_time()
    for k in range(args.loops):
        one(k)
    spent = time.process_time() - began
    if conn.in_transaction:
        conn.execute("COMMIT")
    conn.close()
    return spent / int(args.loops) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.events_sqlite", description=__doc__)
    parser.add_argument("--layouts", default="none,main,rowid")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--prefill", type=int, default=20_000)
    parser.add_argument("--loops", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--group", type=int, default=1, help="loops per transaction")
    args = parser.parse_args()
    layouts = [name for name in args.layouts.split(",") if name]
    for name in layouts:
        if name not in LAYOUTS:
            parser.error(f"unknown layout {name!r}; one of {', '.join(LAYOUTS)}")
    results: dict[str, list[float]] = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory(prefix="reach-events-sqlite-") as tmp:
        for n in range(args.rounds):
            for name in layouts if n % 2 == 0 else layouts[::-1]:
                results[name].append(run(name, Path(tmp) / f"{name}.db", args))
    for name in layouts:
        runs = results[name]
        print(
            f"{name:13} {statistics.median(runs):7.1f} µs per loop  "
            f"({', '.join(f'{r:.0f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
