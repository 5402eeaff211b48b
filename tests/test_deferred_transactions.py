"""Deferred ``BEGIN`` and its two opt-outs, on a real database of each engine.

A request's transaction begins at its first ordinary statement. ``fetchrow_standalone`` may
run before that, alone; ``execute_final`` may too, and then nothing may follow it. What the
tests look at is whether the request's connection is in a transaction (PostgreSQL's
``pg_stat_activity``; on SQLite, the engine's state of the connection, and that another
connection is then kept from the write lock) and which writes another connection sees
committed. The last tests race a PATCH against a concurrent write or delete held open at the
exact moment between its read and its compare-and-set.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import orjson
import pytest

from reach.domain.resources import later_than
from reach.storage.database import Connection
from reach.storage.resources import TenantResources
from reach.storage.sqlite import SqliteConnection, sqlite_path
from tests.contract.resources import create_customer, read, url
from tests.harness import Harness, PartnerKey

NAME = "SELECT name FROM partners WHERE id = $1"
RENAME = "UPDATE partners SET name = $2 WHERE id = $1"


class Observer:
    """Another connection to the same database, outside the code under test."""

    def __init__(self, api: Harness) -> None:
        self.api = api
        self.pg: asyncpg.Connection[Any] | None = None
        self.lite: sqlite3.Connection | None = None

    async def open(self) -> None:
        if self.api.engine == "postgresql":
            self.pg = await asyncpg.connect(self.api.database_url)
        else:
            self.lite = sqlite3.connect(sqlite_path(self.api.database_url), isolation_level=None)
            self.lite.execute("PRAGMA busy_timeout = 0")

    async def close(self) -> None:
        if self.pg is not None:
            await self.pg.close()
        if self.lite is not None:
            self.lite.close()

    async def name(self, partner_id: str) -> str:
        if self.pg is not None:
            name: str = await self.pg.fetchval(NAME, partner_id)
            return name
        assert self.lite is not None
        row = self.lite.execute(NAME.replace("$1", "?"), (partner_id,)).fetchone()
        return str(row[0])

    async def in_transaction(self, conn: Connection, backend: int | None) -> bool:
        """Whether ``conn`` (a write transaction) has begun: on PostgreSQL its backend's state;
        on SQLite the engine's own word for its connection (``sqlite3_get_autocommit``), and
        when begun, this connection must be kept from taking the write lock.

        On SQLite a refused lock alone proves nothing: the file has one write lock, and the
        server on the same file (its batch worker, event stamper…) takes it for a moment now
        and then — under load, long enough to be caught ("leaves no trace" failed so)."""
        if self.pg is not None:
            state = await self.pg.fetchval(
                "SELECT state FROM pg_stat_activity WHERE pid = $1", backend
            )
            return state == "idle in transaction"
        assert self.lite is not None
        assert isinstance(conn, SqliteConnection)
        begun = bool(conn._raw.in_transaction)
        if begun:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                self.lite.execute("BEGIN IMMEDIATE")
        return begun

    @asynccontextmanager
    async def holding_write_lock(self, partner_id: str) -> AsyncIterator[None]:
        """A write to the partner row, left uncommitted for the duration of the block."""
        if self.pg is not None:
            async with self.pg.transaction():
                await self.pg.execute(RENAME, partner_id, "held")
                yield
            return
        assert self.lite is not None
        self.lite.execute("BEGIN IMMEDIATE")
        self.lite.execute(RENAME.replace("$1", "?1").replace("$2", "?2"), (partner_id, "held"))
        try:
            yield
        finally:
            self.lite.execute("COMMIT")


def run(api: Harness, test: Callable[[Observer], Any]) -> Any:
    async def with_observer() -> Any:
        observer = Observer(api)
        await observer.open()
        try:
            return await test(observer)
        finally:
            await observer.close()

    return api.loop.run(with_observer())


async def backend_of(api: Harness, conn: Connection) -> int | None:
    if api.engine != "postgresql":
        return None
    row = await conn.fetchrow_standalone("SELECT pg_backend_pid() AS pid")
    assert row is not None
    return int(row["pid"])


def test_standalone_reads_begin_no_transaction_and_an_ordinary_one_does(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(observer: Observer) -> None:
        async with api.db.transaction(write=True) as conn:
            backend = await backend_of(api, conn)
            for _ in range(2):
                row = await conn.fetchrow_standalone(NAME, partner.id)
                assert row is not None
                assert row["name"] == partner.name
                assert not await observer.in_transaction(conn, backend)
            await conn.fetchval(NAME, partner.id)
            assert await observer.in_transaction(conn, backend)
            # Once begun, a standalone read runs inside, as any other.
            assert (await conn.fetchrow_standalone(NAME, partner.id)) is not None
            assert await observer.in_transaction(conn, backend)
        assert not await observer.in_transaction(conn, backend)

    run(api, test)


def test_a_transaction_that_runs_nothing_leaves_no_trace(api: Harness) -> None:
    async def test(observer: Observer) -> None:
        for write in (True, False):
            async with api.db.transaction(write=write):
                pass
        async with api.db.transaction(write=True) as conn:
            assert not await observer.in_transaction(conn, None)

    run(api, test)


def test_a_final_write_before_begin_commits_at_once_and_seals_the_connection(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(observer: Observer) -> None:
        async with api.db.transaction(write=True) as conn:
            backend = await backend_of(api, conn)
            assert await conn.execute_final(RENAME, partner.id, "final") == 1
            # Committed on its own, before the block ends; nothing is left open.
            assert await observer.name(partner.id) == "final"
            assert not await observer.in_transaction(conn, backend)
            with pytest.raises(RuntimeError, match="execute_final"):
                await conn.fetchval(NAME, partner.id)
            with pytest.raises(RuntimeError, match="execute_final"):
                await conn.execute(RENAME, partner.id, "after")
            with pytest.raises(RuntimeError, match="execute_final"):
                await conn.fetchrow_standalone(NAME, partner.id)
            with pytest.raises(RuntimeError, match="execute_final"):
                await conn.execute_final(RENAME, partner.id, "again")
        assert await observer.name(partner.id) == "final"

    run(api, test)


def test_a_final_write_that_changes_nothing_leaves_the_connection_usable(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(observer: Observer) -> None:
        async with api.db.transaction(write=True) as conn:
            missing = "00000000-0000-4000-8000-000000000000"
            assert await conn.execute_final(RENAME, missing, "nobody") == 0
            assert await conn.fetchval(NAME, partner.id) == partner.name
            assert await conn.execute_final(RENAME, partner.id, "second try") == 1
        assert await observer.name(partner.id) == "second try"

    run(api, test)


def test_a_final_write_after_an_ordinary_statement_rolls_back_with_the_block(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(observer: Observer) -> None:
        async def fail_after_the_final_write() -> None:
            async with api.db.transaction(write=True) as conn:
                backend = await backend_of(api, conn)
                await conn.execute(RENAME, partner.id, "ordinary")
                assert await conn.execute_final(RENAME, partner.id, "final") == 1
                # Inside the transaction: not committed yet, still sealed.
                assert await observer.in_transaction(conn, backend)
                assert await observer.name(partner.id) == partner.name
                with pytest.raises(RuntimeError):
                    await conn.fetchval(NAME, partner.id)
                raise LookupError

        with pytest.raises(LookupError):
            await fail_after_the_final_write()
        assert await observer.name(partner.id) == partner.name

        async with api.db.transaction(write=True) as conn:
            await conn.fetchval(NAME, partner.id)
            assert await conn.execute_final(RENAME, partner.id, "committed at exit") == 1
        assert await observer.name(partner.id) == "committed at exit"

    run(api, test)


def test_ordinary_statements_commit_at_exit_and_roll_back_on_error(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(observer: Observer) -> None:
        async def fail_after_a_write() -> None:
            async with api.db.transaction(write=True) as conn:
                await conn.execute(RENAME, partner.id, "rolled back")
                assert await conn.fetchval(NAME, partner.id) == "rolled back"
                raise LookupError

        with pytest.raises(LookupError):
            await fail_after_a_write()
        assert await observer.name(partner.id) == partner.name

        async with api.db.transaction(write=True) as conn:
            await conn.execute(RENAME, partner.id, "kept")
            assert await observer.name(partner.id) == partner.name
        assert await observer.name(partner.id) == "kept"

    run(api, test)


def test_a_final_write_is_refused_in_a_read_transaction(api: Harness, partner: PartnerKey) -> None:
    async def test(observer: Observer) -> None:
        async with api.db.transaction(write=False) as conn:
            with pytest.raises(RuntimeError, match="read transaction"):
                await conn.execute_final(RENAME, partner.id, "read only")
        assert await observer.name(partner.id) == partner.name

    run(api, test)


def test_a_connection_refuses_statements_after_its_transaction_ended(
    api: Harness, partner: PartnerKey
) -> None:
    async def test(_: Observer) -> None:
        async with api.db.transaction(write=True) as conn:
            await conn.fetchval(NAME, partner.id)
        with pytest.raises(RuntimeError, match="ended"):
            await conn.fetchval(NAME, partner.id)
        with pytest.raises(RuntimeError, match="ended"):
            await conn.fetchrow_standalone(NAME, partner.id)
        with pytest.raises(RuntimeError, match="ended"):
            await conn.execute_final(RENAME, partner.id, "late")

    run(api, test)


def test_a_final_write_before_begin_waits_for_another_writer(
    api: Harness, partner: PartnerKey
) -> None:
    # PostgreSQL: the autocommit UPDATE waits on the row lock. SQLite: busy_timeout is 0 on the
    # request connection, so the write must retry without blocking until the lock is free.
    async def test(observer: Observer) -> None:
        async with api.db.transaction(write=True) as conn:
            async with observer.holding_write_lock(partner.id):
                final = asyncio.create_task(conn.execute_final(RENAME, partner.id, "waited"))
                await asyncio.sleep(0.3)  # ordering: the write is now waiting, not done
                assert not final.done()
            assert await final == 1
        assert await observer.name(partner.id) == "waited"

    run(api, test)


# -- compare-and-set PATCH against a write held open between its read and its write


async def _until_the_patch_waits(api: Harness) -> None:
    """Return once the PATCH has read the record and its compare-and-set is waiting for the
    held lock (seen on PostgreSQL; on SQLite it retries the busy lock, which nothing shows)."""
    if api.engine != "postgresql":
        await asyncio.sleep(0.3)
        return
    for _ in range(500):
        async with api.db.transaction(write=False) as conn:
            waiting = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE '%UPDATE resources SET data%'"
            )
        if waiting:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the PATCH never waited on the held row")


def _race_patch(
    api: Harness, headers: dict[str, str], record: dict[str, Any], hold: Callable[..., Any]
) -> httpx.Response:
    """PATCH the record while ``hold(rows, row)`` has changed it in a transaction that commits
    only once the PATCH is past its read."""

    def patch() -> httpx.Response:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            return client.patch(
                url("customers", record["resourceExternalId"]),
                json={"data": {"phone": "+100"}},
                headers=headers,
            )

    async def race() -> httpx.Response:
        async with api.db.transaction(write=True) as conn:
            rows = TenantResources(conn, record["businessId"])
            row = await rows.get(
                record["schemaDefinitionId"], record["resourceExternalId"], for_update=True
            )
            assert row is not None
            await hold(rows, row)
            patched = asyncio.get_running_loop().run_in_executor(None, patch)
            await _until_the_patch_waits(api)
        return await patched

    response: httpx.Response = api.loop.run(race())
    return response


def test_a_patch_that_loses_its_compare_and_set_reads_again_and_keeps_both_changes(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "c-raced", email="old@example.com")

    async def concurrent_write(rows: TenantResources, row: Any) -> None:
        data = orjson.loads(row["data"]) | {"email": "new@example.com"}
        version = int(row["version"])
        stored = orjson.dumps(data).decode()
        assert await rows.update_if_version(
            int(row["seq"]), stored, later_than(row["updated_at"]), version
        )

    response = _race_patch(api, headers, record, concurrent_write)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["result"]["data"]["email"] == "new@example.com"
    stored = read(api, headers, "customers", "c-raced")
    assert stored["data"]["email"] == "new@example.com"
    assert stored["data"]["phone"] == "+100"
    assert stored["updatedAt"] > record["updatedAt"]


def test_a_patch_racing_a_delete_of_its_record_answers_404(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    record = create_customer(api, headers, "c-deleted")

    async def concurrent_delete(rows: TenantResources, row: Any) -> None:
        assert await rows.delete(row["schema_id"], row["external_id"]) is not None

    response = _race_patch(api, headers, record, concurrent_delete)

    assert response.status_code == 404, response.text
    assert api.client.get(url("customers", "c-deleted"), headers=headers).status_code == 404
