"""Fixtures: every test that takes ``api`` runs once per engine (SQLite, and PostgreSQL when
``REACH_TEST_DATABASE_URL`` is set), against the real app served over real HTTP."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from reach.storage import migrate
from tests.harness import (
    Harness,
    PartnerKey,
    reset_postgres,
    served,
)

PG_URL = os.environ.get("REACH_TEST_DATABASE_URL")
ENGINES = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


def database_url_for(engine: str, tmp_dir: Path) -> str:
    if engine == "postgresql":
        assert PG_URL is not None
        asyncio.run(reset_postgres(PG_URL))
        return PG_URL
    return f"sqlite:///{tmp_dir / 'reach-test.db'}"


@pytest.fixture(scope="session", params=ENGINES)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Harness]:
    engine: str = request.param
    url = database_url_for(engine, tmp_path_factory.mktemp(engine))
    # Webhook receivers in tests listen on loopback; retries come quickly.
    with served(
        engine,
        url,
        batch_poll_seconds=0.05,
        webhook_allow_private=True,
        webhook_retry_first_seconds=0.3,
    ) as harness:
        yield harness


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to head once per test process, for tests to copy: migrating
    costs ~0.2 s of CPU and ~0.5 s of fsyncs, a copy about a millisecond. Copy it, never open
    it in place (the next test would find what this one wrote)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_at_head(tmp_path: Path, migrated_sqlite: Path) -> str:
    """The URL of an SQLite file of the test's own, already at head (a copy of the template);
    ``served()`` and the CLI find nothing left to migrate in it."""
    path = tmp_path / "at-head.db"
    shutil.copy(migrated_sqlite, path)  # the mode (0600) too
    return f"sqlite:///{path}"


@pytest.fixture(params=ENGINES)
def fresh(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """``api`` on a database of the test's own, for what a shared one would blur: what is
    left after pruning, or whichever rows are oldest."""
    engine: str = request.param
    if engine == "postgresql":
        database: str = request.getfixturevalue("scratch_postgres")
    else:
        database = request.getfixturevalue("sqlite_at_head")
    with served(engine, database, batch_poll_seconds=0.05) as harness:
        yield harness


@pytest.fixture
def partner(api: Harness) -> PartnerKey:
    return api.new_partner()


@pytest.fixture
def tenant(api: Harness, partner: PartnerKey) -> str:
    return api.new_tenant(partner)


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A PostgreSQL database of the test's own, created for it and dropped after it (next to
    the suite's database); skips when the suite runs without PostgreSQL."""
    if not PG_URL:
        pytest.skip("REACH_TEST_DATABASE_URL is not set")
    name = f"reach_scratch_{uuid.uuid4().hex[:12]}"
    base, _, _ = PG_URL.rpartition("/")

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- the inner loop: `make test-fast` deselects what is marked slow; `make test` runs it all.
# Whole modules, each for its reason (real processes, generators, fuzzers, big property runs).
SLOW_MODULES = {
    "test_two_nodes": "two `reach serve` processes on one PostgreSQL",
    "test_container": "builds and runs the container image",
    "test_contract_schemathesis": "schemathesis over every route",
    "test_fuzz_openapi": "fuzzes every route from /openapi.json",
    "test_generated_client": "generates a client from /openapi.json and drives it",
    "test_crash_safety": "kills server processes mid-write",
    "test_cli_serve": "`reach serve` as real processes",
    "test_cli_operator": "the CLI as real processes against a server",
    "test_slow_clients": "servers held up by slow clients, on timers",
    "test_logs_every_line": "servers as processes, reading their logs",
    "test_make": "runs make in a copy of the repository",
    "test_readme": "runs the README's commands",
    "test_import_export": "`reach import` / `reach export` as real processes",
    "test_batches_worker": "kills and restarts worker processes",
    "test_webhook_crash": "kills server processes mid-delivery and restarts them",
    "test_replicas": "a PostgreSQL primary and hot standby of its own (initdb, pg_basebackup)",
    "test_merge_properties": "a large hypothesis run",
    "test_write_rule_properties": "a large hypothesis run",
    "test_segments_property": "a large hypothesis run",
    "test_resources_patch_customer_property": "a large hypothesis run",
}
# Single tests in otherwise quick modules.
SLOW_TESTS = {
    # `reach serve --workers 2` as a process
    "test_metrics.py::test_several_workers_report_one_sum",
    # worker processes, outages and locks on timers
    "test_faults.py::test_a_batch_chunk_held_up_by_a_lock_is_retried_whole_and_no_item_fails",
    "test_faults.py::test_a_batch_whose_tenant_is_deleted_while_it_runs_writes_nothing_more_into_it",
    "test_faults.py::test_writes_and_batches_survive_a_database_outage_under_load",
    # a server process compiling huge schemas
    "test_schema_ssrf.py::test_schema_size_depth_and_node_count_are_capped",
    # the CLI as a process (test_cli.py keeps one such smoke test in the fast loop)
    "test_schema_deletion.py::test_a_partner_created_without_default_schemas_can_create_reachs_example",
    "test_cli.py::test_duplicate_tenant_fails_with_message_on_stderr",
    "test_cli.py::test_unsupported_database_url_fails_cleanly",
    "test_cli.py::test_unusable_database_fails_with_a_message_not_a_traceback",
    # `reach import` as a process
    "test_import_guards.py::test_an_unknown_column_stops_the_import_before_anything_is_sent",
    "test_import_guards.py::test_a_row_cut_short_is_a_reject_not_a_partial_update",
    "test_import_guards.py::test_a_schema_open_to_extra_fields_takes_any_column",
    # server processes started and stopped
    "test_schema_ssrf.py::test_the_server_still_stops_promptly_after_building_a_partner_document",
    "test_schema_ssrf.py::test_a_definition_stored_before_the_fix_never_fetches_at_start_up_or_on_writes",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        name = item.originalname if isinstance(item, pytest.Function) else item.name
        if item.path.stem in SLOW_MODULES or f"{item.path.name}::{name}" in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # With slow tests deselected, slow modules are not even imported (schemathesis,
    # hypothesis strategies and generators take seconds to import).
    if config.option.markexpr == "not slow" and collection_path.stem in SLOW_MODULES:
        return True
    return None
