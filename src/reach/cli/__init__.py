"""``reach`` — the command line. JSON or a table on stdout, errors on stderr, non-zero exit.

Every command honours ``--database-url`` / ``REACH_DATABASE_URL``. The commands live in the
submodules, grouped by who runs them; importing them registers them on :data:`main`.
"""

from reach.cli import admin, files, server
from reach.cli.common import main

__all__ = ["admin", "files", "main", "server"]
