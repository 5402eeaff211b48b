"""``reach backup``: a consistent copy of the embedded SQLite database, with its key.

SQLite's online backup API copies the database in one step from a read transaction: in WAL
mode that is a snapshot, taken while writers carry on (they append to the WAL and are never
blocked), so the copy is consistent without stopping the server. The key file that seals the
partner secrets goes beside the copy: a database restored without its key is refused (see
:mod:`reach.secretbox`), because every stored secret would be unreadable.

PostgreSQL is backed up with its own tools; :func:`postgres_advice` says how and checks what
that needs.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import msgspec

from reach.secretbox import key_file_for


class BackupError(Exception):
    """Why no backup was made; the operator's to fix."""


class Backup(msgspec.Struct, frozen=True):
    database: str
    key_file: str | None
    bytes: int
    seconds: float


def backup_sqlite(source: str, target: Path, *, key_from_environment: bool) -> Backup:
    if not Path(source).is_file():
        raise BackupError(f"no database at {source}")
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new path (a backup never overwrites)")
    target.parent.mkdir(parents=True, exist_ok=True)
    key_source = key_file_for(source)
    key_target = key_file_for(str(target))
    if not key_from_environment and not key_source.exists():
        raise BackupError(f"{key_source} is missing: without it the backup could not be restored")
    started = time.monotonic()
    # Created 0600 before SQLite writes to it: the copy holds every tenant's records.
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = sqlite3.connect(f"file:{Path(source).absolute()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)  # all pages in one step: one snapshot
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            finally:
                dst.close()
        finally:
            src.close()
        if not key_from_environment:
            fd = os.open(key_target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(key_source.read_text())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Backup(
        database=str(target),
        key_file=None if key_from_environment else str(key_target),
        bytes=target.stat().st_size,
        seconds=round(time.monotonic() - started, 3),
    )


def postgres_advice(database_url: str, target: Path, server_version: int | None) -> str:
    """How to back this PostgreSQL database up, and whether this machine is ready to."""
    lines = [
        "reach backup copies the embedded SQLite database only; back PostgreSQL up with its "
        "own tools, and keep REACH_SECRET_KEY with the dump (without it the partner secrets in "
        "it cannot be opened):",
        f"  pg_dump --format=custom --file={target} '{_without_password(database_url)}'",
        "Restore into an empty database with pg_restore --no-owner --dbname=URL FILE, then "
        "`reach migrate` (see docs/operations.md).",
    ]
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        lines.append("Prerequisite missing: pg_dump is not on PATH (the PostgreSQL client tools).")
    else:
        found = subprocess.run(  # noqa: S603 - the PostgreSQL client, fixed arguments
            [pg_dump, "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", found)
        client = int(match.group(1)) if match else None
        if client is not None and server_version is not None and client < server_version:
            lines.append(
                f"Prerequisite missing: pg_dump {client} cannot dump a PostgreSQL "
                f"{server_version} server; install client tools of version {server_version} "
                "or newer."
            )
        else:
            lines.append(f"Prerequisites met: {found.strip()} for server {server_version}.")
    return "\n".join(lines)


def _without_password(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1@", url)
