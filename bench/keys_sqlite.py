"""What an ``Idempotency-Key`` costs SQLite, layout by layout: ``python -m bench.keys_sqlite``.

Plain ``sqlite3``, no server: each loop is an events-on PATCH as the server writes it (the
layout of migration 0020: ``BEGIN IMMEDIATE``, the resource ``UPDATE``, the chained event
``INSERT`` and the record's head, from :mod:`bench.events_sqlite`), then the key's row, then
``COMMIT``; WAL, ``synchronous=NORMAL``, SQLite's default auto-checkpoint (its CPU counted).
CPU per loop and WAL frames written per commit, the layouts interleaved round by round,
medians printed, each keyed layout also as a ratio to ``none``.

Layouts (the key's row; ``none`` writes none):

* ``answer``: ``idempotency_keys`` as migrated (a rowid table, its primary key's index and the
  tenant's foreign key; no ``expires_at`` index, 0021) with a PATCH's ~1 KB answer.
* ``empty``: the same table and row with an empty answer: what any row there costs.
* ``key``: only ``(tenant_id, idem_key)`` in a ``WITHOUT ROWID`` table: the least a key that
  survives a crash can cost (it stores no answer, so it is a floor, not a design).

``--keys seq`` numbers the keys as ``bench/lua/patch_idem.lua`` does (inserts at the end of
the key index); ``random`` uses UUIDs as most clients do. docs/benchmarks.md, *Keyed PATCH on
SQLite*, has the figures.

    python -m bench.keys_sqlite --rounds 5
    python -m bench.keys_sqlite --layouts none,answer --keys random
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import struct
import tempfile
import time
import uuid
from pathlib import Path

from bench.events_sqlite import _BASE, _DOC, _FEED, _INSERTS, _MOVE_HEAD, _ROWID, fresh_database

_TABLE = (
    "CREATE TABLE idempotency_keys (tenant_id VARCHAR(36) NOT NULL, idem_key TEXT NOT NULL, "
    "request_hash TEXT NOT NULL, status SMALLINT NOT NULL, headers TEXT NOT NULL, "
    "body TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL, "
    "CONSTRAINT pk_idempotency_keys PRIMARY KEY (tenant_id, idem_key), "
    "FOREIGN KEY (tenant_id) REFERENCES tenants (id) ON DELETE CASCADE);"
)
_INSERT = (
    "INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, status, headers, body, "
    "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (tenant_id, "
    "idem_key) DO UPDATE SET request_hash = excluded.request_hash, status = excluded.status, "
    "headers = excluded.headers, body = excluded.body, created_at = excluded.created_at, "
    "expires_at = excluded.expires_at, rowid = (SELECT max(rowid) + 1 FROM idempotency_keys) "
    "WHERE idempotency_keys.expires_at <= excluded.created_at"
)
# name → (DDL, insert, whether the row carries the answer)
LAYOUTS: dict[str, tuple[str, str, bool]] = {
    "none": ("", "", False),
    "answer": (_TABLE, _INSERT, True),
    "empty": (_TABLE, _INSERT, False),
    "key": (
        "CREATE TABLE idempotency_keys (tenant_id TEXT NOT NULL, idem_key TEXT NOT NULL, "
        "PRIMARY KEY (tenant_id, idem_key)) WITHOUT ROWID;",
        "INSERT INTO idempotency_keys (tenant_id, idem_key) VALUES (?1, ?2)",
        False,
    ),
}
_HEADERS = '[["content-type","application/json"],["etag","\\"2-%d\\""]]'


def _answer(tenant: str, schema: str, partner: str, n: int) -> str:
    record = str(uuid.uuid4())
    wire = {
        "id": record,
        "schemaDefinitionId": schema,
        "schema_definition_id": schema,
        "platformId": partner,
        "platform_id": partner,
        "businessId": tenant,
        "business_id": tenant,
        "resourceExternalId": f"c-{n}",
        "resource_external_id": f"c-{n}",
        "createdAt": "2026-12-04T15:00:00.000Z",
        "created_at": "2026-12-04T15:00:00.000Z",
        "updatedAt": "2026-12-04T16:00:00.000Z",
        "updated_at": "2026-12-04T16:00:00.000Z",
        "data": {**_DOC, "customerId": n},
    }
    body = {"success": True, "message": "Resource updated", "data": {"result": wire}}
    return json.dumps({**body, "included": []})


def _frames(shm: Path) -> int:
    """The WAL's last valid frame (``mxFrame`` of the wal-index header, in the ``-shm`` file)."""
    with shm.open("rb") as f:
        return int(struct.unpack("=I", f.read(20)[16:20])[0])


