"""One storage interface, two engines.

Every query is written once with PostgreSQL-style ``$1`` placeholders; the SQLite engine
rewrites them to its numbered ``?1`` form. Where the dialects really differ, storage code picks
the SQL by :attr:`Connection.dialect`, the engine of the connection it runs on. Rows support
access by column name on both engines.

The transaction belongs to the request: routes open one with :meth:`Database.transaction`
and hand the connection to domain code, which never commits by itself. ``BEGIN`` is sent lazily,
right before the first ordinary statement, so a request that needs one statement can skip the
transaction altogether through the two opt-outs on :class:`Connection` (docs/decisions.md,
*Transactions*).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, NamedTuple, Protocol

log = logging.getLogger("reach.storage")


class Row(Protocol):
    def __getitem__(self, key: str | int, /) -> Any: ...


# A statement and its arguments, for ``Connection.fetch_apart``.
Query = tuple[str, Sequence[Any]]


# Where a request's connection is in its transaction (bits; 1 alone is the hot path).
IDLE = 0  # nothing has run: no BEGIN sent yet, nothing to commit
BEGUN = 1  # BEGIN sent: COMMIT or ROLLBACK at exit
SEALED = 2  # a final write changed rows: nothing may follow it
CLOSED = 4  # the transaction has ended


def misuse(state: int) -> RuntimeError:
    """The error for a statement the connection's state forbids: a programming error."""
    if state & CLOSED:
        return RuntimeError("connection used after its transaction ended")
    return RuntimeError(
        "statement after execute_final(): the final write may already be committed on its own, "
        "so nothing can join its transaction"
    )


class Connection(Protocol):
    """The subset of asyncpg's connection API that storage code uses, plus two opt-outs.

    Ordinary statements (``fetch`` … ``executemany``) begin the transaction if it has not
    begun. The opt-outs run *before* it, alone, when nothing has begun it yet; they are for
    the few places where that is provably the same as running inside (see each).
    """

    # "sqlite" or "postgresql", set by the engine: where the SQL really differs, storage code
    # picks the statement by the connection it runs on.
    dialect: str

    async def begin(self) -> None:
        """Send ``BEGIN`` now, if nothing has: for a caller that must add a statement after
        the request's writes whatever they are (``execute_final`` alone would commit itself)."""
        ...

    async def fetch(self, query: str, *args: Any) -> Sequence[Row]: ...

    async def fetchrow(self, query: str, *args: Any) -> Row | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> Any: ...

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> Any: ...

    async def fetchrow_standalone(self, query: str, *args: Any) -> Row | None:
        """``fetchrow`` that does not begin the transaction. Before ``BEGIN`` it runs alone in
        autocommit, on its own snapshot — what it would have read had ``BEGIN`` been sent right
        then (READ COMMITTED; SQLite's deferred snapshot); afterwards it runs inside as usual.

        Only for a read that is all the request reads, or that the write relying on it
        re-checks (a compare-and-set): it takes no lock, not even SQLite's write lock.
        """
        ...

    async def execute_final(self, query: str, *args: Any) -> int:
        """The transaction's last statement, a write; returns how many rows it changed.

        Before ``BEGIN`` it runs alone in autocommit: one statement is atomic by itself, and
        its commit is as durable as ``COMMIT`` (SQLite retries a busy write lock without
        blocking, then 503s, as ``BEGIN IMMEDIATE`` does). Afterwards it runs inside and
        ``COMMIT`` follows at exit. Once it has changed a row the connection is sealed: any
        further statement raises ``RuntimeError``. One that matched no row changed nothing
        and leaves the connection usable, so a compare-and-set that lost can read again.
        Refused in a read transaction, as PostgreSQL's ``READ ONLY`` refuses the write.
        """
        ...

    @property
    def scan_split(self) -> int:
        """How many parts a long scan is worth splitting into for :meth:`fetch_apart` (how
        many of its queries run at once); 1 where they run one after the other."""
        ...

    async def fetch_apart(self, queries: Sequence[Query]) -> Sequence[Sequence[Row]]:
        """Long reads — a scan over many rows: each query's rows, in the order given.

        On SQLite, in a read transaction, they run side by side on reader connections of their
        own, in threads, each query on its own snapshot, and the process's connection serves
        other requests meanwhile (a read transaction begun before ends first; a statement
        after this begins another). In a write transaction, and on PostgreSQL (whose
        connections never hold up the event loop or each other), they run here, in turn.
        """
        ...

    async def execute_after_final(self, query: str, *args: Any) -> int:
        """``execute`` that may follow ``execute_final`` — only once ``BEGIN`` went out, so
        the final write is inside the transaction and commits with this statement; returns
        how many rows it changed (no ``RETURNING`` needed to tell: on SQLite that clause alone
        cost ~5 µs of the statement's ~13). For what the request layer records with its
        response (``reach.web.idempotency``), never for a domain write: those must not depend
        on whether the transaction began."""
        ...

    def after_commit(self, change: str) -> None:
        """Hand ``change`` (a :mod:`reach.storage.notify` message) to the database's
        ``on_change`` once this transaction has committed — never if it rolls back. The one
        way a process's caches learn of its own writes (other processes hear the same message
        through ``NOTIFY``)."""
        ...

    def when_committed(self, call: Callable[[], None]) -> None:
        """Run ``call`` once what this connection wrote is committed — never if it rolls back.
        For what this process may only believe of a write once it is durable (a record hint,
        :mod:`reach.domain.recent`). Without ``BEGIN`` every statement that ran was its own
        commit, so the calls run whatever ended the block."""
        ...


