"""SIGKILL the server (and its worker) while its webhook attempts are in flight: after a
restart every delivery still arrives — claimed but unfinished ones are retried once their
lease has passed — with the same ``webhook-id`` (issue 14)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import httpx
import orjson
import standardwebhooks

from reach import auth
from reach.secretbox import new_key
from tests.test_crash_safety import Server, _cli, database  # noqa: F401 - fixture
from tests.webhook_receiver import receiving

TENANTS = 5


def test_a_worker_killed_mid_delivery_loses_no_delivery(database: str, tmp_path: Path) -> None:  # noqa: F811
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env |= {
        "REACH_DATABASE_URL": database,
        "REACH_DEMO_ON_FIRST_RUN": "0",
        "REACH_SECRET_KEY": new_key(),
        "REACH_LOG_LEVEL": "warning",
        "REACH_BATCH_POLL_SECONDS": "0.05",
        "REACH_WEBHOOK_ALLOW_PRIVATE": "1",
        # Longer than the test needs to kill the server, and a lease short enough to wait
        # for (2 x timeout + 5 s = 11 s).
        "REACH_WEBHOOK_TIMEOUT_SECONDS": "3",
        "REACH_WEBHOOK_RETRY_FIRST_SECONDS": "0.2",
    }
    if database.startswith("postgresql"):
        _cli(env, "migrate")
    partner = orjson.loads(_cli(env, "partners", "create", "Webhook crash partner"))
    headers = {
        "Authorization": f"Bearer {auth.mint_token(partner['id'], partner['secret'], ttl=3600)}"
    }
    release = threading.Event()
    killed = threading.Event()

    def answer(n: int) -> tuple[int, float]:
        if n < TENANTS and not killed.is_set():
            release.wait(30)  # hold the first attempts until the server is dead
        return 204, 0.0

    with receiving(answer) as receiver:
        server = Server(env)
        server.start()
        try:
            made = httpx.post(
                f"{server.base_url}/partner/webhooks",
                json={"url": receiver.url, "events": ["tenant.created"]},
                headers=headers,
                timeout=30,
            )
            assert made.status_code == 200, made.text
            endpoint = made.json()["data"]
            for i in range(TENANTS):
                response = httpx.post(
                    f"{server.base_url}/partner/tenants",
                    json={"external_id": f"crash-{i}", "name": f"T{i}", "locations": []},
                    headers=headers,
                    timeout=30,
                )
                assert response.status_code == 200, response.text
            receiver.wait_for(TENANTS)  # every delivery is in flight, none answered
            server.kill()
            killed.set()
            release.set()
            first_ids = sorted(r.headers["webhook-id"] for r in receiver.requests[:TENANTS])

            server = Server(env)
            server.start()
            deliveries_url = f"{server.base_url}/partner/webhooks/{endpoint['id']}/deliveries"
            found = httpx.get(deliveries_url, headers=headers, timeout=30).json()["data"]
            # Claimed, attempted, never finished: due again once the lease has passed (a slow
            # restart may find one already sent again).
            assert len(found["results"]) == TENANTS
            assert {(d["status"], d["attempts"]) for d in found["results"]} <= {
                ("pending", 1),
                ("succeeded", 2),
            }
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                found = httpx.get(deliveries_url, headers=headers, timeout=30).json()["data"]
                if all(d["status"] == "succeeded" for d in found["results"]):
                    break
                time.sleep(0.2)
            assert [d["status"] for d in found["results"]] == ["succeeded"] * TENANTS
            assert all(d["attempts"] >= 2 for d in found["results"])
        finally:
            server.kill()
    verifier = standardwebhooks.Webhook(endpoint["secret"])
    after = receiver.requests[TENANTS:]
    assert sorted(r.headers["webhook-id"] for r in after) == first_ids
    for request in after:
        assert verifier.verify(request.body, request.headers)["type"] == "tenant.created"
