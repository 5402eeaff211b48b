"""Stored first responses of keyed writes (``Idempotency-Key``), one row per tenant and key.

Every statement names the tenant, and the tenant is part of the primary key: one tenant's key
never finds, replays or blocks another's. Rows are written in the request's own transaction,
after its write (:mod:`reach.web.idempotency`), and pruned by the batch worker once expired.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from reach.storage.database import Connection


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


_FIND_SQLITE = (
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
# is left alone, and RETURNING tells the caller it lost.
_SAVE = (
    "INSERT INTO idempotency_keys "
    "(tenant_id, idem_key, request_hash, status, headers, body, created_at, expires_at) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "ON CONFLICT (tenant_id, idem_key) DO UPDATE SET request_hash = excluded.request_hash, "
    "status = excluded.status, headers = excluded.headers, body = excluded.body, "
    "created_at = excluded.created_at, expires_at = excluded.expires_at "
    "WHERE idempotency_keys.expires_at <= excluded.created_at "
    "RETURNING 1"
)

_ANY_EXPIRED = "SELECT 1 FROM idempotency_keys WHERE expires_at <= $1 LIMIT 1"

_PRUNE = (
    "DELETE FROM idempotency_keys WHERE (tenant_id, idem_key) IN "
    "(SELECT tenant_id, idem_key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)"
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
        row = await conn.fetchrow(_FIND_SQLITE, tenant_id, key, now)
        free = True
    if row is None or row["request_hash"] is None:
        return Lookup(None, free)
    stored = Stored(row["request_hash"], int(row["status"]), row["headers"], row["body"])
    return Lookup(stored, free)


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
    inserted = await conn.fetchval_after_final(
        _SAVE,
        tenant_id,
        key,
        response.request_hash,
        response.status,
        response.headers,
        response.body,
        now,
        expires_at,
    )
    return inserted is not None


async def any_expired(conn: Connection, now: str) -> bool:
    """Whether there is anything to prune (a read: an idle SQLite worker takes no write lock)."""
    return await conn.fetchval(_ANY_EXPIRED, now) is not None


async def prune(conn: Connection, now: str, limit: int) -> int:
    """Delete up to ``limit`` expired keys (one statement, alone); how many went."""
    return await conn.execute_final(_PRUNE, now, limit)
