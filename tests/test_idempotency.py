"""``Idempotency-Key`` on a tenant's writes: a retry replays the first answer and writes
nothing; another request under the same key is a 422; a duplicate of one still running is a
409; keys are per tenant and expire. Real HTTP, real databases, both engines."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from reach.batches.worker import Worker
from reach.services import open_services
from reach.storage import idempotency as idempotency_store
from tests.batch_helpers import customer as batch_customer
from tests.contract.resources import create_customer, unique, url
from tests.harness import Harness, PartnerKey
from tests.servers import extra_server
from tests.test_faults import held

Headers = dict[str, str]
REPLAYED = "idempotent-replayed"


@pytest.fixture
def headers(api: Harness, partner: PartnerKey, tenant: str) -> Headers:
    return api.tenant_headers(partner, tenant)


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def version(api: Harness, external_id: str) -> int | None:
    async def read(conn: Any) -> int | None:
        value = await conn.fetchval(
            "SELECT version FROM resources WHERE external_id = $1", external_id
        )
        return None if value is None else int(value)

    return api.transaction(read)


def stored_keys(api: Harness, tenant: str) -> list[str]:
    async def read(conn: Any) -> list[str]:
        rows = await conn.fetch(
            "SELECT k.idem_key FROM idempotency_keys k JOIN tenants t ON t.id = k.tenant_id "
            "WHERE t.external_id = $1 ORDER BY k.idem_key",
            tenant,
        )
        return [row["idem_key"] for row in rows]

    return api.transaction(read)


def assert_same_answer(first: httpx.Response, again: httpx.Response) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again.headers["content-type"] == first.headers["content-type"]
    assert REPLAYED not in first.headers
    assert again.headers[REPLAYED] == "true"


def test_a_retried_patch_replays_its_answer_and_writes_once(
    api: Harness, headers: Headers, tenant: str
) -> None:
    external_id = unique("c")
    create_customer(api, headers, external_id)
    key = new_key()
    body = {"data": {"email": "first@example.com"}}

    plain = api.client.patch(
        url("customers", external_id), json={"data": {"phone": "0"}}, headers=headers
    )
    assert plain.status_code == 200, plain.text
    assert REPLAYED not in plain.headers
    assert stored_keys(api, tenant) == []  # no key, nothing stored
    first = api.client.patch(url("customers", external_id), json=body, headers=keyed(headers, key))
    assert first.status_code == 200, first.text
    assert version(api, external_id) == 3
    time.sleep(0.01)  # a second write would carry another updatedAt
    again = api.client.patch(url("customers", external_id), json=body, headers=keyed(headers, key))

    assert_same_answer(first, again)
    assert version(api, external_id) == 3  # went up once for the keyed PATCH
    # Key order in the body is not a different request.
    reordered = {"data": {"email": "first@example.com"}}
    third = api.client.patch(
        url("customers", external_id), json=reordered, headers=keyed(headers, key)
    )
    assert third.content == first.content


def test_a_retried_conditional_patch_replays_its_answer_not_a_412(
    api: Harness, headers: Headers
) -> None:
    """The retry's If-Match names the version the first request replaced: judged again it
    would be a 412, but the key's answer comes first (on PostgreSQL the write's own statement
    stored it, so the refusal path must look the key up)."""
    external_id = unique("c")
    create_customer(api, headers, external_id)
    tag = api.client.get(url("customers", external_id), headers=headers).headers["etag"]
    key = new_key()
    conditional = {**keyed(headers, key), "If-Match": tag}
    body = {"data": {"email": "conditional@example.com"}}
    first = api.client.patch(url("customers", external_id), json=body, headers=conditional)
    assert first.status_code == 200, first.text
    again = api.client.patch(url("customers", external_id), json=body, headers=conditional)
    assert_same_answer(first, again)
    assert version(api, external_id) == 2
    # Without the key the same request is judged: the tag is stale now.
    plain = {**headers, "If-Match": tag}
    refused = api.client.patch(url("customers", external_id), json=body, headers=plain)
    assert refused.status_code == 412, refused.text


def test_create_legacy_post_and_delete_replay_without_writing_again(
    api: Harness, headers: Headers
) -> None:
    external_id = unique("c")
    record = {
        "data": {
            "customerId": external_id,
            "firstName": "A",
            "lastName": "B",
            "createdAt": "2026-01-02T03:04:05Z",
        }
    }
    create_key = new_key()
    created = api.client.post(url("customers"), json=record, headers=keyed(headers, create_key))
    assert created.status_code == 200, created.text
    assert created.json()["message"] == "Resource created"
    again = api.client.post(url("customers"), json=record, headers=keyed(headers, create_key))
    assert_same_answer(created, again)  # still "created", not "updated"
    assert version(api, external_id) == 1

    legacy_key = new_key()
    legacy_body = {"data": {"firstName": "C"}}
    legacy_url = url("customers", external_id)
    legacy = api.client.post(legacy_url, json=legacy_body, headers=keyed(headers, legacy_key))
    assert legacy.status_code == 200, legacy.text
    assert_same_answer(
        legacy, api.client.post(legacy_url, json=legacy_body, headers=keyed(headers, legacy_key))
    )
    assert version(api, external_id) == 2

    delete_key = new_key()
    deleted = api.client.delete(legacy_url, headers=keyed(headers, delete_key))
    assert deleted.status_code == 200, deleted.text
    # Without the key, a second DELETE is a 404; with it, the first answer.
    assert api.client.delete(legacy_url, headers=headers).status_code == 404
    assert_same_answer(deleted, api.client.delete(legacy_url, headers=keyed(headers, delete_key)))


def test_the_same_key_for_another_request_is_422_and_changes_nothing(
    api: Harness, headers: Headers
) -> None:
    external_id = unique("c")
    create_customer(api, headers, external_id)
    other_id = unique("c")
    create_customer(api, headers, other_id)
    key = new_key()
    target = url("customers", external_id)
    first = api.client.patch(target, json={"data": {"phone": "1"}}, headers=keyed(headers, key))
    assert first.status_code == 200, first.text

    attempts = [
        api.client.patch(target, json={"data": {"phone": "2"}}, headers=keyed(headers, key)),
        api.client.patch(
            url("customers", other_id), json={"data": {"phone": "1"}}, headers=keyed(headers, key)
        ),
        api.client.patch(
            target + "?ignoreUnknownFields=true",
            json={"data": {"phone": "1"}},
            headers=keyed(headers, key),
        ),
        api.client.delete(target, headers=keyed(headers, key)),
    ]
    for response in attempts:
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["success"] is False
        assert "Idempotency-Key" in body["message"]
        assert body["errors"]
    assert version(api, external_id) == 2
    assert version(api, other_id) == 1


@pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_400_and_nothing_is_written(
    api: Harness, headers: Headers, bad: str
) -> None:
    external_id = unique("c")
    create_customer(api, headers, external_id)
    response = api.client.patch(
        url("customers", external_id),
        json={"data": {"phone": "9"}},
        headers={**headers, "Idempotency-Key": bad.encode("latin-1")},  # type: ignore[dict-item]
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"]
    assert version(api, external_id) == 1


def test_an_error_is_not_stored_so_the_key_can_carry_the_corrected_request(
    api: Harness, headers: Headers, tenant: str
) -> None:
    external_id = unique("c")
    create_customer(api, headers, external_id)
    key = new_key()
    target = url("customers", external_id)
    refused = api.client.patch(target, json={"data": {"bogus": 1}}, headers=keyed(headers, key))
    assert refused.status_code == 400, refused.text
    assert stored_keys(api, tenant) == []
    fixed = api.client.patch(target, json={"data": {"phone": "7"}}, headers=keyed(headers, key))
    assert fixed.status_code == 200, fixed.text
    assert REPLAYED not in fixed.headers
    assert stored_keys(api, tenant) == [key]


def test_another_tenants_same_key_is_independent(
    api: Harness, partner: PartnerKey, tenant: str, headers: Headers
) -> None:
    other_tenant = api.new_tenant(partner)
    other_headers = api.tenant_headers(partner, other_tenant)
    mine, theirs = unique("c"), unique("c")
    create_customer(api, headers, mine)
    create_customer(api, other_headers, theirs)
    key = new_key()

    first = api.client.patch(
        url("customers", mine), json={"data": {"phone": "1"}}, headers=keyed(headers, key)
    )
    # Another body and path under the same key: not a 422, not a replay — its own write.
    second = api.client.patch(
        url("customers", theirs), json={"data": {"phone": "2"}}, headers=keyed(other_headers, key)
    )
    assert first.status_code == second.status_code == 200, second.text
    assert REPLAYED not in second.headers
    assert second.json()["data"]["result"]["data"]["phone"] == "2"
    assert version(api, theirs) == 2
    # Each tenant's retry replays its own answer.
    for target, body, tenant_headers, answer in (
        (mine, {"data": {"phone": "1"}}, headers, first),
        (theirs, {"data": {"phone": "2"}}, other_headers, second),
    ):
        retry = api.client.patch(
            url("customers", target), json=body, headers=keyed(tenant_headers, key)
        )
        assert_same_answer(answer, retry)
    assert version(api, mine) == version(api, theirs) == 2


def test_a_retried_batch_returns_the_same_batch_id_and_creates_one_batch(
    api: Harness, headers: Headers, tenant: str
) -> None:
    key = new_key()
    items = {"resources": [batch_customer(unique("b")) for _ in range(3)]}
    first = api.client.post(url("customers") + "/batch", json=items, headers=keyed(headers, key))
    assert first.status_code == 202, first.text
    again = api.client.post(url("customers") + "/batch", json=items, headers=keyed(headers, key))
    assert_same_answer(first, again)
    assert again.json()["data"]["batchId"] == first.json()["data"]["batchId"]
    listed = api.client.get("/api/batches", headers=headers)
    assert [b["batchId"] for b in listed.json()["data"]["results"]] == [
        first.json()["data"]["batchId"]
    ]


def _patch_in_thread(
    base_url: str, path: str, body: Any, headers: Headers, into: list[httpx.Response]
) -> threading.Thread:
    def run() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            into.append(client.patch(path, json=body, headers=headers))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_duplicate_while_the_first_still_runs_is_409(api: Harness, headers: Headers) -> None:
    external_id = unique("c")
    create_customer(api, headers, external_id)
    key = new_key()
    target = url("customers", external_id)
    body = {"data": {"phone": "42"}}
    answers: list[httpx.Response] = []
    with extra_server(api) as other_node:
        # Another session holds the record's row (PostgreSQL) or the write lock (SQLite):
        # the first request is in flight, its write waiting, until the block ends.
        with held(
            api.engine,
            api.database_url,
            "UPDATE resources SET version = version WHERE external_id = $1",
            external_id,
        ):
            first = _patch_in_thread(api.base_url, target, body, keyed(headers, key), answers)
            time.sleep(1.0)  # ordering only: let the first request take its key
            same_node = api.client.patch(target, json=body, headers=keyed(headers, key))
            assert same_node.status_code == 409, same_node.text
            assert same_node.headers["retry-after"] == "1"
            assert same_node.json()["success"] is False
            if api.engine == "postgresql":
                # Another process: the key's transaction lock, not this process's memory.
                with httpx.Client(base_url=other_node, timeout=30) as client:
                    elsewhere = client.patch(target, json=body, headers=keyed(headers, key))
                assert elsewhere.status_code == 409, elsewhere.text
        first.join(timeout=30)
        assert [a.status_code for a in answers] == [200], [a.text for a in answers]
        # Another process, which holds no hint of the record: on SQLite its write runs first
        # (no look-up before it), meets the stored answer, is rolled back and the answer
        # replayed.
        with httpx.Client(base_url=other_node, timeout=30) as client:
            elsewhere = client.patch(target, json=body, headers=keyed(headers, key))
        assert_same_answer(answers[0], elsewhere)
    retry = api.client.patch(target, json=body, headers=keyed(headers, key))
    assert_same_answer(answers[0], retry)
    assert version(api, external_id) == 2


def test_a_write_whose_answer_was_never_read_is_replayed_to_the_retry(
    api: Harness, headers: Headers, tenant: str
) -> None:
    """The issue's test: the request is sent whole and the connection closed at once; the
    write commits anyway, and the retry with the key gets its answer without a second write."""
    external_id = unique("c")
    create_customer(api, headers, external_id)
    key = new_key()
    target = url("customers", external_id)
    payload = b'{"data": {"phone": "+15550001"}}'
    head = (
        f"PATCH {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: {headers['Authorization']}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(payload)}\r\n\r\n"
    )
    host, port = api.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + payload)
    # Closed without reading a byte. The server finishes the write regardless: its answer is
    # stored with it (polled only to know when to retry, bounded).
    deadline = time.monotonic() + 30
    while key not in stored_keys(api, tenant):
        assert time.monotonic() < deadline, "the dropped request's write never committed"
        time.sleep(0.02)
    retry = api.client.patch(
        target, content=payload, headers={**keyed(headers, key), "Content-Type": "application/json"}
    )
    assert retry.status_code == 200, retry.text
    assert retry.headers[REPLAYED] == "true"
    assert retry.json()["data"]["result"]["data"]["phone"] == "+15550001"
    assert version(api, external_id) == 2


def test_expired_keys_are_not_replayed_and_the_worker_prunes_them_in_chunks(
    fresh: Harness,
) -> None:
    # A database of its own: on SQLite the worker prunes oldest first (migration 0021), and
    # a shared database's older keys, still live, would stand in front of these.
    api = fresh
    partner = api.new_partner()
    tenant = api.new_tenant(partner)
    headers = api.tenant_headers(partner, tenant)
    external_id = unique("c")
    create_customer(api, headers, external_id)
    target = url("customers", external_id)
    keys = [f"k{n}-{uuid.uuid4()}" for n in range(4)]
    for n, key in enumerate(keys):
        response = api.client.patch(
            target, json={"data": {"phone": str(n)}}, headers=keyed(headers, key)
        )
        assert response.status_code == 200, response.text
    assert version(api, external_id) == 5
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    async def age(conn: Any) -> None:
        for key in keys[:3]:
            await conn.execute(
                "UPDATE idempotency_keys SET expires_at = $1 WHERE idem_key = $2", past, key
            )

    api.transaction(age)
    # Expired: the same key runs the request again (and stores its new answer).
    rerun = api.client.patch(target, json={"data": {"phone": "0"}}, headers=keyed(headers, keys[0]))
    assert rerun.status_code == 200
    assert REPLAYED not in rerun.headers
    assert version(api, external_id) == 6

    async def prune() -> list[int]:
        services = await open_services(api.settings)
        try:
            worker = Worker(services)
            now = datetime.now(UTC)
            return [await worker.prune_idempotency_keys(now, limit=1) for _ in range(3)]
        finally:
            await services.close()

    # Bounded: one per call here. The expired key taken over by the rerun is live again and
    # is not pruned (on SQLite it moved behind the others, so it holds none of them up).
    assert api.loop.run(prune()) == [1, 1, 0]
    assert stored_keys(api, tenant) == sorted([keys[0], keys[3]])


def test_the_served_openapi_documents_the_header_and_its_answers(api: Harness) -> None:
    spec = api.client.get("/openapi.json").json()
    components = spec["components"]
    assert components["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"
    writes = [
        ("/api/resources/{schemaDefinitionNameOrId}", "post"),
        ("/api/resources/{schemaDefinitionNameOrId}/{externalId}", "patch"),
        ("/api/resources/{schemaDefinitionNameOrId}/{externalId}", "post"),
        ("/api/resources/{schemaDefinitionNameOrId}/{externalId}", "delete"),
        ("/api/resources/customers/batch", "post"),
        ("/api/resources/customers/batch", "patch"),
        ("/api/resources/customers/batch", "delete"),
    ]
    for path, method in writes:
        operation = spec["paths"][path][method]
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
        assert {"409", "422"} <= set(operation["responses"]), (path, method)
        success = [a for s, a in operation["responses"].items() if s.startswith("2")]
        assert all("Idempotent-Replayed" in a["headers"] for a in success), (path, method)
    reads = spec["paths"]["/api/resources/customers/{externalId}"]["get"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} not in reads["parameters"]
    assert "Idempotent-Replayed" in components["headers"]["IdempotentReplayed"]["description"] or (
        components["headers"]["IdempotentReplayed"]["schema"]
        == {"type": "string", "enum": ["true"]}
    )


def test_saving_over_a_live_key_changes_nothing_and_says_so(api: Harness, headers: Headers) -> None:
    """The insert that stores an answer tells a lost race by the rows it changed: a live row
    (a duplicate that committed first) stays as it was and the caller is told to roll back;
    an expired one is taken over."""
    record = create_customer(api, headers, unique("c"))
    tenant_id = record["businessId"]
    key = new_key()
    now = datetime.now(UTC)
    at = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    later = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    earlier = (now - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def save(body: str, expires_at: str, *, saved_at: str = at) -> bool:
        async def work(conn: Any) -> bool:
            await conn.fetchval("SELECT 1")  # begins the transaction, as the look-up does
            answer = idempotency_store.Stored("hash", 200, "[]", body)
            return await idempotency_store.save(
                conn, tenant_id, key, answer, now=saved_at, expires_at=expires_at
            )

        return api.transaction(work)

    def body() -> str:
        async def read(conn: Any) -> str:
            return str(
                await conn.fetchval(
                    "SELECT body FROM idempotency_keys WHERE tenant_id = $1 AND idem_key = $2",
                    tenant_id,
                    key,
                )
            )

        return api.transaction(read)

    assert save("first", later) is True
    assert save("second", later) is False
    assert body() == "first"
    assert save("expired", earlier) is False  # still live: the first answer stays
    assert body() == "first"
    # Once the first has expired (saved_at past its expires_at), the key is taken over.
    assert save("third", later, saved_at=later) is True
    assert body() == "third"
