"""Scratch databases: every bench run gets a fresh one and removes it at the end.

SQLite: a file in the run's temporary directory. PostgreSQL: a database named
``reach_bench_<UTC time>_<pid>_<n>`` created next to the others on the server at ``--pg-url``;
the bench only ever drops databases it created itself (the name is checked before the drop).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench import reachcli

PG_PREFIX = "reach_bench_"
_counter = itertools.count(1)


@dataclass
class ScratchDatabase:
    engine: str
    url: str
    name: str  # the file path (SQLite) or the database name (PostgreSQL)
    admin_url: str = ""

    def migrate(self) -> None:
        reachcli.run("migrate", database_url=self.url)

    def drop(self) -> None:
        if self.engine == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(self.name + suffix).unlink(missing_ok=True)
            return
        if not self.name.startswith(PG_PREFIX):  # never anybody else's database
            raise RuntimeError(f"refusing to drop {self.name!r}: not a bench database")
        asyncio.run(_admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


def with_database(base_url: str, database: str) -> str:
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


async def _admin(admin_url: str, statement: str) -> None:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def create(engine: str, workdir: Path, pg_base_url: str) -> ScratchDatabase:
    """A fresh, migrated database."""
    n = next(_counter)
    if engine == "sqlite":
        path = workdir / f"bench-{n}.db"
        db = ScratchDatabase("sqlite", f"sqlite:///{path}", str(path))
    else:
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
        name = f"{PG_PREFIX}{stamp}_{os.getpid()}_{n}"
        # CREATE DATABASE needs a connection to some other database: the maintenance one,
        # used for nothing else. (template1 would block other people's CREATE DATABASE.)
        admin = with_database(pg_base_url, "postgres")
        asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
        db = ScratchDatabase("postgresql", with_database(pg_base_url, name), name, admin)
    try:
        db.migrate()
    except BaseException:
        db.drop()
        raise
    return db


def server_version(pg_base_url: str) -> str:
    """PostgreSQL's version string; also proves the server is reachable before the run starts."""

    async def fetch() -> str:
        conn = await asyncpg.connect(with_database(pg_base_url, "postgres"), timeout=10)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    return asyncio.run(fetch())


def postmaster_pid(pg_base_url: str) -> int | None:
    """The local PostgreSQL server's postmaster, whose process tree (backends, WAL writer,
    checkpointer) is the database's CPU on this host; None when it is not readable here
    (another host, another user's data directory)."""

    async def fetch() -> str:
        conn = await asyncpg.connect(with_database(pg_base_url, "postgres"), timeout=10)
        try:
            return str(await conn.fetchval("SHOW data_directory"))
        finally:
            await conn.close()

    try:
        with open(Path(asyncio.run(fetch())) / "postmaster.pid", encoding="ascii") as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None
