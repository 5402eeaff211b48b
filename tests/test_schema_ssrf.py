"""A schema definition can never make the server open a connection, and the CPU a definition
costs is bounded and kept off the event loop (issue 11, High).

Every URL points at a local listener that accepts and never answers — what stalled every
tenant for 30 s per URL — and counts the connections it was offered.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from reach import clock
from reach.domain import schema_rules
from reach.routes import docs
from reach.storage import schemas as schema_store
from reach.storage.database import Connection
from tests.contract.resources import errors_of, object_schema, url
from tests.harness import TEST_SECRET_KEY, Harness, PartnerKey, free_port
from tests.test_cli import _clean_env
from tests.test_cli_serve import Served

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
BASE = "/partner/schema-definitions"


class Tarpit:
    """A TCP listener that accepts every connection and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def connections(self) -> int:
        time.sleep(0.2)  # a connection still in the backlog is counted too
        return len(self.accepted)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    listener = Tarpit()
    yield listener
    listener.close()


def definition(name: str, json_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "category": "custom_schema",
        "externalIdField": "key",
        "schema": json_schema,
    }


def with_key(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {**object_schema({"key": {"type": "string"}, **properties}), **extra}


def post(api: Harness, partner: PartnerKey, body: Any, timeout: float = 10) -> httpx.Response:
    # Short timeout: before the fix a fetch hung for 30 s; now nothing waits on the network.
    return api.client.post(BASE, json=body, headers=api.partner_headers(partner), timeout=timeout)


def url_cases(target: str) -> list[tuple[dict[str, Any], str]]:
    """(JSON Schema, the path the 400 must name) — URL-naming keywords in every place."""
    return [
        (with_key({"a": {"$schema": target, "type": "string"}}), "schema.properties.a.$schema"),
        (
            with_key({"a": {"type": "string"}}, definitions={"d": {"$schema": f"{target}/d"}}),
            "schema.definitions.d.$schema",
        ),
        (
            with_key({"a": {"type": "array", "items": {"$ref": f"{target}/items"}}}),
            "schema.properties.a.items.$ref",
        ),
        (
            with_key({"a": {"allOf": [{"type": "string"}, {"$id": f"{target}/id"}]}}),
            "schema.properties.a.allOf[1].$id",
        ),
        (
            with_key({"a": {"anyOf": [{"$schema": f"{target}/any", "type": "string"}]}}),
            "schema.properties.a.anyOf[0].$schema",
        ),
        (
            with_key({"a": {"type": "object", "properties": {"b": {"$schema": f"{target}/deep"}}}}),
            "schema.properties.a.properties.b.$schema",
        ),
        (
            with_key({"a": {"$ref": "#/definitions/d"}}, definitions={"d": {"$ref": target}}),
            "schema.definitions.d.$ref",
        ),
        (with_key({"a": {"type": "string"}}, **{"$id": f"{target}/root"}), "schema.$id"),
        (
            with_key({"a": {"type": "string", "not": {"$schema": f"{target}/not"}}}),
            "schema.properties.a.not.$schema",
        ),
    ]


def test_url_keywords_anywhere_are_refused_naming_the_path_and_nothing_is_fetched(
    api: Harness, partner: PartnerKey, tarpit: Tarpit
) -> None:
    for json_schema, path in url_cases(tarpit.url):
        response = post(api, partner, definition(f"s-{uuid.uuid4().hex[:8]}", json_schema))
        errors = errors_of(response)
        assert any(e.startswith(f"{path}: ") for e in errors), (path, errors)
    assert tarpit.connections() == 0


def test_an_update_naming_a_url_is_refused_and_nothing_is_fetched(
    api: Harness, partner: PartnerKey, tarpit: Tarpit
) -> None:
    name = f"s-{uuid.uuid4().hex[:8]}"
    assert post(api, partner, definition(name, with_key({"a": {"type": "string"}}))).is_success
    for json_schema, path in url_cases(tarpit.url):
        response = api.client.post(
            f"{BASE}/{name}",
            json={"schema": json_schema},
            headers=api.partner_headers(partner),
            timeout=10,
        )
        assert any(e.startswith(f"{path}: ") for e in errors_of(response)), path
    assert tarpit.connections() == 0


def test_nested_draft07_schema_and_local_anchors_are_accepted(
    api: Harness, partner: PartnerKey
) -> None:
    """Decision: naming draft-07 itself is harmless (built into the library), as is a
    ``#name`` anchor; both keep working at any depth."""
    json_schema = with_key(
        {"a": {"$schema": DRAFT_07, "type": "string"}, "b": {"$ref": "#named"}},
        definitions={"d": {"$id": "#named", "type": "integer"}},
    )
    name = f"s-{uuid.uuid4().hex[:8]}"
    response = post(api, partner, definition(name, json_schema))
    assert response.status_code == 200, response.text
    tenant = api.new_tenant(partner)
    headers = api.partner_headers(partner, tenant)
    ok = api.client.post(url(name), json={"data": {"key": "k", "a": "x", "b": 1}}, headers=headers)
    assert ok.status_code == 200, ok.text
    bad = api.client.post(url(name), json={"data": {"key": "k2", "b": "x"}}, headers=headers)
    assert any(e.startswith("data.b: ") for e in errors_of(bad))


def wide_schema(properties: int, **property_extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        f"field_{i:05d}": {"type": "string", **property_extra} for i in range(properties)
    }
    return with_key(props)


def test_schema_size_depth_and_node_count_are_capped(api: Harness, partner: PartnerKey) -> None:
    limits = api.settings
    filler = "x" * 1000
    too_big = wide_schema(limits.max_schema_bytes // 1000 + 1, description=filler)
    errors = errors_of(post(api, partner, definition("big", too_big)))
    assert errors == [
        f"schema: {len(orjson.dumps(too_big))} bytes; at most {limits.max_schema_bytes} are allowed"
    ]

    deep: dict[str, Any] = {"type": "string"}
    for _ in range(limits.max_schema_depth):
        deep = {"type": "object", "properties": {"x": deep}}
    errors = errors_of(post(api, partner, definition("deep", with_key({"a": deep}))))
    assert len(errors) == 1
    assert errors[0].startswith("schema.properties.a.properties.x.properties.x.")
    assert errors[0].endswith(f": nested deeper than {limits.max_schema_depth} levels")

    too_many = wide_schema(limits.max_schema_nodes // 2)
    errors = errors_of(post(api, partner, definition("many", too_many)))
    assert len(errors) == 1
    assert errors[0].startswith("schema: ")
    assert errors[0].endswith(f"at most {limits.max_schema_nodes} are allowed")

    # A regular expression costs ~20 ordinary nodes to compile, and counts so.
    patterns = wide_schema(limits.max_schema_nodes // 20, pattern="^[a-z]{1,40}$")
    assert len(orjson.dumps(patterns)) < limits.max_schema_bytes
    errors = errors_of(post(api, partner, definition("patterns", patterns)))
    assert errors[0].endswith(f"at most {limits.max_schema_nodes} are allowed")

    allowed = wide_schema(limits.max_schema_nodes // 3)
    assert post(api, partner, definition("allowed", allowed)).status_code == 200


# -- against a real `reach serve` process (granian), on the suite's database


def serve(api: Harness, **env: str) -> Served:
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "serve", "--port", str(port)],
        env=_clean_env(
            REACH_DATABASE_URL=api.database_url,
            REACH_SECRET_KEY=TEST_SECRET_KEY,
            REACH_DEMO_ON_FIRST_RUN="false",
            REACH_BATCH_WORKER="false",
            REACH_LOG_LEVEL="info",
            **env,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    served.start_reading()
    try:
        served.wait_ready()
    except BaseException:
        served.stop(signal.SIGTERM)
        raise
    return served


@pytest.fixture
def live(api: Harness) -> Iterator[Any]:
    started: list[Served] = []

    def start(**env: str) -> Served:
        served = serve(api, **env)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop(signal.SIGTERM)


# -- CPU-heavy work off the event loop, shown by order of events, never by timing: the work is
# held at a barrier only the test releases, and /healthz must answer while it is held. Had the
# work run on the loop, the loop itself would be held and /healthz could not answer at all.


def test_healthz_answers_while_a_schema_compile_is_held_in_its_thread(
    api: Harness, partner: PartnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    real_compile = schema_rules._compile

    def held_compile(*args: Any) -> Any:
        entered.set()
        if not release.wait(60):
            raise RuntimeError("the test never released the compile")
        return real_compile(*args)

    monkeypatch.setattr(schema_rules, "_compile", held_compile)
    created: list[httpx.Response] = []
    body = definition(f"held-{uuid.uuid4().hex[:8]}", wide_schema(50))

    def write() -> None:
        # A client of its own: the test's asks /healthz meanwhile.
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            created.append(client.post(BASE, json=body, headers=api.partner_headers(partner)))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert entered.wait(30), "the definition never reached its compile"
        assert api.client.get("/healthz").status_code == 200
        assert not created  # the compile was still held: healthz did not wait for it
    finally:
        release.set()
        writer.join(60)
    assert created[0].status_code == 200, created[0].text


def test_healthz_answers_while_the_builder_process_is_stopped_mid_build(
    api: Harness, partner: PartnerKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = api.partner_headers(partner)
    assert post(api, partner, definition("first", wide_schema(5))).is_success
    # The first partner document starts the builder process (once per server).
    assert api.client.get("/openapi.json", headers=headers).status_code == 200
    pool = docs.BUILDER._pool
    assert pool is not None, "the document was not built in the builder process"
    builders = list(pool._processes)
    assert builders
    submitted = threading.Event()
    real_build = docs.BUILDER.build

    async def noted_build(rows: list[dict[Any, Any]], server: str) -> bytes:
        submitted.set()
        return await real_build(rows, server)

    monkeypatch.setattr(docs.BUILDER, "build", noted_build)
    # A changed definition: the next document must be built again.
    assert post(api, partner, definition("second", wide_schema(5))).is_success
    fetched: list[httpx.Response] = []

    def read() -> None:
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            fetched.append(client.get("/openapi.json", headers=headers))

    reader = threading.Thread(target=read)
    for pid in builders:
        os.kill(pid, signal.SIGSTOP)
    try:
        reader.start()
        assert submitted.wait(30), "the document request never reached the builder"
        assert api.client.get("/healthz").status_code == 200
        assert not fetched  # the builder cannot have answered: it is stopped
    finally:
        for pid in builders:
            os.kill(pid, signal.SIGCONT)
        reader.join(60)
    assert fetched[0].status_code == 200, fetched[0].text
    assert b"second" in fetched[0].content


def insert_unchecked(api: Harness, partner: PartnerKey, name: str, json_schema: Any) -> str:
    """A definition stored the way one written before the check would be: no check at all.

    Its id sorts before every random one, so the start-up scan (which walks every partner's
    definitions by id) reaches it on its first page however large the suite's shared
    database has grown by then."""
    schema_id = "00000000-0000-4000-8000-" + uuid.uuid4().hex[:12]
    at = clock.now()
    values = {
        "id": schema_id,
        "partner_id": partner.id,
        "name": name,
        "plural_name": name,
        "description": None,
        "category": "custom_schema",
        "external_id_field": "key",
        "json_schema": orjson.dumps(json_schema).decode(),
        "options": orjson.dumps({"references": {}}).decode(),
        "version_number": 1,
        "created_at": at,
        "updated_at": at,
    }

    async def insert(conn: Connection) -> bool:
        return await schema_store.insert(conn, values)

    assert api.transaction(insert)
    return schema_id


def test_a_definition_stored_before_the_fix_never_fetches_at_start_up_or_on_writes(
    api: Harness, live: Any, tarpit: Tarpit
) -> None:
    partner = api.new_partner()
    tenant = api.new_tenant(partner)
    name = f"legacy-{uuid.uuid4().hex[:8]}"
    json_schema = with_key(
        {"a": {"$schema": f"{tarpit.url}/a", "type": "string"}},
        definitions={"d": {"$schema": f"{tarpit.url}/d"}},
    )
    schema_id = insert_unchecked(api, partner, name, json_schema)

    server: Served = live()
    headers = api.partner_headers(partner, tenant)
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        for attempt in range(2):  # the second after the first compiled (and cached) it
            response = client.post(
                url(name), json={"data": {"key": f"k{attempt}", "a": "x"}}, headers=headers
            )
            errors = errors_of(response)
            assert any(e.startswith("schema.properties.a.$schema: ") for e in errors), errors
            assert any(e.startswith("schema.definitions.d.$schema: ") for e in errors), errors
            assert all("must be updated before records can be written" in e for e in errors)
        # Still readable, and mendable by an update that drops the URLs.
        read = client.get(f"{BASE}/{name}", headers=api.partner_headers(partner))
        assert read.status_code == 200, read.text
        assert read.json()["data"]["schema"] == json_schema
        listed = client.get(url(name), headers=headers)
        assert listed.status_code == 200, listed.text
        fixed = client.post(
            f"{BASE}/{name}",
            json={"schema": with_key({"a": {"type": "string"}})},
            headers=api.partner_headers(partner),
        )
        assert fixed.status_code == 200, fixed.text
        written = client.post(url(name), json={"data": {"key": "k", "a": "x"}}, headers=headers)
        assert written.status_code == 200, written.text
    assert tarpit.connections() == 0
    # The scan runs in the background over every stored definition (thousands, in the suite's
    # shared database): give it time to reach this one before stopping the server.
    deadline = time.monotonic() + 60
    while schema_id not in server.text() and time.monotonic() < deadline:
        time.sleep(0.2)
    server.stop(signal.SIGTERM)
    warnings = [line for line in server.text().splitlines() if schema_id in line]
    assert warnings, server.text()
    assert "names URLs" in warnings[0]
    assert "schema.properties.a.$schema" in warnings[0]


# -- Low: SQLite JSON paths for field names a path cannot spell


@pytest.mark.parametrize("field", ['cust"omer', "cust\\omer", 'we\\"ird', "tab\tbed", "plain.ok"])
def test_a_record_referenced_through_an_odd_field_name_cannot_be_deleted(
    api: Harness, partner: PartnerKey, tenant: str, field: str
) -> None:
    suffix = uuid.uuid4().hex[:8]
    target, source = f"target-{suffix}", f"source-{suffix}"
    assert post(api, partner, definition(target, with_key({}))).status_code == 200
    body = definition(source, with_key({field: {"$ref": f"reach:schemas/{target}"}}))
    assert post(api, partner, body).status_code == 200, field
    headers = api.partner_headers(partner, tenant)
    made = api.client.post(url(target), json={"data": {"key": "t1"}}, headers=headers)
    assert made.status_code == 200, made.text
    linked = api.client.post(
        url(source), json={"data": {"key": "s1", field: "t1"}}, headers=headers
    )
    assert linked.status_code == 200, linked.text
    if '"' not in field and "\\" not in field:  # the list refuses to filter on those
        # The list filter names the field the same way: both engines find the one record.
        found = api.client.get(url(source), params={f"filter[{field}]": "t1"}, headers=headers)
        assert found.status_code == 200, found.text
        assert [r["resourceExternalId"] for r in found.json()["data"]["results"]] == ["s1"]

    refused = api.client.delete(url(target, "t1"), headers=headers)

    assert refused.status_code == 409, refused.text
    assert api.client.get(url(target, "t1"), headers=headers).status_code == 200
    cascaded = api.client.delete(url(target, "t1") + "?cascade=true", headers=headers)
    assert cascaded.status_code == 200, cascaded.text
    assert api.client.get(url(source, "s1"), headers=headers).status_code == 404


def test_the_partner_document_follows_every_definition_change(
    api: Harness, partner: PartnerKey
) -> None:
    """The built document is cached by the partner's definition versions: a change shows
    at once, and an unchanged partner gets the same document."""
    headers = api.partner_headers(partner)
    name = f"s-{uuid.uuid4().hex[:8]}"
    assert post(api, partner, definition(name, with_key({"first": {"type": "string"}}))).is_success

    def document() -> bytes:
        response = api.client.get("/openapi.json", headers=headers)
        assert response.status_code == 200, response.text
        return response.content

    before = document()
    assert b'"first"' in before
    assert b'"second"' not in before
    assert document() == before
    changed = api.client.post(
        f"{BASE}/{name}",
        json={"schema": with_key({"first": {"type": "string"}, "second": {"type": "integer"}})},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    after = document()
    assert b'"second"' in after
    other = f"s-{uuid.uuid4().hex[:8]}"
    assert post(api, partner, definition(other, with_key({}))).is_success
    assert other.encode() in document()


def test_the_server_still_stops_promptly_after_building_a_partner_document(
    api: Harness, live: Any
) -> None:
    """The builder process is stopped at shutdown (left running, it held the exit ~30 s)."""
    server: Served = live()
    partner = api.new_partner()
    response = httpx.get(
        f"{server.base_url}/openapi.json", headers=api.partner_headers(partner), timeout=60
    )
    assert response.status_code == 200, response.text
    started = time.monotonic()
    assert server.stop(signal.SIGTERM) == 0, server.text()
    assert time.monotonic() - started < 10
