"""Schema migrations: Alembic, driven from code so no ``alembic.ini`` is needed at run time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from reach.storage.sqlite import configure
from reach.storage.sqlite_files import prepare_file, sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlalchemy_url(url: str) -> str:
    """Our URLs name the engine; SQLAlchemy also wants the driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:"):
        return "sqlite:///" + sqlite_path(url)
    return url


def alembic_config(url: str, secret_key: str = "") -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    # Migration 0003 encrypts stored partner secrets with it (never written to any file).
    config.attributes["secret_key"] = secret_key
    return config


def upgrade(url: str, revision: str = "head", *, secret_key: str = "") -> None:
    if url.startswith("sqlite:"):
        _prepare_sqlite(url)
    command.upgrade(alembic_config(url, secret_key), revision)


def downgrade(url: str, revision: str, *, secret_key: str = "") -> None:
    command.downgrade(alembic_config(url, secret_key), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision_sqlite(url: str) -> str | None:
    engine = create_engine(sqlalchemy_url(url))
    with engine.connect() as conn:
        rev = MigrationContext.configure(conn).get_current_revision()
    engine.dispose()
    return rev


def _prepare_sqlite(url: str) -> None:
    """Create the file with WAL on before Alembic touches it."""
    import sqlite3

    path = sqlite_path(url)
    prepare_file(path)
    conn = sqlite3.connect(path)
    configure(conn)
    conn.close()
