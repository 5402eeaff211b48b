"""Shared pieces of the ``reach`` command: the group, the database option, and running one
transaction from a synchronous command."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import click
import orjson
import sqlalchemy.exc

from reach.config import Settings, load_settings
from reach.errors import ConfigError, ReachError
from reach.secretbox import SecretBox, box_for
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
