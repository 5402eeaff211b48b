"""``reach token``, ``reach partners …`` and ``reach tenants …``: the operator's administration."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from reach import auth
from reach.cli.common import (
    _box,
    _echo_json,
    _in_transaction,
    _settings,
    database_option,
    main,
    require_existing_database,
)
from reach.config import Settings
from reach.domain import partners, tenants
from reach.errors import NotFound
from reach.storage.database import Connection
from reach.storage.sqlite_files import sqlite_path

MAX_TTL_SECONDS = 366 * 24 * 3600  # a year and a day: longer-lived tokens are a leak waiting


@main.command()
@database_option
@click.argument("partner_id")
@click.option(
    "--tenant",
    "tenant_key",
    default=None,
    help="The tenant (external id or id) for a tenant token; it must exist.",
)
@click.option(
    "--ttl",
    type=click.IntRange(1, MAX_TTL_SECONDS),
    default=3600,
    show_default=True,
    help="Lifetime in seconds.",
)
def token(database_url: str | None, partner_id: str, tenant_key: str | None, ttl: int) -> None:
    """Print a signed JWT for PARTNER_ID (a partner token, or a tenant token with --tenant)."""
    settings = _settings(database_url=database_url)
    require_existing_database(settings)  # before the key file, which must not be made here
    box = _box(settings)

    async def newest_secret(conn: Connection) -> tuple[str, str | None]:
        await partners.get(conn, partner_id)
        external_id = None
        if tenant_key is not None:
            # A token for a tenant that does not exist would only fail later, at every call.
            tenant = await tenants.find(conn, partner_id, tenant_key)
            if tenant is None or tenant.deleted_at is not None:
                raise NotFound(f"Tenant {tenant_key!r} of partner {partner_id} not found")
            external_id = tenant.external_id
        secrets = await partners.active_secrets(conn, box, partner_id)
        return secrets[0], external_id

    secret, tenant_external_id = _in_transaction(settings, newest_secret, read_only=True)
    click.echo(auth.mint_token(partner_id, secret, tenant_external_id=tenant_external_id, ttl=ttl))


@main.group(name="partners")
def partners_group() -> None:
    """Create and list partners, rotate their signing secrets."""


@partners_group.command(name="create")
@database_option
@click.argument("name")
@click.option(
    "--no-default-schemas",
    "no_default_schemas",
    is_flag=True,
    default=False,
    help="Start without the built-in customers, locations and transactions schemas.",
)
def partners_create(database_url: str | None, name: str, no_default_schemas: bool) -> None:
    """Create a partner; prints {"id", "name", "secret"} (the only time the secret is shown)."""
    settings = _settings(database_url=database_url)
    box = _box(settings)
    created = _in_transaction(
        settings,
        lambda conn: partners.create(conn, box, name, default_schemas=not no_default_schemas),
    )
    _echo_json({"id": created.id, "name": created.name, "secret": created.secret})


@partners_group.command(name="list")
@database_option
def partners_list(database_url: str | None) -> None:
    """List partners as JSON lines (never their secrets)."""
    settings = _settings(database_url=database_url)
    for partner in _in_transaction(settings, partners.list_all, read_only=True):
        click.echo(
            orjson.dumps(
                {"id": partner.id, "name": partner.name, "createdAt": partner.created_at}
            ).decode()
        )


@partners_group.command(name="rotate-secret")
@database_option
@click.argument("partner_id")
def partners_rotate(database_url: str | None, partner_id: str) -> None:
    """Issue a new secret; the previous one stays valid until the next rotation."""
    settings = _settings(database_url=database_url)
    box = _box(settings)
    rotated = _in_transaction(settings, lambda conn: partners.rotate_secret(conn, box, partner_id))
    _echo_json({"id": rotated.id, "name": rotated.name, "secret": rotated.secret})


@main.group(name="tenants")
def tenants_group() -> None:
    """Create and list a partner's tenants."""


@tenants_group.command(name="create")
@database_option
@click.argument("partner_id")
@click.argument("external_id")
@click.option("--name", default=None, help="Display name (defaults to the external id).")
@click.option("--website", default=None)
def tenants_create(
    database_url: str | None,
    partner_id: str,
    external_id: str,
    name: str | None,
    website: str | None,
) -> None:
    """Create tenant EXTERNAL_ID for PARTNER_ID."""
    settings = _settings(database_url=database_url)

    async def work(conn: Connection) -> tenants.Tenant:
        await partners.get(conn, partner_id)
        return await tenants.create(
            conn,
            partner_id,
            external_id=external_id,
            name=name or external_id,
            website=website,
            attributes={"locations": []},
        )

    tenant = _in_transaction(settings, work)
    _echo_json({"id": tenant.id, "externalId": tenant.external_id, "name": tenant.name})


@tenants_group.command(name="list")
@database_option
@click.argument("partner_id")
@click.option("--include-deleted", is_flag=True, default=False)
def tenants_list(database_url: str | None, partner_id: str, include_deleted: bool) -> None:
    """List PARTNER_ID's tenants as JSON lines."""
    settings = _settings(database_url=database_url)

    async def work(conn: Connection) -> list[tenants.Tenant]:
        await partners.get(conn, partner_id)
        found: list[tenants.Tenant] = []
        cursor = None
        while True:
            page = await tenants.page(
                conn,
                partner_id,
                cursor=cursor,
                limit=1000,
                search=None,
                order_by="created_at",
                descending=False,
                include_deleted=include_deleted,
            )
            found.extend(page.results)
            if not page.has_next_page:
                return found
            cursor = page.cursor

    for tenant in _in_transaction(settings, work, read_only=True):
        click.echo(
            orjson.dumps(
                {
                    "id": tenant.id,
                    "externalId": tenant.external_id,
                    "name": tenant.name,
                    "deletedAt": tenant.deleted_at,
                }
            ).decode()
        )


@main.command()
@database_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def backup(database_url: str | None, path: Path) -> None:
    """Copy the SQLite database to PATH (consistent, while the server runs) and its key file
    to PATH.key; on PostgreSQL, say how to back it up and check the prerequisites."""
    from reach import backup as backups

    settings = _settings(database_url=database_url)
    if settings.engine == "postgresql":
        raise click.ClickException(
            backups.postgres_advice(settings.database_url, path, _server_major(settings))
        )
    require_existing_database(settings)
    try:
        made = backups.backup_sqlite(
            sqlite_path(settings.database_url),
            path,
            key_from_environment=bool(settings.secret_key.strip()),
        )
    except backups.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    _echo_json(
        {
            "database": made.database,
            "keyFile": made.key_file,
            "key": "REACH_SECRET_KEY (keep it with the backup)" if made.key_file is None else None,
            "bytes": made.bytes,
            "seconds": made.seconds,
        }
    )


def _server_major(settings: Settings) -> int | None:
    async def version(conn: Connection) -> int:
        number: str = await conn.fetchval("SHOW server_version_num")
        return int(number) // 10000

    try:
        return _in_transaction(settings, version, read_only=True)
    except click.ClickException:
        return None
