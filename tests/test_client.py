"""``reach.client``: the partners' Python client, against the real server over HTTP."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from reach.client import (
    BadRequestError,
    Batch,
    Client,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ReachConnectionError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
)
from tests.batch_helpers import customer
from tests.harness import Harness, PartnerKey


@pytest.fixture
def client(api: Harness, partner: PartnerKey, tenant: str) -> Iterator[Client]:
    with Client.for_partner(api.base_url, partner.id, partner.secret, tenant=tenant) as made:
        yield made


def transaction(external_id: str, customer_id: str) -> dict[str, Any]:
    return {
        "transactionId": external_id,
        "customerId": customer_id,
        "transactionDate": "2026-02-01T10:00:00Z",
        "transactionTotal": 12.5,
    }


def test_records_are_created_read_patched_and_deleted(client: Client) -> None:
    created = client.create("customers", customer("c-1", email="ada@example.com"))
    assert created.external_id == "c-1"
    assert created.data["smsOptOut"] is True  # the schema's default, applied on create
    assert created.platform_id
    assert created.business_id
    assert created.created_at.endswith("Z")

    patched = client.patch("customers", "c-1", {"email": None, "phone": "+15550100"})
    assert "email" not in patched.data
    assert patched.data["phone"] == "+15550100"

    legacy = client.create_at("customers", "c-2", customer("c-2"))
    assert legacy.external_id == "c-2"
    assert client.get("customers", "c-2").result.data == legacy.data

    deleted = client.delete("customers", "c-1")
    assert deleted.external_id == "c-1"
    with pytest.raises(NotFoundError) as missing:
        client.get("customers", "c-1")
    assert missing.value.status == 404


def test_get_resolves_included_references(client: Client) -> None:
    client.create("customers", customer("c-ref"))
    client.create("transactions", transaction("t-1", "c-ref"))
    fetched = client.get("transactions", "t-1", include=["customerId"])
    assert fetched.result.data["customerId"] == "c-ref"
    assert [r.external_id for r in fetched.included] == ["c-ref"]


def test_delete_with_cascade_removes_referencing_records(client: Client) -> None:
    client.create("customers", customer("c-gone"))
    client.create("transactions", transaction("t-gone", "c-gone"))
    with pytest.raises(ConflictError):
        client.delete("customers", "c-gone")
    client.delete("customers", "c-gone", cascade=True)
    with pytest.raises(NotFoundError):
        client.get("transactions", "t-gone")


def test_listing_pages_with_a_cursor_and_filters(client: Client) -> None:
    for n in range(7):
        client.create("customers", customer(f"c-{n}", emailOptOut=n % 2 == 0))
    page = client.list("customers", limit=3)
    assert len(page.results) == 3
    assert page.pagination.has_next_page
    assert page.pagination.total == 7
    everyone = [r.external_id for r in client.iterate("customers", page_size=2)]
    assert everyone == [f"c-{n}" for n in range(7)]
    opted_out = client.iterate("customers", filters={"emailOptOut": True}, page_size=2)
    assert [r.external_id for r in opted_out] == ["c-0", "c-2", "c-4", "c-6"]


def test_errors_carry_the_reach_envelope(client: Client) -> None:
    with pytest.raises(BadRequestError) as refused:
        client.create("customers", {"customerId": "c-bad", "firstName": 7})
    error = refused.value
    assert error.status == 400
    assert error.message
    assert any(e.startswith("data.firstName") for e in error.errors)
    assert error.body["success"] is False

    client.create("customers", customer("c-dup"))
    with pytest.raises(ConflictError) as conflict:
        client.create("customers", customer("c-dup"), on_conflict="reject")
    assert conflict.value.status == 409

    with pytest.raises(NotFoundError) as missing:
        client.get("no-such-schema", "x")
    assert missing.value.errors  # the 404's data.error


def test_a_wrong_secret_is_unauthorized(api: Harness, partner: PartnerKey, tenant: str) -> None:
    wrong_secret = "not-the-secret-" + "x" * 32
    wrong = Client.for_partner(api.base_url, partner.id, wrong_secret, tenant=tenant)
    with wrong, pytest.raises(UnauthorizedError) as refused:
        wrong.list("customers")
    assert refused.value.status == 401


def test_a_tenant_token_client_may_not_manage_tenants(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    with Client.for_token(api.base_url, api.tenant_token(partner, tenant)) as scoped:
        assert scoped.list("customers").pagination.total == 0
        with pytest.raises(ForbiddenError):
            scoped.list_schemas()


def test_tenants_are_managed_by_the_partner(client: Client) -> None:
    external_id = f"t-{uuid.uuid4().hex[:8]}"
    made = client.create_tenant(external_id, "Acme", website="https://acme.example")
    assert (made.external_id, made.name, made.website) == (
        external_id,
        "Acme",
        "https://acme.example",
    )
    assert client.get_tenant(external_id).id == made.id
    assert client.update_tenant(made.id, {"name": "Acme Inc"}).name == "Acme Inc"
    assert external_id in {t.external_id for t in client.iterate_tenants()}
    assert client.delete_tenant(made.id).deleted_at is not None
    with pytest.raises(NotFoundError):
        client.get_tenant(made.id)
    acting = client.for_tenant(client.create_tenant(f"{external_id}-2", "Other").external_id)
    assert acting.list("customers").pagination.total == 0


def test_schema_definitions_are_created_read_and_updated(client: Client) -> None:
    assert {s.name for s in client.list_schemas()} >= {"customers", "locations", "transactions"}
    created = client.create_schema(
        {
            "name": "pets",
            "pluralName": "petz",
            "category": "custom_schema",
            "externalIdField": "petId",
            "schema": {
                "type": "object",
                "properties": {"petId": {"type": "string"}, "age": {"type": "integer"}},
                "required": ["petId"],
            },
        }
    )
    assert (created.external_id_field, created.version_number) == ("petId", 1)
    assert client.get_schema("pets").id == created.id
    updated = client.update_schema(
        "pets",
        {
            "schema": {
                "type": "object",
                "properties": {
                    "petId": {"type": "string"},
                    "age": {"type": "integer"},
                    "name": {"type": "string"},
                },
                "required": ["petId"],
            }
        },
    )
    assert updated.version_number == 2
    assert set(updated.properties) == {"petId", "age", "name"}
    assert client.create("pets", {"petId": "p-1", "age": 3}).data == {"petId": "p-1", "age": 3}


def test_a_batch_is_submitted_and_waited_for_with_progress(client: Client) -> None:
    seen: list[Batch] = []
    items = [customer(f"c-{n}") for n in range(50)] + [{"customerId": "c-bad"}]
    batch = client.upload("customers", items, progress=seen.append)
    assert batch.status == "partial_success"
    assert seen
    assert seen[-1] == batch
    assert batch.progress.total_records == 51
    assert batch.progress.successful_records == 50
    [failure] = batch.failures()
    assert (failure.index, failure.external_id) == (50, "c-bad")
    assert any("firstName" in e for e in failure.errors)
    assert client.list("customers").pagination.total == 50


# -- retries, through a misbehaving front server that forwards to the real one


@dataclass
class Front:
    """An HTTP server in front of the real one: answers the first requests with ``script``
    (a status, or "drop" to close the connection unanswered), then forwards."""

    upstream: str
    script: list[int | str] = field(default_factory=list)
    retry_after: str | None = None
    seen: int = 0

    def __post_init__(self) -> None:
        front = self
        forward = httpx.Client(base_url=self.upstream, timeout=30)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else None
                front.seen += 1
                if front.script:
                    step = front.script.pop(0)
                    if step == "drop":
                        self.close_connection = True
                        return
                    assert isinstance(step, int)
                    payload = b'{"success":false,"message":"Too busy"}'
                    self.send_response(step)
                    if front.retry_after is not None:
                        self.send_header("Retry-After", front.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = forward.request(self.command, self.path, content=body, headers=headers)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", ""))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._forward = forward

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._forward.close()


@pytest.fixture
def front(api: Harness) -> Iterator[Front]:
    made = Front(api.base_url)
    yield made
    made.close()


def retrying_client(
    front: Front, partner: PartnerKey, tenant: str, attempts: int
) -> tuple[Client, list[float]]:
    waits: list[float] = []
    policy = RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.05, sleep=waits.append)
    return Client.for_partner(
        front.url, partner.id, partner.secret, tenant=tenant, retry=policy
    ), waits


def test_429_is_retried_no_sooner_than_retry_after(
    front: Front, partner: PartnerKey, tenant: str
) -> None:
    front.script = [429, 429]
    front.retry_after = "2"
    client, waits = retrying_client(front, partner, tenant, attempts=5)
    with client:
        assert client.create("customers", customer("c-retry")).external_id == "c-retry"
    assert front.seen == 3
    assert len(waits) == 2
    assert all(wait >= 2.0 for wait in waits)


def test_5xx_and_dropped_connections_are_retried_with_growing_jittered_backoff(
    front: Front, partner: PartnerKey, tenant: str
) -> None:
    front.script = [503, "drop", 502]
    client, waits = retrying_client(front, partner, tenant, attempts=5)
    with client:
        assert client.list("customers").pagination.total == 0
    assert front.seen == 4
    assert len(waits) == 3
    assert all(0 <= wait <= 0.05 for wait in waits)


def test_retries_give_up_with_a_typed_error(front: Front, partner: PartnerKey, tenant: str) -> None:
    front.script = [429, 429, 429]
    client, _ = retrying_client(front, partner, tenant, attempts=3)
    with client, pytest.raises(RateLimitedError) as limited:
        client.list("customers")
    assert (limited.value.status, limited.value.message) == (429, "Too busy")

    front.script = [500, 500]
    client, _ = retrying_client(front, partner, tenant, attempts=2)
    with client, pytest.raises(ServerError):
        client.list("customers")

    front.script = ["drop", "drop"]
    client, _ = retrying_client(front, partner, tenant, attempts=2)
    with client, pytest.raises(ReachConnectionError):
        client.list("customers")


def test_client_errors_are_not_retried(front: Front, partner: PartnerKey, tenant: str) -> None:
    client, waits = retrying_client(front, partner, tenant, attempts=5)
    with client, pytest.raises(BadRequestError):
        client.create("customers", {"customerId": "x"})
    assert (front.seen, waits) == (1, [])
