"""``reach`` — the command line. JSON or a table on stdout, errors on stderr, non-zero exit.

Every command honours ``--database-url`` / ``REACH_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import click
import orjson
import sqlalchemy.exc

from reach import auth
from reach.config import ENV_PREFIX, Settings, load_settings
from reach.domain import partners, tenants
from reach.errors import ConfigError, ReachError
from reach.secretbox import SecretBox, box_for, new_key
from reach.storage import migrate
from reach.storage.database import Connection, open_database

T = TypeVar("T")

database_option = click.option(
    "--database-url",
    envvar="REACH_DATABASE_URL",
    default=None,
    help="sqlite:///path.db (default ./reach.db) or postgresql://user@host/db.",
)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _box(settings: Settings) -> SecretBox:
    try:
        return box_for(settings.database_url, settings.secret_key)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _in_transaction(settings: Settings, work: Callable[[Connection], Awaitable[T]]) -> T:
    if settings.engine == "sqlite":
        # the embedded default needs no set-up
        migrate.upgrade(settings.database_url, secret_key=settings.secret_key)

    async def run() -> T:
        db = await open_database(settings.database_url, pool_size=1)
        try:
            async with db.transaction(write=True) as conn:
                return await work(conn)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except ReachError as exc:
        details = f": {'; '.join(exc.errors)}" if exc.errors else ""
        raise click.ClickException(exc.message + details) from None


def _echo_json(value: Any) -> None:
    click.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


# An unreachable server, a missing database or an uncreatable file: the operator's to fix,
# so a one-line message rather than a traceback.
_DATABASE_ERRORS = (asyncpg.PostgresError, sqlite3.Error, sqlalchemy.exc.OperationalError)


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _DATABASE_ERRORS as exc:
            raise click.ClickException(f"database unusable: {exc}") from None
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reach-server")
def main() -> None:
    """reach-server: a self-hostable Reach Partner Resources API."""


@main.command()
@database_option
def migrate_cmd(database_url: str | None) -> None:
    """Upgrade the configured database to the newest schema."""
    settings = _settings(database_url=database_url)
    migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    click.echo(f"database is at revision {migrate.head_revision()}", err=True)


@main.command()
def keygen() -> None:
    """Print a fresh REACH_SECRET_KEY (base64 of 32 random bytes) for encrypting secrets."""
    click.echo(new_key())


migrate_cmd.name = "migrate"


@main.command()
@database_option
@click.option("--host", default=None, help="Interface to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port (default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default 1).")
def serve(
    database_url: str | None, host: str | None, port: int | None, workers: int | None
) -> None:
    """Run the API server (granian). Migrates the embedded SQLite default by itself."""
    settings = _settings(database_url=database_url, host=host, port=port, workers=workers)
    if settings.engine == "sqlite":
        migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    else:
        _require_migrated(settings)
    _box(settings)  # a missing or unusable key stops here, with its remedy, not in a worker
    if settings.engine == "sqlite" and settings.demo_on_first_run:
        _first_run_demo(settings)
    # Worker processes build the app from the environment: hand the CLI flags down.
    for name in ("database_url", "host", "port", "workers"):
        os.environ[ENV_PREFIX + name.upper()] = str(getattr(settings, name))
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    click.echo(
        f"reach-server listening on http://{settings.host}:{settings.port} "
        f"({settings.engine}, {settings.workers} worker(s))",
        err=True,
    )
    from reach.observability.workers import shared_between_workers

    # Several workers share one set of Prometheus metrics through files in a fresh directory.
    with shared_between_workers(settings.workers):
        Granian(
            "reach.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            workers=settings.workers,
            interface=Interfaces.ASGI,
            log_level=LogLevels(settings.log_level),
        ).serve()


def _require_migrated(settings: Settings) -> None:
    async def current() -> str | None:
        db = await open_database(settings.database_url, pool_size=1)
        try:
            async with db.transaction(write=False) as conn:
                exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
                if not exists:
                    return None
                revision: str | None = await conn.fetchval(
                    "SELECT version_num FROM alembic_version"
                )
                return revision
        finally:
            await db.close()

    if asyncio.run(current()) != migrate.head_revision():
        raise click.ClickException(
            "the PostgreSQL database is not at the newest schema; run `reach migrate` first"
        )


def _first_run_demo(settings: Settings) -> None:
    async def work(conn: Connection) -> tuple[partners.NewSecret, str] | None:
        if await partners.count(conn):
            return None
        created = await partners.create(conn, _box(settings), "Demo partner")
        tenant = await tenants.create(
            conn,
            created.id,
            external_id="demo-tenant",
            name="Demo tenant",
            website=None,
            attributes={"locations": []},
        )
        return created, tenant.external_id

    made = _in_transaction(settings, work)
    if made is None:
        return
    partner, tenant_external_id = made
    token = auth.mint_token(
        partner.id, partner.secret, tenant_external_id=tenant_external_id, ttl=7 * 24 * 3600
    )
    base = f"http://{settings.host}:{settings.port}"
    body = (
        '{"data":{"customerId":"c-1","firstName":"Ada","lastName":"Lovelace",'
        '"email":"ada@example.com","createdAt":"2026-01-01T00:00:00Z"}}'
    )
    click.echo(
        "\nFirst run: created a demo partner and tenant "
        "(turn off with REACH_DEMO_ON_FIRST_RUN=0).\n"
        f"  partner id: {partner.id}\n"
        f"  secret:     {partner.secret}   (shown once; keep it to sign your own tokens)\n"
        f"  tenant:     {tenant_external_id}\n\n"
        "Try it (the token is a tenant token valid for 7 days):\n\n"
        f"  export TOKEN={token}\n"
        f"  curl -s -X POST {base}/api/resources/customers \\\n"
        '    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\n'
        f"    -d '{body}'\n"
        f'  curl -s {base}/api/resources/customers/c-1 -H "Authorization: Bearer $TOKEN"\n',
        err=True,
    )


@main.command()
@database_option
@click.argument("partner_id")
@click.option(
    "--tenant", "tenant_external_id", default=None, help="Tenant external id (tenant token)."
)
@click.option("--ttl", type=int, default=3600, show_default=True, help="Lifetime in seconds.")
def token(
    database_url: str | None, partner_id: str, tenant_external_id: str | None, ttl: int
) -> None:
    """Print a signed JWT for PARTNER_ID (a partner token, or a tenant token with --tenant)."""
    settings = _settings(database_url=database_url)
    box = _box(settings)

    async def newest_secret(conn: Connection) -> str:
        await partners.get(conn, partner_id)
        secrets = await partners.active_secrets(conn, box, partner_id)
        return secrets[0]

    secret = _in_transaction(settings, newest_secret)
    click.echo(auth.mint_token(partner_id, secret, tenant_external_id=tenant_external_id, ttl=ttl))


@main.group(name="partners")
def partners_group() -> None:
    """Create and list partners, rotate their signing secrets."""


@partners_group.command(name="create")
@database_option
@click.argument("name")
def partners_create(database_url: str | None, name: str) -> None:
    """Create a partner; prints {"id", "name", "secret"} (the only time the secret is shown)."""
    settings = _settings(database_url=database_url)
    box = _box(settings)
    created = _in_transaction(settings, lambda conn: partners.create(conn, box, name))
    _echo_json({"id": created.id, "name": created.name, "secret": created.secret})


@partners_group.command(name="list")
@database_option
def partners_list(database_url: str | None) -> None:
    """List partners as JSON lines (never their secrets)."""
    settings = _settings(database_url=database_url)
    for partner in _in_transaction(settings, partners.list_all):
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
                settings.engine,
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

    for tenant in _in_transaction(settings, work):
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
@click.option(
    "--concurrency", type=int, default=1, show_default=True, help="Batches worked at once."
)
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 1000),
    default=None,
    help="Items applied per transaction (default 500).",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(1, 3600),
    default=None,
    help="How long a claim lasts unrenewed; a dead worker's batches resume after it (default 30).",
)
def worker(
    database_url: str | None,
    concurrency: int,
    chunk_size: int | None,
    lease_seconds: float | None,
) -> None:
    """Run a batch worker until SIGTERM/SIGINT (more of them scale batch processing out)."""
    import logging

    from reach.batches import worker as batch_worker

    settings = _settings(database_url=database_url)
    if concurrency < 1:
        raise click.ClickException("--concurrency must be at least 1")
    if settings.engine == "sqlite":
        migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    else:
        _require_migrated(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    asyncio.run(
        batch_worker.run_worker(
            settings,
            concurrency=concurrency,
            chunk_size=chunk_size or batch_worker.CHUNK_SIZE,
            lease_seconds=lease_seconds or batch_worker.LEASE_SECONDS,
            announce=lambda message: click.echo(f"reach {message} on {settings.engine}", err=True),
        )
    )


# -- import / export: clients of a running server, authenticated as the partner

url_option = click.option(
    "--url",
    envvar="REACH_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The server (env REACH_URL).",
)
partner_id_option = click.option(
    "--partner-id", envvar="REACH_PARTNER_ID", default=None, help="env REACH_PARTNER_ID."
)
secret_option = click.option(
    "--secret", envvar="REACH_PARTNER_SECRET", default=None, help="env REACH_PARTNER_SECRET."
)
tenant_option = click.option(
    "--tenant", required=True, help="The tenant's external id (or id) the records belong to."
)
progress_option = click.option(
    "--progress-interval",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="Seconds between progress lines when stderr is not a terminal.",
)


@main.command(name="import")
@click.argument("schema")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@tenant_option
@url_option
@partner_id_option
@secret_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None)
@click.option("--resume", is_flag=True, help="Carry on after the last acknowledged chunk.")
@click.option("--concurrency", type=click.IntRange(1, 32), default=4, show_default=True)
@click.option("--on-conflict", type=click.Choice(["upsert", "reject"]), default="upsert")
@click.option("--ignore-unknown-fields", is_flag=True)
@click.option("--rejects", type=click.Path(path_type=Path), default=None)
@progress_option
def import_cmd(
    schema: str,
    file: Path,
    tenant: str,
    url: str,
    partner_id: str | None,
    secret: str | None,
    fmt: str | None,
    resume: bool,
    concurrency: int,
    on_conflict: str,
    ignore_unknown_fields: bool,
    rejects: Path | None,
    progress_interval: float,
) -> None:
    """Upsert the records of FILE (CSV or JSON Lines) into SCHEMA through the batch API.

    Rows that cannot be imported go to FILE.rejects.jsonl with their line and reasons; the
    exit status is 1 when there were any. See the README for how CSV cells are typed.
    """
    from reach.bulk import commands
    from reach.bulk.formats import FormatError
    from reach.bulk.importer import ImportFailed
    from reach.client import ReachClientError

    try:
        client = commands.partner_client(url, partner_id, secret, tenant, concurrency)
        with client:
            summary = commands.run_import(
                client,
                schema,
                file,
                fmt=fmt,
                resume=resume,
                concurrency=concurrency,
                on_conflict=on_conflict,
                ignore_unknown_fields=ignore_unknown_fields,
                rejects=rejects,
                progress_interval=progress_interval,
            )
    except (ValueError, FormatError) as exc:
        raise click.ClickException(str(exc)) from None
    except (ImportFailed, ReachClientError) as exc:
        raise click.ClickException(
            f"{exc} (acknowledged rows are kept: --resume continues)"
        ) from None
    except KeyboardInterrupt:
        raise click.ClickException("interrupted; run again with --resume to continue") from None
    _echo_json(summary)
    if summary["rejected"]:
        raise click.ClickException(
            f"{summary['rejected']} row(s) rejected; see {summary['rejectsFile']}"
        )


@main.command(name="export")
@click.argument("schema")
@tenant_option
@url_option
@partner_id_option
@secret_option
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Default: stdout.",
)
@click.option("--fields", default=None, help="CSV columns, comma-separated (default: all).")
@progress_option
def export_cmd(
    schema: str,
    tenant: str,
    url: str,
    partner_id: str | None,
    secret: str | None,
    fmt: str | None,
    output: Path | None,
    fields: str | None,
    progress_interval: float,
) -> None:
    """Write every record of SCHEMA (its data documents) as JSON Lines or CSV."""
    from reach.bulk import commands
    from reach.bulk.formats import FormatError
    from reach.client import ReachClientError

    try:
        with commands.partner_client(url, partner_id, secret, tenant, 1) as client:
            summary = commands.run_export(
                client,
                schema,
                fmt=fmt,
                output=output,
                fields=[f.strip() for f in fields.split(",") if f.strip()] if fields else None,
                progress_interval=progress_interval,
            )
    except (ValueError, FormatError, ReachClientError) as exc:
        raise click.ClickException(str(exc)) from None
    # With the records on stdout, the summary goes to stderr.
    click.echo(orjson.dumps(summary).decode(), err=output is None)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
