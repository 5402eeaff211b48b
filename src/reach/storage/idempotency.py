"""Stored first responses of keyed writes (``Idempotency-Key``), one row per tenant and key.

Every statement names the tenant, and the tenant is part of the primary key: one tenant's key
never finds, replays or blocks another's. Rows are written in the request's own transaction,
after its write (:mod:`reach.web.idempotency`), and pruned by the batch worker once expired.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import cache
from typing import Any, NamedTuple

from reach.storage import events
from reach.storage.database import Connection, is_unique_violation
from reach.storage.events import EventRow


class Stored(NamedTuple):
    request_hash: str
    status: int
    headers: str  # JSON list of [name, value] pairs
    body: str


class Lookup(NamedTuple):
    """What the key's look-up found: the stored response, if any, and whether this request
    may go ahead (False: another transaction is running a request with the same key)."""

    stored: Stored | None
    free: bool


_FIND = (
    "SELECT request_hash, status, headers, body FROM idempotency_keys "
    "WHERE tenant_id = $1 AND idem_key = $2 AND expires_at > $3"
)

# The transaction-scoped advisory lock is the in-flight marker across processes: a duplicate
# finds it taken and is answered 409 at once instead of queueing behind the first. The look-up
# runs in the same statement (one round trip); its snapshot may predate the lock, so a
# duplicate can in a narrow race miss a response committed just before — the insert in
# ``save`` then meets that row and the duplicate rolls back, never writing twice.
_FIND_POSTGRES = (
    "SELECT pg_try_advisory_xact_lock($4) AS free, k.request_hash, k.status, k.headers, k.body "
    "FROM (VALUES (1)) AS one (x) LEFT JOIN idempotency_keys AS k "
    "ON k.tenant_id = $1 AND k.idem_key = $2 AND k.expires_at > $3"
)

# An expired row not yet pruned is taken over; a live one (a duplicate that committed first)
# is left alone, and the count of rows changed (0) tells the caller it lost.
_SAVE = (
    "INSERT INTO idempotency_keys "
    "(tenant_id, idem_key, request_hash, status, headers, body, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (tenant_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, "
    "status = excluded.status, headers = excluded.headers, body = excluded.body, "
    "created_at = excluded.created_at, expires_at = excluded.expires_at "
    "WHERE idempotency_keys.expires_at <= excluded.created_at"
)

# SQLite: the expired row taken over moves to the end of the rowid order, where a new row
# would have gone, so that the oldest rows stay the first to expire (pruning relies on it).
_SAVE_SQLITE = _SAVE.replace(
    "expires_at = excluded.expires_at ",
    "expires_at = excluded.expires_at, rowid = (SELECT max(rowid) + 1 FROM idempotency_keys) ",
)

_ANY_EXPIRED = "SELECT 1 FROM idempotency_keys WHERE expires_at <= $1 LIMIT 1"

_PRUNE = (
    "DELETE FROM idempotency_keys WHERE (tenant_id, idem_key) IN "
    "(SELECT tenant_id, idem_key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)"
)

# SQLite has no index on ``expires_at`` (migration 0021): rowids only grow and a key expires
# a fixed retention after it was stored, so the oldest rows expire first. Only the oldest
# ``$2`` rows are looked at: bounded work, never a walk over the live keys.
_ANY_EXPIRED_SQLITE = (
    "SELECT 1 FROM (SELECT expires_at FROM idempotency_keys ORDER BY rowid LIMIT 1) "
    "WHERE expires_at <= $1"
)

_PRUNE_SQLITE = (
    "DELETE FROM idempotency_keys WHERE rowid IN "
    "(SELECT rowid FROM idempotency_keys ORDER BY rowid LIMIT $2) AND expires_at <= $1"
)


def _lock_id(tenant_id: str, key: str) -> int:
    """A signed 64-bit advisory lock id for (tenant, key). Two pairs sharing one (about one
    in 2^64) only make one of them wait its turn, never share a response."""
    digest = hashlib.blake2b(f"{tenant_id}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def find(conn: Connection, tenant_id: str, key: str, now: str) -> Lookup:
    """The live response stored for the key; begins the request's write transaction."""
    if conn.dialect == "postgresql":
        row = await conn.fetchrow(_FIND_POSTGRES, tenant_id, key, now, _lock_id(tenant_id, key))
        free = row is not None and bool(row["free"])  # one row, whatever the join found
    else:
        # Writers are serialised by BEGIN IMMEDIATE (and one transaction per process), so no
        # other transaction can be running this key now.
        row = await conn.fetchrow(_FIND, tenant_id, key, now)
        free = True
    if row is None or row["request_hash"] is None:
        return Lookup(None, free)
    stored = Stored(row["request_hash"], int(row["status"]), row["headers"], row["body"])
    return Lookup(stored, free)


