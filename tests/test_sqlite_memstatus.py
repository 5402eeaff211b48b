"""SQLite's allocation statistics are off once the server's database opens (scans on several
threads then scale), and left alone while another connection is open (shutting SQLite down
under it would be unsafe). Each case runs in a fresh interpreter: the setting is per process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# With the statistics on, an open connection's memory is counted; off, nothing is.
_PROBE = """
import ctypes, importlib.util, sqlite3, sys
from reach.storage.sqlite import SqliteDatabase
from reach.storage.sqlite_memstatus import memstatus_off
lib = ctypes.CDLL(importlib.util.find_spec("_sqlite3").origin)
lib.sqlite3_memory_used.restype = ctypes.c_int64
held = sqlite3.connect(sys.argv[2]) if sys.argv[1] == "held" else None
db = SqliteDatabase(sys.argv[2], scan_threads=2)
rows = db._raw.execute("SELECT count(*) FROM sqlite_master").fetchone()
print(memstatus_off(), lib.sqlite3_memory_used() > 0, rows[0] >= 0)
"""


def _probe(tmp_path: Path, mode: str) -> str:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _PROBE, mode, str(tmp_path / "probe.db")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.skipif(sys.platform != "linux", reason="turned off on Linux only")
def test_statistics_are_off_once_the_database_opens(tmp_path: Path) -> None:
    assert _probe(tmp_path, "alone") == "True False True"


def test_an_open_connection_leaves_sqlite_as_it_was(tmp_path: Path) -> None:
    assert _probe(tmp_path, "held") == "False True True"
