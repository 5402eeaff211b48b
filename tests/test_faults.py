"""Database faults never fail data and never surface as 500.

Every test runs on a database of its own (a scratch PostgreSQL database, or a SQLite file), so
faults can be caused for real without touching the suite's shared server: on PostgreSQL the
database is blocked and its connections cut (``ALLOW_CONNECTIONS false`` +
``pg_terminate_backend``; the shared cluster is never restarted) or a row is locked from
another session; on SQLite another connection holds the write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from reach import clock
from reach.storage import faults
from reach.storage.database import Database, open_database
from reach.storage.sqlite_files import sqlite_path
from tests.batch_helpers import batch_status, customer, wait_for_batch
from tests.conftest import ENGINES, PG_URL
from tests.harness import TEST_SECRET_KEY, Harness, served


@pytest.fixture(params=ENGINES)
def fresh(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(engine, url) of an empty database of the test's own (SQLite's already at head)."""
    engine: str = request.param
    if engine == "postgresql":
        return engine, request.getfixturevalue("scratch_postgres")
    return engine, request.getfixturevalue("sqlite_at_head")


# -- causing faults -------------------------------------------------------------------------


def _admin(statements: list[tuple[str, tuple[Any, ...]]], url: str | None = None) -> list[Any]:
    async def run() -> list[Any]:
        conn = await asyncpg.connect(url or PG_URL)
        try:
            return [await conn.fetchval(sql, *args) for sql, args in statements]
        finally:
            await conn.close()

    return asyncio.run(run())