async def stored(conn: Connection, tenant_id: str, key: str, now: str) -> Stored | None:
    """The live response stored for the key, read alone (no lock, nothing begun)."""
    row = await conn.fetchrow_standalone(_FIND, tenant_id, key, now)
    if row is None:
        return None
    return Stored(row["request_hash"], int(row["status"]), row["headers"], row["body"])


async def save(
    conn: Connection,
    tenant_id: str,
    key: str,
    response: Stored,
    *,
    now: str,
    expires_at: str,
) -> bool:
    """Store the response in the request's transaction; False if a live row already holds the
    key (a duplicate committed first: the caller must roll back)."""
    changed = await conn.execute_after_final(
        _SAVE if conn.dialect == "postgresql" else _SAVE_SQLITE,
        tenant_id,
        key,
        response.request_hash,
        response.status,
        response.headers,
        response.body,
        now,
        expires_at,
    )
    return changed > 0


async def any_expired(conn: Connection, now: str) -> bool:
    """Whether there is anything to prune (a read: an idle SQLite worker takes no write lock)."""
    sql = _ANY_EXPIRED if conn.dialect == "postgresql" else _ANY_EXPIRED_SQLITE
    return await conn.fetchval(sql, now) is not None


async def prune(conn: Connection, now: str, limit: int) -> int:
    """Delete up to ``limit`` expired keys (one statement, alone); how many went."""
    return await conn.execute_final(
        _PRUNE if conn.dialect == "postgresql" else _PRUNE_SQLITE, now, limit
    )


# -- the key stored by the write's own statement (PostgreSQL; reach.web.idempotency)


class KeyRow(NamedTuple):
    """A keyed write's answer, stored by the statement that makes the write."""

    key: str
    response: Stored
    now: str
    expires_at: str
    lock_id: int


class Replay(Exception):  # a control-flow signal, not an error
    """The key already holds a live answer: nothing was written; the caller replays it (or
    refuses a different request under the same key)."""

    def __init__(self, stored: Stored) -> None:
        super().__init__("idempotency key already answered")
        self.stored = stored


class KeyBusy(Exception):  # a control-flow signal, not an error
    """Another transaction runs (or has just committed) a request with the same key: nothing
    was written."""


def key_row(tenant_id: str, key: str, response: Stored, now: str, expires_at: str) -> KeyRow:
    return KeyRow(key, response, now, expires_at, _lock_id(tenant_id, key))


def _key_args(row: KeyRow) -> tuple[Any, ...]:
    stored = row.response
    return (
        row.lock_id,
        row.key,
        stored.request_hash,
        stored.status,
        stored.headers,
        stored.body,
        row.now,
        row.expires_at,
    )


