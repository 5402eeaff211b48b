"""Which database errors are faults of the moment rather than of the request or the data.

One classification for every caller: the edge answers a transient error with ``503`` and
``Retry-After`` (one warning line, no traceback), and the batch worker retries the same chunk
instead of narrowing it down to an item to blame. Anything not listed here is treated as
caused by what was being done (a bug or bad data): a ``500``, or a failed batch item.
"""

from __future__ import annotations

import sqlite3

import asyncpg

from reach.errors import DatabaseUnavailable

# SQLSTATEs that say "try again": the statement may succeed unchanged a moment later.
_TRANSIENT_STATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout, pg_cancel_backend)
        "57P01",  # admin_shutdown (pg_terminate_backend, fast shutdown)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up, recovering)
    }
)
# Whole classes: 08 connection exception, 53 insufficient resources (too many connections,
# disk full, out of memory), 58 system error (I/O).
_TRANSIENT_CLASSES = ("08", "53", "58")


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an infrastructure fault that retrying the same work may outlive."""
    if isinstance(exc, DatabaseUnavailable):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state in _TRANSIENT_STATES or state.startswith(_TRANSIENT_CLASSES)
    if isinstance(exc, asyncpg.InterfaceError):
        # "connection is closed", "… was closed in the middle of operation", and "… has been
        # released back to the pool": asyncpg hands a connection that died back to the pool
        # at once, so a request's next statement on it says so (our own use after release is
        # refused earlier, by the transaction's state). "Another operation is in progress" is
        # a bug, not a fault.
        text = str(exc)
        return "closed" in text or "released back to the pool" in text
    if isinstance(exc, asyncpg.InternalClientError):
        # "cannot switch to state 15; another operation (2) is in progress": the protocol was
        # left mid-exchange by a server that ended the session (pg_terminate_backend) between
        # two statements. Using one connection twice at once is refused before this, with an
        # InterfaceError, so here it means a dead connection.
        return "cannot switch to state" in str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "locked" in text or "busy" in text
    # A socket refused, reset or timed out (TimeoutError is asyncio's too). Failures to get
    # a connection at all arrive as DatabaseUnavailable (see the engines' acquire).
    return isinstance(exc, ConnectionError | TimeoutError)


def cause(exc: BaseException) -> str:
    """A short name for the fault, for a log line: the underlying error, not its wrapper."""
    inner = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
    text = str(inner).strip().splitlines()[0] if str(inner).strip() else ""
    name = type(inner).__name__
    return f"{name}: {text}" if text else name


def unavailable(exc: BaseException) -> DatabaseUnavailable:
    """The domain error a transient fault becomes (``503`` with ``Retry-After``)."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    error = DatabaseUnavailable()
    error.__cause__ = exc
    return error