def run(layout: str, path: Path, args: argparse.Namespace) -> tuple[float, float]:
    """CPU µs per loop and WAL frames per commit for one fresh database of ``layout``."""
    ddl, insert_key, answered = LAYOUTS[layout]
    tables = f"CREATE TABLE tenants (id TEXT PRIMARY KEY);{_BASE}{_ROWID}{_FEED}{ddl}"
    conn, (tenant, schema, partner) = fresh_database(path, tables, args.records)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("INSERT INTO tenants VALUES (?)", (tenant,))
    versions = [1] * (args.records + 1)
    rng = random.Random(7)
    shm = Path(f"{path}-shm")
    # PATCH answers as the wire shows them (ids twice, ~1 KB), made before the clock starts:
    # the server renders its answer for keyed and unkeyed requests alike.
    answers = [_answer(tenant, schema, partner, n) for n in range(1, 101)] if answered else []
    total = args.prefill + args.loops
    keys = [f"bench-1-{k}" if args.keys == "seq" else str(uuid.uuid4()) for k in range(total)]
    frames = [0, 0]  # frames written, commits counted

    def one(k: int) -> None:
        seq = rng.randint(1, args.records)
        data = {**_DOC, "customerId": seq, "score": k}
        event = {
            "id": str(uuid.uuid4()),
            "type": "resource.updated",
            "occurredAt": "2026-12-04T16:00:00.000Z",
            "schemaDefinitionId": schema,
            "resourceExternalId": f"c-{seq}",
            "version": versions[seq] + 1,
            "changes": {"score": {"from": k - 1, "to": k}},
            "data": data,
            "actor": {"partnerId": partner, "tenantToken": True, "via": "api"},
        }
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "UPDATE resources SET data = ?, version = ?, updated_at = 'u' "
            "WHERE tenant_id = ? AND seq = ? AND version = ?",
            (json.dumps(data), versions[seq] + 1, tenant, seq, versions[seq]),
        )
        versions[seq] += 1
        conn.execute(
            _INSERTS["chain"],
            (tenant, event["id"], partner, "resource.updated", schema, f"c-{seq}",
             versions[seq], "2026-12-04T16:00:00.000Z", json.dumps(event)),
        )  # fmt: skip
        conn.execute(_MOVE_HEAD, (tenant, schema, f"c-{seq}"))
        if insert_key:
            key = keys[k]
            if insert_key.count("?") == 2:
                conn.execute(insert_key, (tenant, key))
            else:
                answer = answers[k % len(answers)] if answered else ""
                conn.execute(
                    insert_key,
                    (tenant, key, f"{k:064x}", 200,
                     _HEADERS % k if answered else "", answer,
                     "2026-12-04T16:00:00.000Z", "2026-12-05T16:00:00.000Z"),
                )  # fmt: skip
        before = _frames(shm)
        conn.execute("COMMIT")
        after = _frames(shm)
        if after >= before:  # else a checkpoint restarted the WAL: not counted
            frames[0] += after - before
            frames[1] += 1

    for k in range(args.prefill):
        one(k)
    frames[:] = [0, 0]
    began = time.process_time()
    for k in range(args.prefill, total):
        one(k)
    spent = time.process_time() - began
    conn.close()
    return spent / args.loops * 1e6, frames[0] / max(1, frames[1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.keys_sqlite", description=__doc__)
    parser.add_argument("--layouts", default="none,answer,empty,key")
    parser.add_argument("--keys", choices=("seq", "random"), default="seq")
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--prefill", type=int, default=20_000)
    parser.add_argument("--loops", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    layouts = [name for name in args.layouts.split(",") if name]
    for name in layouts:
        if name not in LAYOUTS:
            parser.error(f"unknown layout {name!r}; one of {', '.join(LAYOUTS)}")
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in layouts}
    with tempfile.TemporaryDirectory(prefix="reach-keys-sqlite-") as tmp:
        for n in range(args.rounds):
            for name in layouts if n % 2 == 0 else layouts[::-1]:
                results[name].append(run(name, Path(tmp) / f"{name}.db", args))
    base = statistics.median(r[0] for r in results["none"]) if "none" in results else None
    for name in layouts:
        runs = results[name]
        cpu = statistics.median(r[0] for r in runs)
        ratio = f"  {cpu / base:.2f} of none" if base and name != "none" else ""
        print(
            f"{name:7} {cpu:7.1f} µs per loop, "
            f"{statistics.median(r[1] for r in runs):5.2f} WAL frames per commit{ratio}  "
            f"({', '.join(f'{r[0]:.0f}' for r in runs)})"
        )


if __name__ == "__main__":
    main()
