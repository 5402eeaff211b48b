"""``reach serve``, ``reach migrate``, ``reach keygen`` and ``reach worker``: running the server."""

from __future__ import annotations

import asyncio
import math
import os

import click

from reach import auth
from reach.cli.common import (
    _box,
    _in_transaction,
    _settings,
    database_option,
    main,
)
from reach.config import ENV_PREFIX, Settings
from reach.domain import partners, tenants
from reach.secretbox import new_key
from reach.storage import migrate
from reach.storage.database import Connection, open_database


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
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
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
            # HTTP/1.1 only: in granian's auto mode a connection waits for its first bytes
            # (to tell HTTP/2 from HTTP/1) with no timeout, so silent connections were never
            # closed and ~2,000 of them locked every client out. Plain HTTP/2 (h2c) is rare
            # behind a proxy anyway; see docs/security.md.
            http=HTTPModes.http1,
            http1_settings=HTTP1Settings(
                header_read_timeout=max(1, round(settings.http_idle_timeout_seconds * 1000)),
                keep_alive=settings.http_keep_alive,
            ),
            # Connections per worker, not requests: granian holds one permit per connection.
            backpressure=settings.max_connections,
            # SIGTERM drains in-flight requests; whatever still runs past this is killed.
            workers_kill_timeout=math.ceil(settings.shutdown_timeout_seconds),
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
