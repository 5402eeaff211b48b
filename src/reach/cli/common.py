"""Shared pieces of the ``reach`` command: the group, the database option, and running one
transaction from a synchronous command."""

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

from reach.config import Settings, load_settings
from reach.errors import ConfigError, ReachError
from reach.secretbox import SecretBox, box_for
from reach.storage.database import Connection, open_database
from reach.storage.sqlite_files import sqlite_path

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


def require_existing_database(settings: Settings) -> None:
    """Read-only commands never create or migrate a database: run in the wrong directory, they
    would otherwise make a fresh empty ``./reach.db`` and report "not found" from it."""
    from reach.storage import migrate  # on use: Alembic is slow to import

    if settings.engine != "sqlite":
        return
    path = Path(sqlite_path(settings.database_url))
    if not path.is_file():
        raise click.ClickException(
            f"no database at {path} (set REACH_DATABASE_URL or --database-url; "
            "`reach migrate` or `reach serve` creates one)"
        )
    if migrate.current_revision_sqlite(settings.database_url) != migrate.head_revision():
        raise click.ClickException(f"{path} is not at the newest schema; run `reach migrate` first")


def _in_transaction(
    settings: Settings, work: Callable[[Connection], Awaitable[T]], *, read_only: bool = False
) -> T:
    from reach.storage import migrate  # on use: Alembic is slow to import

    if read_only:
        require_existing_database(settings)
    elif settings.engine == "sqlite":
        # the embedded default needs no set-up
        migrate.upgrade(settings.database_url, secret_key=settings.secret_key)

    async def run() -> T:
        db = await open_database(settings.database_url, pool_size=1)
        try:
            async with db.transaction(write=not read_only) as conn:
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
def _database_errors() -> tuple[type[BaseException], ...]:
    # SQLAlchemy is imported only with the migrations (on use, so `reach --help` starts fast):
    # if it never was, none of its errors can be in flight.
    sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_errors is None:
        return (asyncpg.PostgresError, sqlite3.Error)
    return (asyncpg.PostgresError, sqlite3.Error, sqlalchemy_errors.OperationalError)


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # The reader went away (`reach export ... | head`): what it wanted, it has.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit cannot fail again
            ctx.exit(0)
        except _database_errors() as exc:
            raise click.ClickException(f"database unusable: {exc}") from None
        except OSError as exc:
            raise click.ClickException(str(exc)) from None
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="reach-server")
def main() -> None:
    """reach-server: a self-hostable Reach Partner Resources API."""
