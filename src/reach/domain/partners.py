"""Partners: creation (with a signing secret and, by default, the default schemas) and secret
rotation."""

from __future__ import annotations

import secrets
from datetime import timedelta

import msgspec

from reach import clock
from reach.domain import schemas
from reach.errors import BadRequest, NotFound
from reach.secretbox import SecretBox
from reach.storage import partners as store
from reach.storage.database import Connection

ACTIVE_SECRETS = 2  # rotation keeps the previous secret valid alongside the new one


class Partner(msgspec.Struct, frozen=True):
    id: str
    name: str
    created_at: str


class NewSecret(msgspec.Struct, frozen=True):
    """The only time a secret leaves the server: right after it was made."""

    id: str
    name: str
    secret: str


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


async def create(
    conn: Connection, box: SecretBox, name: str, *, default_schemas: bool = True
) -> NewSecret:
    """A new partner with its first secret and, unless told otherwise, the built-in schemas
    (customers, locations, transactions): zero setup by default, a clean slate on request."""
    if not name.strip():
        raise BadRequest("Validation failed", errors=["name: must not be empty"])
    at = clock.now()
    partner_id = clock.new_id()
    secret = _new_secret()
    await store.insert_partner(conn, partner_id, name, at)
    await store.insert_secret(conn, clock.new_id(), partner_id, box.seal(partner_id, secret), at)
    if default_schemas:
        await schemas.install_defaults(conn, partner_id, at)
    return NewSecret(id=partner_id, name=name, secret=secret)


async def rotate_secret(conn: Connection, box: SecretBox, partner_id: str) -> NewSecret:
    partner = await get(conn, partner_id)
    at = await _after_newest_secret(conn, partner_id)
    secret = _new_secret()
    await store.insert_secret(conn, clock.new_id(), partner.id, box.seal(partner.id, secret), at)
    await store.revoke_all_but_newest(conn, partner_id, ACTIVE_SECRETS, at)
    return NewSecret(id=partner.id, name=partner.name, secret=secret)


async def _after_newest_secret(conn: Connection, partner_id: str) -> str:
    """Now, or 1 ms after the newest secret: ``created_at`` alone must order the secrets.

    Timestamps have millisecond resolution, so two rotations within one millisecond would
    otherwise tie and the one kept valid would be chosen at random.
    """
    at = clock.now()
    newest = await store.newest_secret_at(conn, partner_id)
    if newest is not None and at <= newest:
        at = clock.format_timestamp(clock.parse_timestamp(newest) + timedelta(milliseconds=1))
    return at


async def get(conn: Connection, partner_id: str) -> Partner:
    row = await store.get_partner(conn, partner_id) if clock.is_uuid(partner_id) else None
    if row is None:
        raise NotFound(f"Partner {partner_id} not found")
    return Partner(id=str(row["id"]), name=row["name"], created_at=row["created_at"])


async def list_all(conn: Connection) -> list[Partner]:
    return [
        Partner(id=str(r["id"]), name=r["name"], created_at=r["created_at"])
        for r in await store.list_partners(conn)
    ]


async def count(conn: Connection) -> int:
    return await store.count_partners(conn)


async def active_secrets(conn: Connection, box: SecretBox, partner_id: str) -> list[str]:
    """The partner's valid signing secrets, newest first, decrypted."""
    if not clock.is_uuid(partner_id):
        return []
    return [box.open(partner_id, sealed) for sealed in await store.active_secrets(conn, partner_id)]