def on_replica(conn: Connection) -> bool:
    """Whether ``conn`` reads a replica (reach.storage.replicas), which may lag the primary:
    what it reads must not fill a process-wide cache that later decides or shortcuts a write
    (schema definitions, record hints)."""
    return getattr(conn, "on_replica", False) is True


class _Counter:
    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0


# Long reads (``Connection.fetch_apart``) running in this process, for the metrics gauge.
LONG_READS = _Counter()


class Usage(NamedTuple):
    """How a process's database connections are used right now (for the pool gauges)."""

    in_use: int
    idle: int
    limit: int
    waiting: int


class Database(Protocol):
    dialect: str
    # Called with each change a committed transaction announced (``Connection.after_commit``),
    # after COMMIT and before the connection is handed to anyone else; the process's services
    # set it to forget the cache entries the change names.
    on_change: Callable[[str], None]

    def transaction(self, *, write: bool = True) -> AbstractAsyncContextManager[Connection]:
        """A connection inside one transaction; committed on success, rolled back on error.

        ``BEGIN`` is sent right before the first ordinary statement (never, if none runs), and
        ``COMMIT``/``ROLLBACK`` at exit only if it was. ``write=True`` begins with
        ``BEGIN IMMEDIATE`` on SQLite, taking the write lock before the first read, so a
        read-merge-write can never lose an update to another process; ``write=False`` begins
        ``READ ONLY`` on PostgreSQL. SQLite runs one transaction at a time per process: the
        whole block holds the connection, begun or not.
        """
        ...

    async def ping(self, within: float = 1.0) -> None:
        """``SELECT 1`` on a connection of the pool, all within ``within`` seconds; raises
        :class:`~reach.errors.DatabaseUnavailable` past it or when the database fails."""
        ...

    def usage(self) -> Usage: ...

    async def close(self) -> None: ...


class DuplicateKey(Exception):
    """A write met a unique index; the domain decides what that means (usually a 409)."""


def deliver_changes(on_change: Callable[[str], None], changes: list[str]) -> None:
    """After COMMIT: the transaction's announced changes to ``on_change``. A failing handler is
    logged, never raised — the write has committed, and the client must hear so."""
    for change in changes:
        try:
            on_change(change)
        except Exception:
            log.exception("change %r committed but not applied to this process's caches", change)


class CommitHooks:
    """Both engines' connections: what a transaction hands on once it has committed (the
    ``after_commit`` and ``when_committed`` of :class:`Connection`). Lists made only when
    used: most transactions hand on nothing."""

    __slots__ = ("changes", "committed")

    def __init__(self) -> None:
        self.changes: list[str] | None = None  # announced, delivered after COMMIT
        self.committed: list[Callable[[], None]] | None = None  # run after COMMIT

    def after_commit(self, change: str) -> None:
        if self.changes is None:
            self.changes = [change]
        else:
            self.changes.append(change)

    def when_committed(self, call: Callable[[], None]) -> None:
        if self.committed is None:
            self.committed = [call]
        else:
            self.committed.append(call)


def run_committed(calls: list[Callable[[], None]] | None) -> None:
    """After COMMIT: the transaction's ``when_committed`` calls, in order; like
    :func:`deliver_changes`, a failing one is logged, never raised."""
    for call in calls or ():
        try:
            call()
        except Exception:
            log.exception("an after-commit call failed; the write itself committed")


def ignore_changes(change: str) -> None:
    """The ``on_change`` of a database no cache listens to (CLI commands, tools)."""


def is_unique_violation(exc: BaseException) -> bool:
    """Whether ``exc`` is either engine's unique-index violation (SQLSTATE 23505)."""
    if isinstance(exc, sqlite3.IntegrityError):
        return str(exc).startswith("UNIQUE constraint failed")
    return getattr(exc, "sqlstate", None) == "23505"


async def open_database(
    url: str,
    *,
    pool_size: int = 10,
    acquire_timeout: float = 5.0,
    lock_timeout: float = 5.0,
    scan_threads: int = 2,
) -> Database:
    """``acquire_timeout``: longest wait for a free connection (then ``DatabaseUnavailable``);
    ``lock_timeout``: longest a statement waits for another transaction's lock;
    ``scan_threads``: SQLite's reader threads for ``Connection.fetch_apart``."""
    if url.startswith(("postgresql:", "postgres:")):
        from reach.storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(
            url, pool_size=pool_size, acquire_timeout=acquire_timeout, lock_timeout=lock_timeout
        )
    if url.startswith("sqlite:"):
        from reach.storage.sqlite import SqliteDatabase

        return SqliteDatabase.open(
            url,
            acquire_timeout=acquire_timeout,
            lock_timeout=lock_timeout,
            scan_threads=scan_threads,
        )
    from reach.errors import ConfigError

    raise ConfigError(f"unsupported database URL scheme: {url.split(':', 1)[0]!r}")
