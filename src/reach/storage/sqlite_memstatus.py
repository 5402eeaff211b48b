"""SQLite's allocation statistics off for the whole process, so that scans on several threads
run side by side.

With the statistics on (SQLite's default, ``SQLITE_CONFIG_MEMSTATUS``) every allocation takes
one process-wide mutex to count it, and Debian's SQLite is built without the per-connection
lookaside allocator (``OMIT_LOOKASIDE``), so every small allocation takes it. Parsing JSON
allocates on every row: two reader threads each scanning half of a segment's contacts spent
as much CPU each as one thread scanning all of them, while two processes split the work
cleanly (docs/benchmarks.md). Nothing here reads the statistics.

The sqlite3 module has no way to set a global option, so ``sqlite3_config`` is called through
ctypes on the library the module is linked with. SQLite accepts it only while it is not
initialised, and the module initialises it on import, so it is shut down first — which is
safe only with no connection open: done only while SQLite has no memory in use (any open
connection holds some), once per process, before the first connection of
:class:`reach.storage.sqlite.SqliteDatabase`. On another platform, or if anything is not as
expected, SQLite stays as it was: the same answers, scans as before.
"""

from __future__ import annotations

import ctypes
import importlib.util
import sys
import threading

_CONFIG_MEMSTATUS = 9  # sqlite3.h: SQLITE_CONFIG_MEMSTATUS, an int (boolean) argument
_lock = threading.Lock()
_off = False


def memstatus_off() -> bool:
    """Turn the statistics off if it can be done safely now; whether they are off."""
    global _off
    with _lock:
        if _off:
            return True
        # sqlite3_config is variadic; its int argument is passed as a plain one, which is the
        # same call on Linux (x86-64 and AArch64), not on every platform (macOS on ARM).
        spec = importlib.util.find_spec("_sqlite3")
        if sys.platform != "linux" or spec is None or spec.origin is None:
            return False
        try:
            lib = ctypes.CDLL(spec.origin)  # its symbols include the SQLite it links
            used = lib.sqlite3_memory_used
            used.restype = ctypes.c_int64
            if used() != 0 or lib.sqlite3_shutdown() != 0:
                return False  # a connection is open somewhere in the process: leave it be
            _off = bool(lib.sqlite3_config(_CONFIG_MEMSTATUS, ctypes.c_int(0)) == 0)
            lib.sqlite3_initialize()
        except (OSError, AttributeError):  # no such library or symbol (another build)
            return False
        return _off
