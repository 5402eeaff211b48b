"""``reach worker`` processes: a worker killed with SIGKILL mid-batch loses nothing and
applies nothing twice — after a restart the batch completes with every item applied once.

These tests run their own server with its in-process worker switched off, on a database of
their own (created and dropped per test), so the only workers are the processes the test
starts and kills.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.batch_helpers import batch_status, customer, wait_for_batch
from tests.conftest import ENGINES
from tests.harness import (
    TEST_SECRET_KEY,
    Harness,
    PartnerKey,
    served,
)

RECORDS = 200
PATCHES_PER_RECORD = 5


@pytest.fixture(params=ENGINES)
def quiet_api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    engine: str = request.param
    if engine == "postgresql":
        url: str = request.getfixturevalue("scratch_postgres")
    else:
        url = f"sqlite:///{tmp_path / 'worker.db'}"
    with served(engine, url, batch_worker=False) as harness:
        yield harness


def start_worker(url: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "REACH_SECRET_KEY": TEST_SECRET_KEY,
        "REACH_BATCH_POLL_SECONDS": "0.05",
        "REACH_LOG_LEVEL": "warning",
    }
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "worker", "--database-url", url, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _stop(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM once the worker says it is running (before that, the signal would simply
    kill a process that has nothing to hand back); its exit code."""
    deadline = time.monotonic() + 30
    while "started" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=30)


def _versions(api: Harness) -> dict[str, int]:
    async def read(conn: Any) -> dict[str, int]:
        rows = await conn.fetch("SELECT external_id, version FROM resources")
        return {row["external_id"]: int(row["version"]) for row in rows}

    return api.transaction(read)


def _item_statuses(api: Harness, batch_id: str) -> dict[str, int]:
    async def read(conn: Any) -> dict[str, int]:
        rows = await conn.fetch(
            "SELECT status, count(*) AS n FROM batch_items WHERE batch_id = $1 GROUP BY status",
            batch_id,
        )
        return {row["status"]: int(row["n"]) for row in rows}

    return api.transaction(read)


def test_a_worker_killed_mid_batch_resumes_after_restart_and_applies_each_item_once(
    quiet_api: Harness, tmp_path: Path
) -> None:
    api = quiet_api
    partner: PartnerKey = api.new_partner()
    tenant = api.new_tenant(partner)
    headers = api.tenant_headers(partner, tenant)
    log = tmp_path / "workers.log"
    # Small chunks and short leases: many commits to be killed between, a quick resume.
    options = ("--chunk-size", "4", "--lease-seconds", "2")

    first = start_worker(api.database_url, log, *options)
    try:
        created = api.client.post(
            "/api/resources/customers/batch",
            json={"resources": [customer(f"c-{i}") for i in range(RECORDS)]},
            headers=headers,
        )
        assert created.status_code == 202, created.text
        wait_for_batch(api, headers, created.json()["data"]["batchId"], deadline_seconds=60)
        # Each record gets five patches, spread through the batch in order: phone 1..5.
        items = [
            {"customerId": f"c-{j % RECORDS}", "phone": str(j // RECORDS + 1)}
            for j in range(RECORDS * PATCHES_PER_RECORD)
        ]
        accepted = api.client.patch(
            "/api/resources/customers/batch", json={"resources": items}, headers=headers
        )
        assert accepted.status_code == 202, accepted.text
        batch_id = accepted.json()["data"]["batchId"]
        deadline = time.monotonic() + 60
        while batch_status(api, headers, batch_id)["progress"]["processedRecords"] < 50:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.002)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)

    killed = batch_status(api, headers, batch_id)
    assert killed["status"] == "processing"
    assert 0 < killed["progress"]["processedRecords"] < len(items), "finished before the kill"
    time.sleep(0.3)
    assert batch_status(api, headers, batch_id)["progress"] == killed["progress"]

    # More batches queue up meanwhile, so the two workers below compete for claims.
    others = []
    for k in range(3):
        more = api.client.post(
            "/api/resources/customers/batch",
            json={"resources": [customer(f"n-{k}-{i}") for i in range(100)]},
            headers=headers,
        )
        assert more.status_code == 202, more.text
        others.append(more.json()["data"]["batchId"])

    # Two workers take over once the dead one's lease expires; they must not double-apply.
    logs = [tmp_path / f"worker-{n}.log" for n in range(2)]
    restarted = [start_worker(api.database_url, path, *options) for path in logs]
    try:
        done = wait_for_batch(api, headers, batch_id, deadline_seconds=120)
        for other in others:
            assert wait_for_batch(api, headers, other, deadline_seconds=120)["status"] == "success"
    finally:
        codes = [_stop(process, path) for process, path in zip(restarted, logs, strict=True)]
    assert codes == [0, 0], [path.read_text() for path in logs]
    assert done["status"] == "success", done["errors"]
    assert done["progress"]["processedRecords"] == len(items)
    assert done["progress"]["successfulRecords"] == len(items)
    assert _item_statuses(api, batch_id) == {"succeeded": len(items)}
    # Created once (version 1), then exactly five changes each.
    expected = {f"c-{i}": 1 + PATCHES_PER_RECORD for i in range(RECORDS)}
    expected.update({f"n-{k}-{i}": 1 for k in range(3) for i in range(100)})
    assert _versions(api) == expected
    listed = api.client.get("/api/resources/customers?limit=1000", headers=headers).json()
    phones = {
        r["data"]["phone"]
        for r in listed["data"]["results"]
        if r["resourceExternalId"].startswith("c-")
    }
    assert phones == {str(PATCHES_PER_RECORD)}
