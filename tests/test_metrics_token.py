"""``REACH_METRICS_TOKEN``: when set, ``/metrics`` needs it as a bearer token (issue 11, Low)."""

from __future__ import annotations

import httpx
import pytest

from tests.harness import Harness
from tests.servers import extra_server

TOKEN = "metrics-scrape-token-0123456789"


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}"],
)
def test_metrics_without_the_token_is_401_in_the_envelope(
    api: Harness, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with extra_server(api, metrics_token=TOKEN) as base:
        response = httpx.get(f"{base}/metrics", headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert response.json() == {
        "success": False,
        "message": "GET /metrics needs the metrics bearer token",
    }
    assert "reach_http_request_duration_seconds" not in response.text


def test_metrics_with_the_token_is_served(api: Harness) -> None:
    with extra_server(api, metrics_token=TOKEN) as base:
        response = httpx.get(
            f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
    assert response.status_code == 200, response.text
    assert "reach_http_request_duration_seconds" in response.text


def test_metrics_stay_public_when_no_token_is_set(api: Harness) -> None:
    assert httpx.get(f"{api.base_url}/metrics", timeout=30).status_code == 200
