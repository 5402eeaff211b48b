"""Structured logs: one JSON access line per request, request ids, levels and the switch."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import orjson
import pytest

from reach.observability.logs import configure_logging
from tests.harness import Harness, PartnerKey, ServerThread, free_port


class Served:
    def __init__(self, api: Harness, **overrides: Any) -> None:
        settings = msgspec.structs.replace(
            api.settings, port=free_port(), batch_worker=False, **overrides
        )
        self.server = ServerThread(settings)
        self.base_url = f"http://127.0.0.1:{settings.port}"


@pytest.fixture
def serve(api: Harness) -> Iterator[Any]:
    started: list[Served] = []

    def start(**overrides: Any) -> Served:
        served = Served(api, **overrides)
        served.server.start()
        started.append(served)
        return served

    yield start
    for served in started:
        served.server.stop()


@pytest.fixture
def logged(serve: Any) -> Iterator[httpx.Client]:
    """A client of a server of its own with the access log on (whatever the shared test
    server's settings are)."""
    served = serve(access_log=True, log_level="info")
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        yield client


def stderr_until(capfd: pytest.CaptureFixture[str], request_id: str) -> str:
    """Everything written to stderr until the access line of ``request_id`` (written just
    after the response is sent, so it may trail the response by a moment), bounded."""
    deadline = time.monotonic() + 5
    seen = ""
    while f'"requestId":"{request_id}"' not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
        seen += capfd.readouterr().err
    return seen


def access_lines(capfd: pytest.CaptureFixture[str], request_id: str) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for line in stderr_until(capfd, request_id).splitlines()
        if line.startswith("{") and f'"requestId":"{request_id}"' in line
    ]


def test_each_request_logs_one_json_line_with_ids_but_no_secrets_or_data(
    api: Harness,
    partner: PartnerKey,
    tenant: str,
    logged: httpx.Client,
    capfd: pytest.CaptureFixture[str],
) -> None:
    request_id = f"req-{uuid.uuid4().hex}"
    headers = {**api.tenant_headers(partner, tenant), "X-Request-Id": request_id}
    body = {"data": {"customerId": "secret-ext-id", "firstName": "Ada", "lastName": "Lovelace"}}
    body["data"]["createdAt"] = "2026-01-01T00:00:00Z"
    response = logged.post("/api/resources/customers", json=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"] == request_id

    [line] = access_lines(capfd, request_id)
    assert line["logger"] == "reach.access"
    assert line["level"] == "info"
    assert line["method"] == "POST"
    assert line["route"] == "/api/resources/{schema}"
    assert line["status"] == 200
    assert line["partnerId"] == partner.id
    tenant_id = api.client.get(
        f"/partner/tenants/{tenant}", headers=api.partner_headers(partner)
    ).json()["data"]["id"]
    assert line["tenantId"] == tenant_id
    assert isinstance(line["durationMs"], float | int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    text = orjson.dumps(line).decode()
    for private in (headers["Authorization"].split()[1], "secret-ext-id", "Lovelace"):
        assert private not in text


def test_record_routes_log_the_template_never_the_external_id(
    api: Harness,
    partner: PartnerKey,
    tenant: str,
    logged: httpx.Client,
    capfd: pytest.CaptureFixture[str],
) -> None:
    request_id = uuid.uuid4().hex
    headers = {**api.tenant_headers(partner, tenant), "X-Request-Id": request_id}
    response = logged.get("/api/resources/customers/jane.doe@example.com", headers=headers)
    assert response.status_code == 404
    [line] = access_lines(capfd, request_id)
    assert line["route"] == "/api/resources/{schema}/{externalId:path}"
    assert line["status"] == 404
    assert "jane.doe" not in orjson.dumps(line).decode()


def test_a_request_id_is_made_when_none_or_an_unusable_one_is_sent(
    logged: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    made = logged.get("/healthz").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    for unusable in ("has spaces in it", "x" * 129, 'quote"d'):
        answered = logged.get("/healthz", headers={"X-Request-Id": unusable})
        returned = answered.headers["x-request-id"]
        assert returned != unusable
        assert re.fullmatch(r"[0-9a-f]{32}", returned)
    assert access_lines(capfd, made)[0]["route"] == "/healthz"


def test_unknown_routes_are_logged_as_unmatched(
    logged: httpx.Client, capfd: pytest.CaptureFixture[str]
) -> None:
    request_id = uuid.uuid4().hex
    response = logged.get("/no/such/thing", headers={"X-Request-Id": request_id})
    assert response.status_code == 404
    [line] = access_lines(capfd, request_id)
    assert (line["route"], line["status"], line["partnerId"]) == ("unmatched", 404, None)


def test_the_access_log_can_be_switched_off(serve: Any, capfd: pytest.CaptureFixture[str]) -> None:
    off = serve(access_log=False)
    on = serve(access_log=True)
    silent, marker = uuid.uuid4().hex, uuid.uuid4().hex
    assert httpx.get(f"{off.base_url}/healthz", headers={"X-Request-Id": silent}).is_success
    # A later request to a logging server: once its line is out, the first one's would be too.
    assert httpx.get(f"{on.base_url}/healthz", headers={"X-Request-Id": marker}).is_success
    seen = stderr_until(capfd, marker)
    assert marker in seen
    assert silent not in seen


def test_a_warning_level_server_writes_no_access_lines(
    serve: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    quiet = serve(log_level="warning", access_log=True)
    loud = serve(log_level="info", access_log=True)
    silent, marker = uuid.uuid4().hex, uuid.uuid4().hex
    assert httpx.get(f"{quiet.base_url}/healthz", headers={"X-Request-Id": silent}).is_success
    assert httpx.get(f"{loud.base_url}/healthz", headers={"X-Request-Id": marker}).is_success
    seen = stderr_until(capfd, marker)
    assert marker in seen
    assert silent not in seen


def test_ordinary_log_records_are_json_at_the_configured_level(
    capfd: pytest.CaptureFixture[str],
) -> None:
    configure_logging("warning")
    try:
        logger = logging.getLogger("reach.tests")
        logger.info("not shown")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("something failed for %s", "a reason")
        lines = [orjson.loads(x) for x in capfd.readouterr().err.splitlines() if x.startswith("{")]
    finally:
        configure_logging("info")
    [line] = [x for x in lines if x["logger"] == "reach.tests"]
    assert line["level"] == "error"
    assert line["message"] == "something failed for a reason"
    assert "ValueError: boom" in line["exception"]
