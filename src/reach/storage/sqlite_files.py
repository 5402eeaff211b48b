"""Where the SQLite database file lives, and that only its owner may read it: it holds
partners' customer data (docs/decisions.md)."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("reach.storage")


def sqlite_path(url: str) -> str:
    """``sqlite:///./reach.db`` → ``./reach.db``; ``sqlite:////abs.db`` → ``/abs.db``."""
    path = url.removeprefix("sqlite:").removeprefix("//").removeprefix("/")
    return path or "reach.db"


def prepare_file(path: str) -> None:
    """Create the database file readable by its owner only (0600), as the key file is: it
    holds partners' customer data. SQLite creates the ``-wal`` and ``-shm`` files later with
    the database file's own mode, so they follow it. A file from before this rule that others
    may read is narrowed to its owner, with a warning (docs/decisions.md)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for name in (path, f"{path}-wal", f"{path}-shm"):
        with contextlib.suppress(FileNotFoundError):
            mode = os.stat(name).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                os.chmod(name, stat.S_IMODE(mode) & ~(stat.S_IRWXG | stat.S_IRWXO))
                log.warning(
                    "%s was readable by others (mode %o); narrowed to its owner",
                    name,
                    stat.S_IMODE(mode),
                )
