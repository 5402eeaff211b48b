"""``reach serve``, ``reach migrate``, ``reach keygen`` and ``reach worker``: running the server."""

from __future__ import annotations

import asyncio
import errno
import logging
import math
import os
import socket
import sys
from pathlib import Path

import click

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
from reach.config import ENV_PREFIX, Settings
from reach.domain import partners, tenants
from reach.observability.logs import announce, configure_logging, granian_log_config
from reach.secretbox import new_key
from reach.storage.database import Connection, open_database
from reach.storage.sqlite_files import sqlite_path

log = logging.getLogger("reach.server")


@main.command()
@database_option
def migrate_cmd(database_url: str | None) -> None:
    """Upgrade the configured database to the newest schema."""
    from reach.storage import migrate  # on use: Alembic is slow to import

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
    from reach.storage import migrate  # on use: Alembic is slow to import

    settings = _settings(database_url=database_url, host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    ensure_port_free(settings.host, settings.port)  # before anything is created or migrated
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

    announce(
        "reach.server",
        f"reach-server listening on http://{settings.host}:{settings.port} "
        f"({settings.engine}, {settings.workers} worker(s))",
    )
    from reach.observability.workers import shared_between_workers

    # Several workers share one set of Prometheus metrics through files in a fresh directory.
    with shared_between_workers(settings.workers):
        Granian(
            "reach.web.app:create_app",
            factory=True,
            address=settings.host,
            port=settings.port,
            workers=settings.workers,
            interface=Interfaces.ASGI,
            log_level=LogLevels(settings.log_level),
            log_dictconfig=granian_log_config(),
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
    from reach.storage import migrate  # on use: Alembic is slow to import

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
    exports = (
        f"export REACH_PARTNER_ID={partner.id}\n"
        f"export REACH_PARTNER_SECRET={partner.secret}\n"
        f"export TOKEN={token}\n"
    )
    path = credentials_file_for(settings)
    _write_private(path, FIRST_RUN_HEADER + exports)
    intro = (
        "\nFirst run: created a demo partner and tenant "
        f"{tenant_external_id!r} (turn off with REACH_DEMO_ON_FIRST_RUN=0).\n"
    )
    if not sys.stderr.isatty():
        # Under a service manager stderr is a journal: the secret and token stay in the file.
        log.info(
            "first run: created a demo partner and tenant %r (turn off with "
            "REACH_DEMO_ON_FIRST_RUN=0); its partner id, secret and a 7-day tenant token are in "
            "%s (mode 0600); `. %s` sets them in a shell",
            tenant_external_id,
            path,
            path,
        )
        return
    click.echo(
        intro
        + f"Keep the secret (it signs your own tokens); also written to {path} (mode 0600).\n\n"
        + "".join(f"  {line}\n" for line in exports.splitlines())
        + "\nTry it (TOKEN is a tenant token valid for 7 days):\n\n"
        f"  curl -s -X POST {base}/api/resources/customers \\\n"
        '    -H "Authorization: Bearer $TOKEN" -H "Content-Type: application/json" \\\n'
        f"    -d '{body}'\n"
        f'  curl -s {base}/api/resources/customers/c-1 -H "Authorization: Bearer $TOKEN"\n',
        err=True,
    )


FIRST_RUN_HEADER = (
    "# reach-server first-run demo: partner id, secret and a 7-day tenant token.\n"
    "# Source it in a shell (. ./reach.db.first-run); delete it once you have what you need.\n"
)


def credentials_file_for(settings: Settings) -> Path:
    return Path(sqlite_path(settings.database_url) + ".first-run").absolute()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        os.fchmod(handle.fileno(), 0o600)  # an older file may have had a wider mode
        handle.write(text)


def ensure_port_free(host: str, port: int) -> None:
    """Refuse a port another server listens on. granian binds with SO_REUSEPORT, so a second
    server would otherwise share the port and requests would alternate between two servers;
    a probe bound without it fails while anything listens there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            probe.bind(address)
            probe.listen(1)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is already in use (another reach serve or another "
                    "program); stop it or choose another with --port / REACH_PORT"
                ) from None
            raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None


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
    from reach.batches import worker as batch_worker
    from reach.storage import migrate  # on use: Alembic is slow to import

    settings = _settings(database_url=database_url)
    if concurrency < 1:
        raise click.ClickException("--concurrency must be at least 1")
    if settings.engine == "sqlite":
        migrate.upgrade(settings.database_url, secret_key=settings.secret_key)
    else:
        _require_migrated(settings)
    configure_logging(settings.log_level)
    asyncio.run(
        batch_worker.run_worker(
            settings,
            concurrency=concurrency,
            chunk_size=chunk_size or batch_worker.CHUNK_SIZE,
            lease_seconds=lease_seconds or batch_worker.LEASE_SECONDS,
            announce=lambda message: announce("reach.batches", f"{message} on {settings.engine}"),
        )
    )


@main.command()
@database_option
@click.option(
    "--days",
    type=click.IntRange(0),
    default=None,
    help="Delete batches that finished more than DAYS ago (default REACH_BATCH_RETENTION_DAYS).",
)
def prune(database_url: str | None, days: int | None) -> None:
    """Delete finished batches (and their items) past the retention period, in small chunks.

    The batch workers do this hourly on their own; this is for doing it now."""
    from reach.batches import retention

    settings = _settings(database_url=database_url)
    days = settings.batch_retention_days if days is None else days
    if days == 0:
        raise click.ClickException(
            "REACH_BATCH_RETENTION_DAYS is 0 (keep batches forever); pass --days N to prune"
        )
    require_existing_database(settings)

    async def run() -> retention.Pruned:
        db = await open_database(settings.database_url, pool_size=1)
        try:
            return await retention.prune(db, retention.cutoff(days))
        finally:
            await db.close()

    pruned = asyncio.run(run())
    _echo_json({"before": pruned.before, "batches": pruned.batches, "items": pruned.items})
