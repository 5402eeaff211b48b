"""Fixtures: every test that takes ``api`` runs once per engine (SQLite, and PostgreSQL when
``REACH_TEST_DATABASE_URL`` is set), against the real app served over real HTTP."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

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
