"""``GET /metrics``: Prometheus text from the official client — requests by route template and
status, the batch queue, the database pool — and one set of numbers across ``--workers N``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.batch_helpers import customer, wait_for_batch
from tests.harness import Harness, PartnerKey, ServerThread, free_port

RECORD_ROUTE = "/api/resources/{schema}/{externalId:path}"


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = httpx.get(f"{base_url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def requests_seen(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], **labels: str
) -> float:
    key = ("reach_http_request_duration_seconds_count", frozenset(labels.items()))
    return samples.get(key, 0.0)


def test_requests_are_counted_by_route_template_method_and_status(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    missing = {"method": "GET", "route": RECORD_ROUTE, "status": "404"}
    before = scrape(api.base_url)
    for n in range(3):
        assert (
            api.client.get(f"/api/resources/customers/nobody-{n}", headers=headers).status_code
            == 404
        )
    api.client.get("/no/such/route")
    after = scrape(api.base_url)
    assert requests_seen(after, **missing) - requests_seen(before, **missing) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert requests_seen(after, **unmatched) - requests_seen(before, **unmatched) == 1
    body = httpx.get(f"{api.base_url}/metrics").text
    assert "nobody-0" not in body  # concrete paths (external ids) never become labels
    bucket = (
        "reach_http_request_duration_seconds_bucket",
        frozenset({**missing, "le": "+Inf"}.items()),
    )
    assert after[bucket] == requests_seen(after, **missing)


def test_methods_outside_http_are_folded_into_one_label(api: Harness) -> None:
    api.client.request("BREW", "/healthz")
    samples = scrape(api.base_url)
    methods = {
        dict(labels).get("method") for name, labels in samples if name.startswith("reach_http")
    }
    assert "BREW" not in methods
    assert "other" in methods


def test_the_batch_queue_shows_unfinished_batches_and_their_age(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    waiting_for = f"c-{uuid.uuid4().hex[:8]}"
    transaction = {
        "transactionId": "t-1",
        "customerId": waiting_for,
        "transactionDate": "2026-02-01T10:00:00Z",
        "transactionTotal": 10,
    }
    accepted = api.client.post(
        "/api/resources/transactions/batch?dependencyWaitTimeout=300",
        json={"resources": [transaction]},
        headers=headers,
    )
    assert accepted.status_code == 202, accepted.text
    batch_id = accepted.json()["data"]["batchId"]
    # It waits for a customer that does not exist yet: unfinished until that customer is written.
    wait_for_batch(api, headers, batch_id, until=("processing",))
    samples = scrape(api.base_url)
    unfinished = sum(
        value for (name, _), value in samples.items() if name == "reach_batch_queue_batches"
    )
    assert unfinished >= 1
    assert samples[("reach_batch_oldest_pending_age_seconds", frozenset())] >= 0
    assert ("reach_batch_queue_records", frozenset()) in samples

    api.client.post(
        "/api/resources/customers", json={"data": customer(waiting_for)}, headers=headers
    )
    assert wait_for_batch(api, headers, batch_id)["status"] == "success"


def test_database_connections_are_reported_for_the_engine(api: Harness) -> None:
    samples = scrape(api.base_url)
    limit = samples[("reach_db_connections_max", frozenset())]
    in_use = samples[("reach_db_connections", frozenset({("state", "in_use")}))]
    idle = samples[("reach_db_connections", frozenset({("state", "idle")}))]
    if api.engine == "sqlite":
        assert (limit, in_use + idle) == (1, 1)
        assert ("reach_db_lock_waiters", frozenset()) in samples
    else:
        assert limit == api.settings.db_pool_size
        assert 1 <= in_use + idle <= limit


def test_openmetrics_is_served_to_scrapers_that_ask_for_it(api: Harness) -> None:
    response = api.client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


def test_metrics_can_be_turned_off(api: Harness) -> None:
    settings = msgspec.structs.replace(
        api.settings, port=free_port(), metrics=False, batch_worker=False
    )
    server = ServerThread(settings)
    server.start()
    try:
        response = httpx.get(f"http://127.0.0.1:{settings.port}/metrics")
    finally:
        server.stop()
    assert response.status_code == 404
    assert response.json()["success"] is False


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[str]:
    """``reach serve --workers 2`` on a fresh SQLite file, as an operator starts it."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REACH_", "PROMETHEUS_"))}
    env |= {
        "REACH_DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
        "REACH_DEMO_ON_FIRST_RUN": "0",
        "REACH_ACCESS_LOG": "false",
    }
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "reach serve exited early"
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "reach serve never became ready"
            time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # our own process group only
            process.wait(timeout=10)


def test_several_workers_report_one_sum(two_workers: str) -> None:
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    before = requests_seen(scrape(two_workers), **healthz)
    for _ in range(40):  # a new connection each: granian spreads them over both workers
        assert httpx.get(f"{two_workers}/healthz").status_code == 200
    # Whichever worker answers the scrape, it reports both workers' requests.
    for _ in range(4):
        assert requests_seen(scrape(two_workers), **healthz) - before == 40
