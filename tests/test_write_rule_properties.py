"""Property: one write rule. The same random sequence of creates, upserts and patches, sent
once as single requests and once as batches (each run of one kind one batch, submitted and
waited for in order), leaves identical records (data and version) and fails the same items
for the same reasons with the same error lists — on both engines.

The changes set nulls on optional and required fields, nested fields, fields the schema does
not declare (with and without ``ignoreUnknownFields``), values of the wrong type, and
references to records that exist and that do not.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reach.storage import batches as batch_store
from reach.storage.database import Connection, Row
from tests.batch_helpers import wait_for_batch
from tests.contract.resources import create_schema, unique, url
from tests.harness import Harness, PartnerKey

KEYS = ("a", "b", "c")
TEXT = st.text(alphabet="xyz ", max_size=4)
OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(st.none(), TEXT, st.integers(0, 3)),  # required: null and wrong type
    "count": st.one_of(st.none(), st.integers(-3, 3), st.just("many")),
    "note": st.one_of(st.none(), TEXT),
    "nested": st.one_of(
        st.none(),
        st.fixed_dictionaries(
            {},
            optional={
                "a": st.one_of(st.none(), st.integers(0, 3)),
                "b": st.one_of(st.none(), TEXT),
                "q": st.just(1),  # undeclared, one level down
            },
        ),
    ),
    "ref": st.one_of(st.none(), st.sampled_from(["t1", "t2", "t9"])),  # t9 does not exist
    "zzz": st.just(True),  # undeclared
}
OPERATION = st.tuples(
    st.sampled_from(["create", "upsert", "patch"]),
    st.sampled_from(KEYS),
    st.booleans(),  # ignoreUnknownFields
    st.fixed_dictionaries({}, optional=OPTIONAL),
)


def _schemas(api: Harness, partner: PartnerKey) -> tuple[str, str]:
    target, name = unique("target"), unique("rule")
    create_schema(
        api,
        partner,
        {
            "name": target,
            "externalIdField": "key",
            "schema": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    )
    properties = {
        "key": {"type": "string"},
        "name": {"type": "string"},
        "count": {"type": "integer"},
        "note": {"type": "string"},
        "status": {"type": "string", "default": "new"},
        "nested": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
        },
        "ref": {"$ref": f"reach:schemas/{target}"},
    }
    create_schema(
        api,
        partner,
        {
            "name": name,
            "externalIdField": "key",
            "schema": {"type": "object", "properties": properties, "required": ["key", "name"]},
        },
    )
    return target, name


def _single_outcome(response: Any) -> tuple[str, list[str] | None]:
    """What a single request did, in the batch's terms: its reason and, for a 400, errors."""
    if response.status_code == 200:
        return "succeeded", None
    if response.status_code == 404:
        return "not_found", None
    if response.status_code == 409:
        return "already_exists", None
    assert response.status_code == 400, response.text
    body = response.json()
    kind = (
        "unknown_fields"
        if body["message"].startswith("Unknown field")
        else "missing_dependency"
        if body["message"] == "Referenced records do not exist"
        else "validation_failed"
    )
    return kind, body["errors"]


async def _failed_items(conn: Connection, batch_id: str) -> list[Row]:
    tenant_id = await conn.fetchval("SELECT tenant_id FROM batches WHERE id = $1", batch_id)
    ref = batch_store.BatchRef(str(tenant_id), batch_id)
    return await batch_store.items_with_status(conn, ref, "failed")


def _batch_outcomes(api: Harness, batch_id: str, count: int) -> list[tuple[str, list[str] | None]]:
    rows = api.transaction(lambda conn: _failed_items(conn, batch_id))
    outcomes: list[tuple[str, list[str] | None]] = [("succeeded", None)] * count
    for row in rows:
        reason = row["reason"]
        errors = (
            orjson.loads(row["errors"]) if reason not in ("not_found", "already_exists") else None
        )
        outcomes[int(row["position"])] = (reason, errors)
    return outcomes


def _state(api: Harness, headers: dict[str, str], schema: str, key: str) -> Any:
    got = api.client.get(url(schema, key), headers=headers)
    if got.status_code == 404:
        return None
    assert got.status_code == 200, got.text
    version = got.headers["etag"].strip('"').split("-", 1)[0]
    return got.json()["data"]["result"]["data"], int(version)


def test_single_writes_and_batches_follow_one_rule(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    target, schema = _schemas(api, partner)
    singles = api.tenant_headers(partner, tenant)
    batches = api.tenant_headers(partner, api.new_tenant(partner))
    for headers in (singles, batches):
        for key in ("t1", "t2"):
            made = api.client.post(url(target), json={"data": {"key": key}}, headers=headers)
            assert made.status_code == 200, made.text

    @settings(
        max_examples=25,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(operations=st.lists(OPERATION, min_size=1, max_size=8))
    def check(operations: list[tuple[str, str, bool, dict[str, Any]]]) -> None:
        run = uuid.uuid4().hex[:8]
        items = [
            (kind, f"{run}-{key}", ignore, {**fields, "key": f"{run}-{key}"})
            for kind, key, ignore, fields in operations
        ]
        expected: list[tuple[str, list[str] | None]] = []
        for kind, key, ignore, data in items:
            params = {"ignoreUnknownFields": "true"} if ignore else {}
            if kind == "patch":
                response = api.client.patch(
                    url(schema, key), json={"data": data}, params=params, headers=singles
                )
            else:
                if kind == "create":
                    params["onconflict"] = "reject"
                response = api.client.post(
                    url(schema), json={"data": data}, params=params, headers=singles
                )
            expected.append(_single_outcome(response))

        seen: list[tuple[str, list[str] | None]] = []
        start = 0
        while start < len(items):
            kind, _, ignore, _ = items[start]
            end = start
            while end < len(items) and items[end][0] == kind and items[end][2] == ignore:
                end += 1
            params = {"ignoreUnknownFields": "true"} if ignore else {}
            if kind == "create":
                params["onconflict"] = "reject"
            body = {"resources": [data for _, _, _, data in items[start:end]]}
            method = "PATCH" if kind == "patch" else "POST"
            accepted = api.client.request(
                method, f"{url(schema)}/batch", json=body, params=params, headers=batches
            )
            assert accepted.status_code == 202, accepted.text
            batch_id = accepted.json()["data"]["batchId"]
            wait_for_batch(api, batches, batch_id)
            seen.extend(_batch_outcomes(api, batch_id, end - start))
            start = end

        assert seen == expected, items
        for key in dict.fromkeys(key for _, key, _, _ in items):
            assert _state(api, batches, schema, key) == _state(api, singles, schema, key), key

    check()
