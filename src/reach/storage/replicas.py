"""Read replicas: which node serves a read, and how fresh it must be (docs/replicas.md).

Reads of routes that opt in (``route(..., replica=True)``) go to a PostgreSQL hot standby
named in ``REACH_DATABASE_READ_URLS``; everything else stays on the primary. Two promises:

* **Read-your-writes.** Every write response carries ``Reach-Consistency``, the primary's WAL
  position read after the commit (:func:`token`). A read that sends it back is served by a
  replica that has replayed that far — known from an earlier answer, or asked on the
  connection that will serve the read — waits up to ``REACH_REPLICA_WAIT_SECONDS`` for one,
  or goes to the primary.
* **Bounded staleness.** A read without a token goes to a replica known to hold everything the
  primary had committed ``REACH_REPLICA_MAX_LAG_SECONDS`` ago, else to the primary.

Freshness needs no clocks in agreement: the checker samples the primary's position and the
time it asked (this process's monotonic clock), so a replica that has replayed past a sample
holds every commit made before that moment. A replica that fails a check, answers a read with
a fault, or turns out not to be a standby (promoted) leaves the rotation until a check
succeeds; a read it failed runs again on the primary (reads change nothing), so a replica
fault never reaches the client.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncpg

from reach.storage import faults
from reach.storage.consistency import PRIMARY_POSITION, PositionClock, as_replayed, parse_token
from reach.storage.postgres import PgConnection, PostgresDatabase, asyncpg_dsn

log = logging.getLogger("reach.replicas")

T = TypeVar("T")

HEADER = "Reach-Consistency"


_REPLAY = "SELECT pg_last_wal_replay_lsn()"
_CHECK = "SELECT pg_is_in_recovery() AS standby, pg_last_wal_replay_lsn() AS replay"


# Outcomes of a read that could go to a replica (the metric reach_db_replica_reads_total).
REPLICA = "replica"
PRIMARY_NO_REPLICA = "primary_no_replica"  # none up and within the staleness bound
PRIMARY_BEHIND = "primary_behind"  # none reached the token within the wait
PRIMARY_BUSY = "primary_busy"  # the replica's pool stayed full for the wait
PRIMARY_FAULT = "primary_fault"  # the replica failed the read; the primary served it
OUTCOMES = (REPLICA, PRIMARY_NO_REPLICA, PRIMARY_BEHIND, PRIMARY_BUSY, PRIMARY_FAULT)


def display_name(url: str) -> str:
    """``host:port/database`` of a URL, without credentials: for logs, metrics, /readyz."""
    parts = urlsplit(asyncpg_dsn(url))
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}{parts.path or '/'}"


def _of_the_statement(exc: BaseException) -> bool:
    """A fault of one statement, not of the replica: a query a standby cancelled because
    replay needed what it read (40001), a timeout, a lock wait."""
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state in ("40001", "40P01", "55P03", "57014")


class ReplicaConnection(PgConnection):
    """A read transaction on a standby. Process-wide caches that later decide writes must
    not be filled from it (see reach.domain.schemas)."""

    __slots__ = ()
    on_replica = True


class _Probe:
    """One connection of its own, outside any pool, for health checks: a replica whose pool
    is busy serving reads is not unhealthy, and a check must not queue behind them."""

    def __init__(self, url: str, timeout: float) -> None:
        self._dsn = asyncpg_dsn(url)
        self._timeout = timeout
        self._conn: asyncpg.Connection[Any] | None = None

    async def fetchrow(self, query: str) -> Any:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self._dsn,
                    timeout=self._timeout,
                    server_settings={"application_name": "reach-server replica check"},
                )
            return await self._conn.fetchrow(query)
        except BaseException:
            # Cut off mid-exchange (a timeout) or broken: never reuse it.
            self.discard()
            raise

    def discard(self) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None


@dataclass(slots=True)
class ReplicaState:
    """What /readyz and /metrics show of one replica."""

    name: str
    up: bool
    lag_seconds: float | None  # None until known
    lag_bytes: int | None
    reason: str  # why it is out of rotation; "" when up


class Replica:
    def __init__(self, url: str, db: PostgresDatabase, timeout: float) -> None:
        self.name = display_name(url)
        self.db = db
        self.probe = _Probe(url, timeout)
        self.up = False
        self.reason = "not checked yet"
        self.replay = 0  # the furthest replay position seen
        self.fresh_at = float("-inf")  # it holds every commit made before this moment


class Replicas:
    """The primary and its replicas, for one serving process."""

    def __init__(
        self,
        primary: PostgresDatabase,
        replicas: list[Replica],
        *,
        max_lag: float,
        wait: float,
        check_every: float,
    ) -> None:
        self.primary = primary
        self.replicas = replicas
        self.max_lag = max_lag
        self.wait = wait
        self.check_every = check_every
        # (when asked, position) of the primary: enough to date any replay within max_lag.
        self._samples: deque[tuple[float, int]] = deque(maxlen=int(max_lag / check_every) + 3)
        self._next = 0  # round robin
        self._task: asyncio.Task[None] | None = None
        self.counts = dict.fromkeys(OUTCOMES, 0)
        self.clock = PositionClock(primary)
        self.on_read: Callable[[str], None] | None = None  # the metrics hook

    @classmethod
    async def open(
        cls,
        primary: PostgresDatabase,
        urls: list[str],
        *,
        pool_size: int,
        lock_timeout: float,
        max_lag: float,
        wait: float,
        check_every: float,
    ) -> Replicas:
        replicas: list[Replica] = []
        for url in urls:
            db = await PostgresDatabase.open(
                url,
                pool_size=pool_size,
                # Opening a replica connection is bounded like a check: past it the replica
                # counts as down and the read goes to the primary.
                acquire_timeout=check_every,
                lock_timeout=lock_timeout,
                min_size=0,
                application_name="reach-server replica",
            )
            replicas.append(Replica(url, db, check_every))
        return cls(primary, replicas, max_lag=max_lag, wait=wait, check_every=check_every)

    # -- serving reads

    async def read(self, given: str | None, work: Callable[[PgConnection], Awaitable[T]]) -> T:
        """Run the read ``work`` on a replica fresh enough for the token ``given`` (the
        request's ``Reach-Consistency``), else on the primary."""
        position = parse_token(given)
        if given is not None and position is None:
            return await self._on_primary(PRIMARY_BEHIND, work)
        found = await self._connection(position)
        if isinstance(found, str):
            return await self._on_primary(found, work)
        replica, raw = found
        try:
            async with replica.db.transaction_on(raw, ReplicaConnection) as conn:
                result = await work(conn)
        except Exception as exc:
            if not faults.is_transient(exc):
                raise
            if not _of_the_statement(exc):
                self._fault(replica, exc)
            return await self._on_primary(PRIMARY_FAULT, work)
        self._count(REPLICA)
        return result

    async def position(self) -> int | None:
        """A primary WAL position read after this call: for a write that has committed, at or
        past its commit (:class:`PositionClock`). None when it cannot be read."""
        return await self.clock.after_now()

    async def _on_primary(self, outcome: str, work: Callable[[PgConnection], Awaitable[T]]) -> T:
        self._count(outcome)
        async with self.primary.transaction(write=False) as conn:
            return await work(conn)

    def _count(self, outcome: str) -> None:
        self.counts[outcome] += 1
        if self.on_read is not None:
            self.on_read(outcome)

    def _eligible(self, position: int | None) -> list[Replica]:
        oldest = time.monotonic() - self.max_lag
        fresh = [r for r in self.replicas if r.up and r.fresh_at >= oldest]
        if position is None or not fresh:
            return fresh
        # Those known to have replayed far enough first; else the furthest, to wait for.
        known = [r for r in fresh if r.replay >= position]
        return known or [max(fresh, key=lambda r: r.replay)]

    async def _connection(self, position: int | None) -> tuple[Replica, Any] | str:
        """A replica and a connection of it that can serve the read, or why not."""
        candidates = self._eligible(position)
        if not candidates:
            return PRIMARY_NO_REPLICA
        self._next = (self._next + 1) % len(candidates)
        replica = candidates[self._next]
        db = replica.db
        free = db.has_free()
        try:
            # A free slot: no timer (opening a connection is bounded by the pool). A full
            # pool: wait as long as a read may wait for a replica, then spill to the primary.
            raw = await (db.acquire() if free else db.acquire(self.wait))
        except Exception as exc:
            if not free:
                return PRIMARY_BUSY
            self._fault(replica, exc)
            return PRIMARY_FAULT
        if position is None or replica.replay >= position:
            return replica, raw
        try:
            async with asyncio.timeout(self.wait + self.check_every):
                caught_up = await self._wait_for(replica, raw, position)
        except Exception as exc:
            await db.release(raw)
            self._fault(replica, exc)
            return PRIMARY_FAULT
        except BaseException:
            await db.release(raw)
            raise
        if caught_up:
            return replica, raw
        await db.release(raw)
        return PRIMARY_BEHIND

    async def _wait_for(self, replica: Replica, raw: Any, position: int) -> bool:
        """Whether the replica replays up to ``position`` within the wait, asking on the
        connection that will serve the read (replay only moves forward)."""
        deadline = time.monotonic() + self.wait
        pause = 0.0005
        while True:
            replay = await raw.fetchval(_REPLAY)
            if replay is not None:
                self._replayed(replica, replay)
                if replay >= position:
                    return True
            if time.monotonic() + pause > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.01)

    def _fault(self, replica: Replica, exc: BaseException) -> None:
        if replica.up:
            log.warning(
                "replica %s out of rotation until it passes a check: %s",
                replica.name,
                faults.cause(exc),
            )
        replica.up = False
        replica.reason = faults.cause(exc)

    def _replayed(self, replica: Replica, replay: int) -> None:
        """Record a replay position: how far it got, and since when it must be fresh."""
        if replay > replica.replay:
            replica.replay = replay
        for asked, position in reversed(self._samples):
            if position <= replica.replay:
                if asked > replica.fresh_at:
                    replica.fresh_at = asked
                return

    # -- checking health

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="reach-replica-checker")

    async def _run(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a checker bug must not end the checks
                log.exception("checking the replicas failed")
            await asyncio.sleep(self.check_every)

    async def check(self) -> None:
        """Sample the primary's position, then check every replica; each step bounded."""
        asked = time.monotonic()
        try:
            async with asyncio.timeout(self.check_every):
                conn = await self.primary.acquire(self.check_every)
                try:
                    position = await conn.fetchval(PRIMARY_POSITION)
                finally:
                    await self.primary.release(conn)
            self._samples.append((asked, as_replayed(int(position))))
        except Exception as exc:
            # Without new samples no replica gets fresher: reads fall back to the primary
            # (or, with it down too, fail as they would without replicas).
            log.debug("sampling the primary's WAL position failed: %s", faults.cause(exc))
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def _check(self, replica: Replica) -> None:
        try:
            async with asyncio.timeout(self.check_every):
                row = await replica.probe.fetchrow(_CHECK)
        except Exception as exc:
            self._fault(replica, exc)
            return
        if not row["standby"]:
            if replica.up or replica.reason != "not a standby":
                log.warning("replica %s is not a standby (promoted?): not used", replica.name)
            replica.up = False
            replica.reason = "not a standby"
            return
        if row["replay"] is not None:
            self._replayed(replica, int(row["replay"]))
        if not replica.up:
            log.info("replica %s in rotation", replica.name)
        replica.up = True
        replica.reason = ""

    def states(self) -> list[ReplicaState]:
        now = time.monotonic()
        latest = self._samples[-1][1] if self._samples else None
        found: list[ReplicaState] = []
        for r in self.replicas:
            lag = None if r.fresh_at == float("-inf") else round(max(0.0, now - r.fresh_at), 3)
            behind = None if latest is None or not r.replay else max(0, latest - r.replay)
            found.append(ReplicaState(r.name, r.up, lag, behind, r.reason))
        return found

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        for replica in self.replicas:
            replica.probe.discard()
            await replica.db.close()