class Outage:
    """PostgreSQL: no connection may be opened and every open one is cut. SQLite: another
    connection holds the write lock. Both until :meth:`end`."""

    def __init__(self, engine: str, url: str) -> None:
        self.engine = engine
        self.url = url
        self.name = url.rpartition("/")[2]
        self._holder: sqlite3.Connection | None = None

    def begin(self) -> None:
        if self.engine == "postgresql":
            _admin(
                [
                    (f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false', ()),
                    (
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = $1 AND pid <> pg_backend_pid()",
                        (self.name,),
                    ),
                ]
            )
        else:
            # Grab the write lock the moment it is free (between two of the worker's chunks),
            # rather than after SQLite's busy handler has slept past a whole batch.
            self._holder = sqlite3.connect(sqlite_path(self.url), isolation_level=None, timeout=0)
            deadline = time.monotonic() + 30
            while True:
                try:
                    self._holder.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError:
                    assert time.monotonic() < deadline, "the write lock never came free"

    def end(self) -> None:
        if self.engine == "postgresql":
            _admin([(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true', ())])
        elif self._holder is not None:
            self._holder.execute("ROLLBACK")
            self._holder.close()
            self._holder = None


@contextmanager
def outage(engine: str, url: str) -> Iterator[Outage]:
    cut = Outage(engine, url)
    cut.begin()
    try:
        yield cut
    finally:
        cut.end()


@contextmanager
def held(engine: str, url: str, sql: str, *args: Any) -> Iterator[None]:
    """Run ``sql`` in a transaction of another session and keep it open (its locks held)
    until the block ends; then commit it."""
    if engine == "sqlite":
        conn = sqlite3.connect(sqlite_path(url), isolation_level=None, timeout=30)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql.replace("$", "?"), args)
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    loop = asyncio.new_event_loop()
    pg = loop.run_until_complete(asyncpg.connect(url))
    try:
        loop.run_until_complete(pg.execute("BEGIN"))
        loop.run_until_complete(pg.execute(sql, *args))
        yield
        loop.run_until_complete(pg.execute("COMMIT"))
    finally:
        loop.run_until_complete(pg.close())
        loop.close()


class Records(logging.Handler):
    """The ``reach`` loggers' records (they do not propagate to pytest's capture)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.exc_info or r.levelno >= logging.ERROR]


@contextmanager
def reach_log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("reach")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def start_worker(url: str, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        "REACH_SECRET_KEY": TEST_SECRET_KEY,
        "REACH_BATCH_POLL_SECONDS": "0.05",
        "REACH_LOG_LEVEL": "warning",
        **env,
    }
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "worker", "--database-url", url, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
        )


def wait_started(process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while "started" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()


def _until_connections_in_use(api: Harness, count: int) -> None:
    pattern = re.compile(r'^reach_db_connections\{state="in_use"\} ([0-9.]+)$', re.M)
    deadline = time.monotonic() + 30
    while True:
        found = pattern.search(api.client.get("/metrics").text)
        if found and float(found.group(1)) >= count:
            return
        assert time.monotonic() < deadline, "the writers never held every connection"
        time.sleep(0.05)


def unavailable(response: httpx.Response) -> None:
    """A 503 as the contract wants it: the Reach envelope, and when to come back."""
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    body = response.json()
    assert body["success"] is False, body
    assert body["message"], body


# -- item 3: a transaction's end never hides its error ------------------------------------


def test_a_failing_rollback_never_replaces_the_error_that_ended_the_transaction(
    fresh: tuple[str, str],
) -> None:
    engine, url = fresh

    async def end_with_an_error(db: Database) -> None:
        async with db.transaction(write=True) as conn:
            if engine == "postgresql":
                pid = await conn.fetchval("SELECT pg_backend_pid()")
                await asyncio.to_thread(_admin, [("SELECT pg_terminate_backend($1)", (pid,))], url)
                await asyncio.sleep(0.2)  # the connection's end reaches the client
            else:
                await conn.fetchval("SELECT 1")
                # Ended beneath the block, as SQLite does itself after some I/O and disk-full
                # errors: the ROLLBACK at exit then fails.
                await conn.execute("ROLLBACK")
            raise LookupError("the error that ended it")

    async def run() -> None:
        db = await open_database(url, pool_size=1)
        try:
            with pytest.raises(LookupError, match="the error that ended it"):
                await end_with_an_error(db)
            # And the database is usable again: a broken connection was not kept.
            async with db.transaction(write=False) as conn:
                assert await conn.fetchval("SELECT 1") == 1
        finally:
            await db.close()

    asyncio.run(run())


# -- item 3: an outage answers 503 with Retry-After, and logs one line without a traceback --


def test_requests_during_an_outage_get_503_with_retry_after_and_one_warning(
    fresh: tuple[str, str],
) -> None:
    engine, url = fresh
    with (
        reach_log() as log,
        served(
            engine,
            url,
            batch_worker=False,
            db_acquire_timeout_seconds=0.5,
            db_lock_timeout_seconds=0.5,
        ) as api,
    ):
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        headers = api.tenant_headers(partner, tenant)
        made = api.client.post(
            "/api/resources/customers", json={"data": customer("c-1")}, headers=headers
        )
        assert made.status_code == 200, made.text
        with outage(engine, url):
            answers = [
                api.client.patch(
                    "/api/resources/customers/c-1",
                    json={"data": {"phone": "1"}},
                    headers=headers,
                ),
                api.client.post(
                    "/api/resources/customers", json={"data": customer("c-2")}, headers=headers
                ),
                api.client.patch(
                    "/api/resources/customers/c-1",
                    json={"data": {"phone": "2"}},
                    headers=headers,
                ),
            ]
            if engine == "postgresql":  # reads need no lock on SQLite
                answers.append(api.client.get("/api/resources/customers/c-1", headers=headers))
            for answer in answers:
                unavailable(answer)
        after = api.client.patch(
            "/api/resources/customers/c-1", json={"data": {"phone": "3"}}, headers=headers
        )
        assert after.status_code == 200, after.text
    assert log.tracebacks() == []
    warnings = [r.getMessage() for r in log.records if r.levelno == logging.WARNING]
    named = [w for w in warnings if w.startswith("database unavailable on ")]
    assert any(w.startswith("database unavailable on PATCH") for w in named), warnings
    # The cause is named: the driver's error (e.g. "OperationalError: database is locked").
    assert all("Error: " in w for w in named), named


# -- item 4: bounded waits for a connection; /readyz within a second ----------------------


def test_a_request_that_cannot_get_a_connection_gets_503_promptly_and_readyz_says_not_ready(
    fresh: tuple[str, str],
) -> None:
    engine, url = fresh
    pg = engine == "postgresql"
    with served(
        engine,
        url,
        batch_worker=False,
        db_pool_size=2,
        db_acquire_timeout_seconds=0.5,
        # The writers below wait for the lock as long as it is held, longer than any client
        # here waits (30 s): an answer while it is held comes from a bounded wait of its own.
        db_lock_timeout_seconds=600,
    ) as api:
        partner = api.new_partner()
        busy, other = api.new_tenant(partner), api.new_tenant(partner)
        for tenant in (busy, other):
            made = api.client.post(
                "/api/resources/customers",
                json={"data": customer("c-1")},
                headers=api.tenant_headers(partner, tenant),
            )
            assert made.status_code == 200, made.text
        lock = (
            "UPDATE resources SET version = version "
            "WHERE tenant_id = (SELECT id FROM tenants WHERE external_id = $1)"
        )
        results: list[int] = []

        def patch() -> None:
            with httpx.Client(base_url=api.base_url, timeout=60) as client:
                response = client.patch(
                    "/api/resources/customers/c-1",
                    json={"data": {"phone": "5"}},
                    headers=api.tenant_headers(partner, busy),
                )
                results.append(response.status_code)

        with held(engine, url, lock, busy):
            # Writers stuck behind the lock hold every connection (SQLite: its only one).
            writers = [threading.Thread(target=patch) for _ in range(2 if pg else 1)]
            for writer in writers:
                writer.start()
            # Not a fixed sleep: on a busy machine the writers may take a while to get there.
            # The pool gauge says when they hold every connection.
            _until_connections_in_use(api, len(writers))
            # Both answer while the lock is still held — from the acquire timeout and the
            # probe's own bound, not from the holder letting go (order of events, not timing:
            # how fast they answer under load is a benchmark's question).
            starved = api.client.get(
                "/api/resources/customers/c-1", headers=api.tenant_headers(partner, other)
            )
            ready = api.client.get("/readyz")
            time.sleep(0.5)
        for writer in writers:
            writer.join(timeout=60)
        unavailable(starved)
        unavailable(ready)
        assert results == [200] * len(writers)
        assert api.client.get("/readyz").status_code == 200


# -- item 1 and 2: a batch chunk held up by the database is retried whole ----------------


def test_a_batch_chunk_held_up_by_a_lock_is_retried_whole_and_no_item_fails(
    fresh: tuple[str, str], tmp_path: Path
) -> None:
    engine, url = fresh
    if engine == "postgresql":
        # As an operator would set it: the old worker saw the same lock timeouts.
        _admin([(f'ALTER DATABASE "{url.rpartition("/")[2]}" SET lock_timeout = 200', ())])
    with served(engine, url, batch_worker=False) as api:
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        headers = api.tenant_headers(partner, tenant)
        for i in range(100):
            made = api.client.post(
                "/api/resources/customers", json={"data": customer(f"c-{i}")}, headers=headers
            )
            assert made.status_code == 200, made.text
        accepted = api.client.patch(
            "/api/resources/customers/batch",
            json={"resources": [{"customerId": f"c-{i}", "phone": "2"} for i in range(100)]},
            headers=headers,
        )
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["data"]["batchId"]
        log = tmp_path / "worker.log"
        # PostgreSQL: one record of the fourth chunk is locked; SQLite: the whole database.
        lock = "UPDATE resources SET version = version WHERE external_id = $1"
        with held(engine, url, lock, "c-60"):
            worker = start_worker(
                url, log, "--chunk-size", "20", REACH_DB_LOCK_TIMEOUT_SECONDS="0.2"
            )
            wait_started(worker, log)
            time.sleep(4)  # time enough for the old worker to narrow down to c-60 and fail it
            assert batch_status(api, headers, batch_id)["status"] != "success"
        released = time.monotonic()
        try:
            done = wait_for_batch(api, headers, batch_id, deadline_seconds=60)
            resumed_in = time.monotonic() - released
        finally:
            stop(worker, log)
        text = log.read_text()
        record = api.client.get("/api/resources/customers/c-60", headers=headers).json()
    assert done["status"] == "success", done
    assert done["progress"]["failedRecords"] == 0
    assert done["progress"]["successfulRecords"] == 100
    assert record["data"]["result"]["data"]["phone"] == "2"
    # Resumed as soon as the database let it, not once a 30 s lease ran out.
    assert resumed_in < 10, resumed_in
    if engine == "postgresql":  # on SQLite the lock keeps it from even claiming the batch
        assert "retrying the same chunk" in text, text
    assert "Traceback" not in text, text


# -- issue 11: a batch stops writing once its tenant is deleted ----------------------------


def test_a_batch_whose_tenant_is_deleted_while_it_runs_writes_nothing_more_into_it(
    fresh: tuple[str, str], tmp_path: Path
) -> None:
    engine, url = fresh
    with served(engine, url, batch_worker=False) as api:
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        headers = api.tenant_headers(partner, tenant)
        accepted = api.client.post(
            "/api/resources/customers/batch",
            json={"resources": [customer(f"c-{i}") for i in range(200)]},
            headers=headers,
        )
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["data"]["batchId"]
        log = tmp_path / "worker.log"
        now = datetime.now(UTC)
        at: Any = now if engine == "postgresql" else clock.format_timestamp(now)
        # The soft delete is under way (not yet committed) when the worker takes the batch.
        delete = "UPDATE tenants SET deleted_at = $1, updated_at = $1 WHERE external_id = $2"
        with held(engine, url, delete, at, tenant):
            worker = start_worker(url, log, "--chunk-size", "50")
            wait_started(worker, log)
            time.sleep(1.5)  # the old worker wrote all 200 records meanwhile
        try:
            deadline = time.monotonic() + 30
            while (batch := _batch_row(api, batch_id))["status"] not in ("failed", "success"):
                assert time.monotonic() < deadline, batch
                time.sleep(0.05)
        finally:
            stop(worker, log)
        written = _count(api, "SELECT count(*) FROM resources WHERE tenant_id = $1", batch)
        reasons = _count(
            api,
            "SELECT count(*) FROM batch_items "
            "WHERE batch_id = $1 AND reason = 'tenant_unavailable'",
            batch,
            column="id",
        )
    assert written == 0
    assert batch["status"] == "failed", batch
    assert int(batch["failed_records"]) == 200
    assert reasons == 200


def _batch_row(api: Harness, batch_id: str) -> dict[str, Any]:
    async def read(conn: Any) -> dict[str, Any]:
        row = await conn.fetchrow(
            "SELECT id, tenant_id, status, failed_records FROM batches WHERE id = $1", batch_id
        )
        return {k: row[k] for k in ("id", "tenant_id", "status", "failed_records")}

    return api.transaction(read)


def _count(api: Harness, sql: str, batch: dict[str, Any], *, column: str = "tenant_id") -> int:
    async def read(conn: Any) -> int:
        return int(await conn.fetchval(sql, batch[column]))

    return api.transaction(read)


# -- the fault test: an outage under write load and batch processing ---------------------

WRITERS = 3
RECORDS_PER_WRITER = 5
OUTAGE_SECONDS = 5.0  # as in the issue
BIG_BATCHES = 3  # of 1,000 items: still being applied when the outage begins
SMALL_BATCH = 200


class Load:
    """What the clients saw: every status, what was acknowledged, what was sent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: dict[int, int] = {}
        self.wrong: list[str] = []  # anything but a 200/202 or a well-formed 503
        self.transport_errors = 0
        self.sent: dict[str, list[str]] = {}  # record → every phone value sent to it, in order
        self.acked: dict[str, str] = {}  # record → last phone value answered 200
        self.created: dict[str, str] = {}  # created (200) → its phone value
        self.batches: list[str] = []
        self.ok_at: list[float] = []  # when writes were answered 200

    def judge(self, response: httpx.Response, expected: int = 200) -> bool:
        with self.lock:
            self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
            if response.status_code == expected:
                self.ok_at.append(time.monotonic())
                return True
        if response.status_code == 503:
            try:
                unavailable(response)
            except (AssertionError, KeyError, ValueError) as exc:
                self.wrong.append(f"503 without Retry-After or envelope: {exc!r}")
            time.sleep(0.05)  # as a client honouring Retry-After would, roughly
        else:
            self.wrong.append(f"{response.status_code}: {response.text[:300]}")
        return False


def _writer(
    base_url: str, headers: dict[str, str], w: int, load: Load, done: threading.Event
) -> None:
    keys = [f"r-{w}-{i}" for i in range(RECORDS_PER_WRITER)]
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        n = 0
        while not done.is_set():
            n += 1
            value = uuid.uuid4().hex[:12]
            try:
                if n % 4 == 0:
                    key = f"n-{w}-{n}"
                    answer = client.post(
                        "/api/resources/customers", json={"data": customer(key, phone=value)}
                    )
                    if load.judge(answer):
                        load.created[key] = value
                    continue
                key = keys[n % len(keys)]
                load.sent[key].append(value)
                answer = client.patch(
                    f"/api/resources/customers/{key}", json={"data": {"phone": value}}
                )
                if load.judge(answer):
                    load.acked[key] = value
            except httpx.TransportError:
                with load.lock:
                    load.transport_errors += 1


def _batches(base_url: str, headers: dict[str, str], load: Load, done: threading.Event) -> None:
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
        k = 0
        while not done.wait(0.4):
            k += 1
            body = {"resources": [customer(f"b-{k}-{i}") for i in range(SMALL_BATCH)]}
            try:
                answer = client.post("/api/resources/customers/batch", json=body)
            except httpx.TransportError:
                with load.lock:
                    load.transport_errors += 1
                continue
            if load.judge(answer, expected=202):
                load.batches.append(answer.json()["data"]["batchId"])


def _seconds_after(moment: datetime, stamp: str) -> float:
    return (datetime.fromisoformat(stamp.replace("Z", "+00:00")) - moment).total_seconds()


def test_writes_and_batches_survive_a_database_outage_under_load(
    fresh: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, url = fresh
    timeouts = {"db_acquire_timeout_seconds": 0.5, "db_lock_timeout_seconds": 1.0}
    worker_log = tmp_path / "worker.log"
    with (
        reach_log() as log,
        served(engine, url, batch_worker=False, **timeouts) as api,
    ):
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        headers = api.tenant_headers(partner, tenant)
        load = Load()
        for w in range(WRITERS):
            for i in range(RECORDS_PER_WRITER):
                key = f"r-{w}-{i}"
                made = api.client.post(
                    "/api/resources/customers",
                    json={"data": customer(key, phone="0")},
                    headers=headers,
                )
                assert made.status_code == 200, made.text
                load.sent[key], load.acked[key] = ["0"], "0"
        done = threading.Event()
        threads = [
            threading.Thread(target=_writer, args=(api.base_url, headers, w, load, done))
            for w in range(WRITERS)
        ]
        threads.append(threading.Thread(target=_batches, args=(api.base_url, headers, load, done)))
        for thread in threads:
            thread.start()
        try:
            big: list[str] = []
            for k in range(BIG_BATCHES):
                made = api.client.post(
                    "/api/resources/customers/batch",
                    json={"resources": [customer(f"big-{k}-{i}") for i in range(1000)]},
                    headers=headers,
                )
                assert made.status_code == 202, made.text
                big.append(made.json()["data"]["batchId"])
            load.batches.extend(big)
            # A real `reach worker`, with small chunks. On PostgreSQL the outage cuts it off
            # mid-batch. On SQLite it starts inside the outage: its chunks leave no gap another
            # process could take the write lock in, so there the lock comes first.
            cut = Outage(engine, url)
            if engine == "sqlite":
                cut.begin()
            worker = start_worker(
                url,
                worker_log,
                "--chunk-size",
                "100",
                **{f"REACH_{k.upper()}": str(v) for k, v in timeouts.items()},
            )
            wait_started(worker, worker_log)
            if engine == "postgresql":
                deadline = time.monotonic() + 60
                while batch_status(api, headers, big[0])["progress"]["processedRecords"] == 0:
                    assert time.monotonic() < deadline, worker_log.read_text()
                    time.sleep(0.01)
                cut.begin()
            cut_stamp = clock.format_timestamp(datetime.now(UTC))
            cut_at = time.monotonic()
            try:
                time.sleep(OUTAGE_SECONDS)
            finally:
                cut.end()
            restored_at = time.monotonic()
            restored = datetime.now(UTC)
            time.sleep(3)  # the load goes on after the outage
        finally:
            done.set()
            for thread in threads:
                thread.join(timeout=60)
        try:
            finished = {
                b: wait_for_batch(api, headers, b, deadline_seconds=60) for b in load.batches
            }
        finally:
            stop(worker, worker_log)
        settled = list(finished.values())
        # When the batches the outage interrupted were done, counted from its end.
        resumed_in = max(_seconds_after(restored, finished[b]["completedAt"]) for b in big)
        stored: dict[str, str | None] = {}
        for key in [*load.acked, *load.created]:
            got = api.client.get(f"/api/resources/customers/{key}", headers=headers)
            stored[key] = got.json()["data"]["result"]["data"]["phone"] if got.is_success else None
    recovered_in = min(t for t in load.ok_at if t >= restored_at) - restored_at
    items = sum(b["progress"]["totalRecords"] for b in settled)
    failed = sum(b["progress"]["failedRecords"] for b in settled)
    figures = {
        "engine": engine,
        "outage_s": round(restored_at - cut_at, 1),
        "requests": sum(load.statuses.values()),
        "statuses": load.statuses,
        "transport_errors": load.transport_errors,
        "batches": len(settled),
        "batch_items": items,
        "batch_items_done_after_cut": sum(
            b["progress"]["totalRecords"] for b in settled if b["completedAt"] > cut_stamp
        ),
        "failed_items": failed,
        "first_200_after_s": round(recovered_in, 2),
        "chunk_retries": worker_log.read_text().count("retrying the same chunk"),
        "interrupted_batches_done_after_s": round(resumed_in, 1),
    }
    with capsys.disabled():
        print(f"\nfault figures: {figures}")
    assert load.wrong == []  # no 500, no other status, every 503 with Retry-After
    assert load.transport_errors == 0
    assert load.statuses.get(503, 0) > 0, "the outage was never seen"
    # The outage caught the worker with work in hand: some batch finished only after it.
    assert max(b["completedAt"] for b in settled) > cut_stamp, "batches done before the outage"
    # 0 batch items failed: every batch complete and successful.
    assert [b["status"] for b in settled] == ["success"] * len(settled), settled
    assert failed == 0
    assert items == 1000 * BIG_BATCHES + SMALL_BATCH * (len(settled) - BIG_BATCHES)
    # 0 acknowledged writes lost: each record holds its last acknowledged value or one sent
    # after it (a write answered 503 may still have committed), each created record exists.
    for key, value in load.acked.items():
        sent = load.sent[key]
        assert stored[key] in sent, (key, stored[key])
        assert sent.index(stored[key]) >= sent.index(value), (key, stored[key], value)
    for key, value in load.created.items():
        assert stored[key] == value, key
    # A surviving worker resumes at once, not when a lease runs out (30 s).
    assert 0 < resumed_in < 15, figures
    assert log.tracebacks() == []
    assert "Traceback" not in worker_log.read_text(), worker_log.read_text()
    assert "Traceback" not in worker_log.read_text()


# -- the classification itself --------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (asyncpg.exceptions.LockNotAvailableError("lock timeout"), True),
        (asyncpg.exceptions.SerializationError("could not serialize"), True),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.CannotConnectNowError("starting up"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"), True),
        (asyncpg.exceptions.DiskFullError("no space left"), True),
        (asyncpg.InterfaceError("connection is closed"), True),
        (asyncpg.InterfaceError("cannot call execute(): released back to the pool"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (ConnectionRefusedError(111, "refused"), True),
        (TimeoutError(), True),
        # The request's or the data's: a 500 (a bug) or a failed batch item, never retried.
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (asyncpg.exceptions.UntranslatableCharacterError("\\u0000"), False),
        (asyncpg.exceptions.UndefinedColumnError("no such column"), False),
        (asyncpg.InterfaceError("another operation is in progress"), False),
        (sqlite3.OperationalError("no such table: resources"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
        (ValueError("bad"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else None,
)
def test_faults_are_told_from_errors_of_the_request_or_its_data(
    error: BaseException, transient: bool
) -> None:
    assert faults.is_transient(error) is transient