@cache
def keyed_update(update: str, first_arg: int, with_event: bool) -> str:
    """PostgreSQL: the resource compare-and-set ``update`` (and its event, ``with_event``),
    landing only together with the key's answer, in one statement. Its tag counts the key
    rows inserted: 1 when all of it landed, 0 when nothing did.

    The update runs only while this statement holds the key's advisory lock (a duplicate in
    flight holds it, and waits on the record's row lock holding it) and no row holds the key;
    a key committed by another transaction after this statement's snapshot was taken meets the
    primary key, and the whole statement fails with a unique violation: never a write without
    its answer, nor an answer twice. The event's parameters come first
    (:func:`reach.storage.events.insert_for_changed`), then the key's."""
    n = first_arg + (6 if with_event else 0)
    event = f", logged AS ({events.insert_for_changed(first_arg)})" if with_event else ""
    return (
        f"WITH k AS (SELECT pg_try_advisory_xact_lock(${n}::bigint) AND NOT EXISTS "
        f"(SELECT 1 FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = ${n + 1}::text) "
        f"AS go), changed AS ({update} AND (SELECT go FROM k) RETURNING tenant_id){event} "
        "INSERT INTO idempotency_keys "
        "(tenant_id, idem_key, request_hash, status, headers, body, created_at, expires_at) "
        f"SELECT tenant_id, ${n + 1}::text, ${n + 2}::text, ${n + 3}::smallint, ${n + 4}::text, "
        f"${n + 5}::text, ${n + 6}::timestamptz, ${n + 7}::timestamptz FROM changed"
    )


_EXPLAIN = (
    "SELECT pg_try_advisory_xact_lock($4) AS free, k.request_hash, k.status, k.headers, k.body, "
    "k.expires_at > $3 AS live FROM (VALUES (1)) AS one (x) LEFT JOIN idempotency_keys AS k "
    "ON k.tenant_id = $1 AND k.idem_key = $2"
)

_DROP_EXPIRED = (
    "DELETE FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2 AND expires_at <= $3"
)


async def explain_keyed_miss(conn: Connection, tenant_id: str, row: KeyRow) -> None:
    """A :func:`keyed_update` wrote nothing. Raises :class:`Replay` when the key holds a live
    answer and :class:`KeyBusy` when another transaction holds the key; returns when neither
    is why (the compare-and-set or the guard is: the caller's to tell), after dropping an
    expired answer that held the key (the worker prunes them, but maybe not yet)."""
    found = await conn.fetchrow_standalone(_EXPLAIN, tenant_id, row.key, row.now, row.lock_id)
    if found is None:  # one row, whatever the join found
        return
    if found["request_hash"] is not None:
        if found["live"]:
            stored = Stored(
                found["request_hash"], int(found["status"]), found["headers"], found["body"]
            )
            raise Replay(stored)
        # An ordinary statement: it begins the transaction the retried write then joins.
        await conn.execute(_DROP_EXPIRED, tenant_id, row.key, row.now)
        return
    if not found["free"]:
        raise KeyBusy


async def update_keyed(
    conn: Connection, update: str, args: Sequence[Any], event: EventRow | None, key: KeyRow
) -> int:
    """Run the resource door's compare-and-set ``update`` (with ``args``; the guard's last)
    with ``event`` and the key's answer as one statement (:func:`keyed_update`, PostgreSQL):
    1 when it landed, 0 when the compare-and-set or the guard did not hold (the door tells
    which). Raises :class:`Replay` or :class:`KeyBusy` when the key is why nothing landed."""
    extra: tuple[Any, ...] = ()
    if event is not None:
        event_id, _tenant, partner, kind, schema_id, external_id, _v, _at, body = event
        extra = (event_id, partner, kind, schema_id, external_id, body)
    sql = keyed_update(update, len(args) + 1, event is not None)
    try:
        changed = await conn.execute_final(sql, *args, *extra, *_key_args(key))
    except Exception as exc:
        if is_unique_violation(exc):  # the key, committed after this statement's snapshot
            raise KeyBusy from exc
        raise
    if not changed:
        await explain_keyed_miss(conn, str(args[0]), key)
    return changed
