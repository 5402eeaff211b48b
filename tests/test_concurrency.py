"""Read-merge-validate-write is atomic: many clients writing one record lose nothing.

Each writer is a thread with its own HTTP client (its own connections), released together by
a barrier so the requests really overlap on the server.
"""

from __future__ import annotations

import ssl
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx

from tests.contract.resources import create, create_customer, create_schema, read, unique, url
from tests.harness import Harness, PartnerKey

T = TypeVar("T")
_TLS = ssl.create_default_context()
FIELDS = [f"f{n:02d}" for n in range(60)]
WRITERS = 60
ROUNDS = 3


def in_parallel(api: Harness, count: int, work: Callable[[httpx.Client, int], T]) -> list[T]:
    """Run ``work(client, index)`` in ``count`` threads released at the same moment."""
    barrier = threading.Barrier(count)

    def run(index: int) -> T:
        # One TLS context for all: building one per client (certificate loading) costs
        # ~0.1 s each and the server is plain HTTP anyway.
        with httpx.Client(base_url=api.base_url, timeout=60, verify=_TLS) as client:
            barrier.wait(timeout=30)
            return work(client, index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def wide_schema(api: Harness, partner: PartnerKey) -> str:
    name = unique("wide")
    properties: dict[str, Any] = {"key": {"type": "string"}}
    properties.update({field: {"type": "string"} for field in FIELDS})
    create_schema(
        api,
        partner,
        {
            "name": name,
            "externalIdField": "key",
            "schema": {"type": "object", "properties": properties, "required": ["key"]},
        },
    )
    return name


def test_concurrent_patches_of_different_fields_lose_no_update(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    schema = wide_schema(api, partner)
    created = create(api, headers, schema, {"key": "k-1"})

    for round_number in range(ROUNDS):

        def write(client: httpx.Client, index: int, r: int = round_number) -> int:
            field = FIELDS[index]
            response = client.patch(
                url(schema, "k-1"), json={"data": {field: f"{field}-round-{r}"}}, headers=headers
            )
            return response.status_code

        statuses = in_parallel(api, WRITERS, write)
        assert statuses == [200] * WRITERS

    stored = read(api, headers, schema, "k-1")
    expected = {"key": "k-1"} | {f: f"{f}-round-{ROUNDS - 1}" for f in FIELDS[:WRITERS]}
    assert stored["data"] == expected
    assert stored["createdAt"] == created["createdAt"]
    assert stored["updatedAt"] > created["updatedAt"]


def test_concurrent_patches_of_one_field_leave_one_of_the_written_values(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    create_customer(api, headers, "c-1")

    def write(client: httpx.Client, index: int) -> int:
        response = client.patch(
            url("customers", "c-1"), json={"data": {"phone": f"+{index}"}}, headers=headers
        )
        return response.status_code

    assert in_parallel(api, 50, write) == [200] * 50
    assert read(api, headers, "customers", "c-1")["data"]["phone"] in {f"+{n}" for n in range(50)}


def test_concurrent_upserts_of_a_new_key_create_exactly_one_record(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    schema = wide_schema(api, partner)

    def upsert(client: httpx.Client, index: int) -> tuple[int, str, str]:
        field = FIELDS[index]
        response = client.post(
            url(schema), json={"data": {"key": "new-1", field: "set"}}, headers=headers
        )
        body = response.json()
        return response.status_code, body.get("message", ""), body.get("data", {}).get("id", "")

    results = in_parallel(api, WRITERS, upsert)

    assert [status for status, _, _ in results] == [200] * WRITERS
    assert Counter(message for _, message, _ in results)["Resource created"] == 1
    assert len({record_id for _, _, record_id in results}) == 1
    page = api.client.get(url(schema), headers=headers).json()["data"]
    assert page["pagination"]["total"] == 1
    assert page["results"][0]["data"] == {"key": "new-1"} | dict.fromkeys(FIELDS, "set")


def test_concurrent_creates_of_one_schema_name_admit_exactly_one(
    api: Harness, partner: PartnerKey
) -> None:
    name = unique("dup")

    def create_definition(client: httpx.Client, index: int) -> int:
        response = client.post(
            "/partner/schema-definitions",
            json={
                "name": name if index % 2 else name.upper(),
                "pluralName": f"{name}-plural-{index}",
                "externalIdField": "k",
                "schema": {"type": "object", "properties": {"k": {"type": "string"}}},
            },
            headers=api.partner_headers(partner),
        )
        return response.status_code

    statuses = Counter(in_parallel(api, 20, create_definition))

    assert statuses == Counter({200: 1, 409: 19})


def test_a_delete_racing_new_references_never_leaves_them_dangling(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    for attempt in range(5):
        customer_id = f"c-{attempt}"
        create_customer(api, headers, customer_id)

        def act(client: httpx.Client, index: int, cid: str = customer_id) -> int:
            if index == 0:
                return client.delete(url("customers", cid), headers=headers).status_code
            response = client.post(
                url("transactions"),
                json={
                    "data": {
                        "transactionId": f"{cid}-t-{index}",
                        "customerId": cid,
                        "transactionDate": "2026-01-01T00:00:00Z",
                        "transactionTotal": 1,
                    }
                },
                headers=headers,
            )
            return response.status_code

        statuses = in_parallel(api, 12, act)

        assert statuses[0] in (200, 409)
        assert set(statuses[1:]) <= {200, 400}
        customer_exists = (
            api.client.get(url("customers", customer_id), headers=headers).status_code == 200
        )
        referencing = api.client.get(
            url("transactions") + f"?filter[customerId]={customer_id}", headers=headers
        ).json()["data"]["pagination"]["total"]
        assert customer_exists or referencing == 0, (statuses, referencing)
        assert customer_exists == (statuses[0] == 409)
        assert referencing == statuses[1:].count(200)


def test_concurrent_schema_updates_each_get_their_own_version(
    api: Harness, partner: PartnerKey
) -> None:
    schema = wide_schema(api, partner)

    def update(client: httpx.Client, index: int) -> int:
        response = client.post(
            f"/partner/schema-definitions/{schema}",
            json={"description": f"update {index}"},
            headers=api.partner_headers(partner),
        )
        assert response.status_code == 200, response.text
        version: int = response.json()["data"]["versionNumber"]
        return version

    versions = in_parallel(api, 20, update)

    assert sorted(versions) == list(range(2, 22))
    final = api.client.get(
        f"/partner/schema-definitions/{schema}", headers=api.partner_headers(partner)
    ).json()["data"]
    assert final["versionNumber"] == 21


def test_a_schema_update_takes_effect_at_once_despite_concurrent_readers(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    # Readers resolving the schema while an update is in flight must not leave the old
    # version cached in the process that made the change.
    headers = api.tenant_headers(partner, tenant)
    name = unique("evolving")
    properties: dict[str, Any] = {"key": {"type": "string"}}
    schema = {"type": "object", "properties": properties, "required": ["key"]}
    create_schema(api, partner, {"name": name, "externalIdField": "key", "schema": schema})
    create(api, headers, name, {"key": "k-1"})
    stop = threading.Event()

    def read_constantly() -> None:
        with httpx.Client(base_url=api.base_url, timeout=60, verify=_TLS) as client:
            while not stop.is_set():
                client.get(url(name, "k-1"), headers=headers)

    readers = [threading.Thread(target=read_constantly) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        for n in range(15):
            properties[f"added{n}"] = {"type": "string"}
            updated = api.client.post(
                f"/partner/schema-definitions/{name}",
                json={"schema": schema},
                headers=api.partner_headers(partner),
            )
            assert updated.status_code == 200, updated.text
            patched = api.client.patch(
                url(name, "k-1"), json={"data": {f"added{n}": "x"}}, headers=headers
            )
            assert patched.status_code == 200, (n, patched.text)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
