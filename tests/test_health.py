"""Liveness and readiness probes: open to load balancers, so no token is needed."""

from __future__ import annotations

from tests.harness import Harness


def test_healthz_answers_without_auth(api: Harness) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"success": True, "message": "ok", "data": {"status": "ok"}}


def test_readyz_names_the_database_engine(api: Harness) -> None:
    response = api.client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"status": "ready", "database": api.engine}


def test_probes_ignore_a_bad_token(api: Harness) -> None:
    headers = {"Authorization": "Bearer not-a-token"}
    assert api.client.get("/healthz", headers=headers).status_code == 200
    assert api.client.get("/readyz", headers=headers).status_code == 200
