"""Hostile and malformed input: each case gets a clear 4xx in the Reach envelope and changes
nothing — the victim record reads back byte for byte as it did before."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson
import pytest

from tests.harness import Harness, PartnerKey
from tests.servers import exchange, extra_server

RECORD = "c-victim"
CUSTOMERS = "/api/resources/customers"
AT = f"{CUSTOMERS}/{RECORD}"
JSON = "application/json"


@dataclass(frozen=True)
class Attack:
    status: int
    method: str = "PATCH"
    path: str = AT
    body: bytes | None = None
    content_type: str | None = JSON


def _nested(depth: int) -> bytes:
    return b'{"data":{"firstName":' + b"[" * depth + b"]" * depth + b"}}"


def _cursor(payload: object) -> str:
    # The stdlib encoder: orjson refuses integers past 64 bits, which is the point here.
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


_RANDOM_CURSOR = base64.urlsafe_b64encode(bytes(range(256))).decode()
_HUGE_CURSOR = base64.urlsafe_b64encode(b'{"k":"resources","v":[' + b"9" * 30 + b"]}").decode()
_MANY_FIELDS = orjson.dumps({"data": {f"f{i}": i for i in range(10_000)}})

ATTACKS: dict[str, Attack] = {
    # -- not JSON, or not the JSON we take
    "truncated JSON": Attack(400, body=b'{"data": {"firstName": '),
    "trailing garbage": Attack(400, body=b'{"data": {}} {"data": {}}'),
    "single quotes": Attack(400, body=b"{'data': {}}"),
    "comment": Attack(400, body=b'{"data": {} /* x */}'),
    "empty body": Attack(400, body=b""),
    "top-level array": Attack(400, body=b'[{"data": {}}]'),
    "top-level string": Attack(400, body=b'"data"'),
    "top-level number": Attack(400, body=b"42"),
    "top-level null": Attack(400, body=b"null"),
    "top-level true": Attack(400, body=b"true"),
    "data is an array": Attack(400, body=b'{"data": []}'),
    "data is a string": Attack(400, body=b'{"data": "x"}'),
    "data is null": Attack(400, body=b'{"data": null}'),
    "field of the wrong type": Attack(400, body=b'{"data": {"firstName": 7}}'),
    "NaN": Attack(400, body=b'{"data": {"firstName": NaN}}'),
    "Infinity": Attack(400, body=b'{"data": {"firstName": Infinity}}'),
    "-Infinity": Attack(400, body=b'{"data": {"firstName": -Infinity}}'),
    "number overflowing a double": Attack(400, body=b'{"data": {"firstName": 1e400}}'),
    # -- duplicate keys: refused, never "last one wins"
    "duplicate key": Attack(400, body=b'{"data": {"firstName": "A", "firstName": "B"}}'),
    "duplicate top-level key": Attack(
        400, body=b'{"data": {"firstName": "A"}, "data": {"firstName": "B"}}'
    ),
    "duplicate key hidden by an escaped colon": Attack(
        400, body=b'{"data": {"firstName": "A", "firstName": "\\u003a"}}'
    ),
    "duplicate key with a colon in its value": Attack(
        400, body=b'{"data": {"firstName": "a:b", "firstName": "c"}}'
    ),
    # -- encodings
    "invalid UTF-8": Attack(400, body=b'{"data": {"firstName": "\xff\xfe"}}'),
    "lone surrogate escape": Attack(400, body=b'{"data": {"firstName": "\\ud800"}}'),
    "byte order mark": Attack(400, body=b'\xef\xbb\xbf{"data": {"firstName": "A"}}'),
    "NUL character": Attack(400, body=b'{"data": {"firstName": "A\\u0000"}}'),
    "NUL in a key": Attack(400, body=b'{"data": {"first\\u0000Name": "A"}}'),
    # -- size and shape
    "5,000-deep nesting": Attack(400, body=_nested(5_000)),
    "300-deep nesting": Attack(400, body=_nested(300)),
    "10,000 unknown fields": Attack(400, body=_MANY_FIELDS),
    # -- content types
    "text/plain": Attack(415, body=b'{"data": {}}', content_type="text/plain"),
    "no content type": Attack(415, body=b'{"data": {}}', content_type=None),
    "form encoded": Attack(415, body=b"data=x", content_type="application/x-www-form-urlencoded"),
    "json-like suffix": Attack(415, body=b'{"data": {}}', content_type="application/jsonx"),
    # -- external ids
    "external id of 256 characters": Attack(
        400, path=f"{CUSTOMERS}/{'x' * 256}", body=b'{"data": {"firstName": "A"}}'
    ),
    "external id of 1,000 characters": Attack(
        400, path=f"{CUSTOMERS}/{'é' * 1_000}", body=b'{"data": {"firstName": "A"}}'
    ),
    "body key differing from the path": Attack(
        400, body=b'{"data": {"customerId": "someone-else"}}'
    ),
    "create with a 1,000-character key": Attack(
        400,
        method="POST",
        path=CUSTOMERS,
        body=orjson.dumps(
            {
                "data": {
                    "customerId": "k" * 1_000,
                    "firstName": "A",
                    "lastName": "B",
                    "createdAt": "2026-01-01T00:00:00Z",
                }
            }
        ),
    ),
    # -- lists: limits and cursors
    "limit of a million": Attack(400, "GET", f"{CUSTOMERS}?limit=1000000"),
    "limit past 64 bits": Attack(400, "GET", f"{CUSTOMERS}?limit=99999999999999999999999"),
    "negative limit": Attack(400, "GET", f"{CUSTOMERS}?limit=-1"),
    "limit of zero": Attack(400, "GET", f"{CUSTOMERS}?limit=0"),
    "limit not a number": Attack(400, "GET", f"{CUSTOMERS}?limit=ten"),
    "cursor not base64": Attack(400, "GET", f"{CUSTOMERS}?cursor=!!!"),
    "cursor of random bytes": Attack(400, "GET", f"{CUSTOMERS}?cursor={_RANDOM_CURSOR}"),
    "cursor of another list": Attack(
        400, "GET", f"{CUSTOMERS}?cursor={_cursor({'k': 'tenants', 'v': ['x', 'y']})}"
    ),
    "cursor with a huge key": Attack(400, "GET", f"{CUSTOMERS}?cursor={_HUGE_CURSOR}"),
    "cursor with a text key": Attack(
        400, "GET", f"{CUSTOMERS}?cursor={_cursor({'k': 'resources', 'v': ['1; DROP']})}"
    ),
    "cursor with a negative key": Attack(
        400, "GET", f"{CUSTOMERS}?cursor={_cursor({'k': 'resources', 'v': [-(2**63)]})}"
    ),
    "cursor of 8 KB": Attack(400, "GET", f"{CUSTOMERS}?cursor={'A' * 8_000}"),
    "filter on an unknown field": Attack(400, "GET", f"{CUSTOMERS}?filter[nope]=1"),
    "filter with NUL": Attack(400, "GET", f"{CUSTOMERS}?filter[firstName]=a%00b"),
    "unknown schema": Attack(404, "GET", "/api/resources/no-such-schema"),
    "batch of the wrong shape": Attack(
        400, "POST", f"{CUSTOMERS}/batch", body=b'{"resources": {"not": "a list"}}'
    ),
    "batch over 1,000 items": Attack(
        400,
        "POST",
        f"{CUSTOMERS}/batch",
        body=orjson.dumps({"resources": [{"data": {"customerId": "x"}}] * 1_001}),
    ),
}


def _victim(api: Harness, headers: dict[str, str]) -> bytes:
    response = api.client.get(AT, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


@pytest.fixture
def victim(api: Harness, partner: PartnerKey, tenant: str) -> dict[str, str]:
    headers = api.tenant_headers(partner, tenant)
    created = api.client.post(
        CUSTOMERS,
        json={
            "data": {
                "customerId": RECORD,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "createdAt": "2026-01-01T00:00:00Z",
            }
        },
        headers=headers,
    )
    assert created.status_code == 200, created.text
    return headers


def _assert_envelope(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:2000]
    assert response.headers["content-type"].split(";")[0] == JSON
    body = orjson.loads(response.content)
    assert body["success"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    if status == 400:
        assert body["errors"]
        assert all(isinstance(error, str) for error in body["errors"])


@pytest.mark.parametrize("name", list(ATTACKS))
def test_bad_input_is_a_clear_4xx_and_changes_nothing(
    api: Harness, victim: dict[str, str], name: str
) -> None:
    attack = ATTACKS[name]
    before = _victim(api, victim)
    headers = dict(victim)
    if attack.content_type is not None:
        headers["Content-Type"] = attack.content_type
    response = api.client.request(attack.method, attack.path, content=attack.body, headers=headers)
    _assert_envelope(response, attack.status)
    assert _victim(api, victim) == before
    listed = api.client.get(CUSTOMERS, headers=victim).json()["data"]
    assert listed["pagination"]["total"] == 1


def test_duplicate_keys_are_named_in_the_errors(api: Harness, victim: dict[str, str]) -> None:
    response = api.client.patch(
        AT,
        content=b'{"data": {"email": "a@example.com", "email": "b@example.com"}}',
        headers={**victim, "Content-Type": JSON},
    )
    assert response.status_code == 400
    assert response.json()["errors"] == ["body: duplicate key 'email'"]


def test_a_colon_in_a_value_is_not_mistaken_for_a_duplicate(
    api: Harness, victim: dict[str, str]
) -> None:
    body = b'{"data": {"customerDetailUrl": "https://x.example/a:b?c=d:e", "email": "\\u003a"}}'
    response = api.client.patch(AT, content=body, headers={**victim, "Content-Type": JSON})
    assert response.status_code == 200, response.text
    data = response.json()["data"]["result"]["data"]
    assert data["customerDetailUrl"] == "https://x.example/a:b?c=d:e"
    assert data["email"] == ":"


def test_a_200_kb_string_within_the_body_limit_is_stored_whole(
    api: Harness, victim: dict[str, str]
) -> None:
    # Decision (docs/decisions.md): no separate string cap; the body limit bounds every value.
    long = "é" * 100_000  # 200 KB of UTF-8
    response = api.client.patch(AT, json={"data": {"lastName": long}}, headers=victim)
    assert response.status_code == 200, response.text[:500]
    assert api.client.get(AT, headers=victim).json()["data"]["result"]["data"]["lastName"] == long


def test_10000_unknown_fields_are_dropped_when_asked(api: Harness, victim: dict[str, str]) -> None:
    before = orjson.loads(_victim(api, victim))["data"]["result"]["data"]
    response = api.client.patch(
        f"{AT}?ignoreUnknownFields=true",
        content=_MANY_FIELDS,
        headers={**victim, "Content-Type": JSON},
    )
    assert response.status_code == 200, response.text[:500]
    assert response.json()["data"]["result"]["data"] == before


ODD_IDS = {
    "unicode": "ünï-çødé-🚀-名前",
    "encoded slash": "a/b",
    "dot dot": "..",
    "dot": ".",
    "quotes": "a\"b'c`d",
    "percent": "100%25-sure",
    "spaces": "  padded  ",
    "html": "<script>alert(1)</script>",
    "sql": "x'; DROP TABLE resources; --",
    "255 characters": "x" * 255,
}


@pytest.mark.parametrize("name", list(ODD_IDS))
def test_odd_external_ids_are_keys_like_any_other(
    api: Harness, victim: dict[str, str], name: str
) -> None:
    external_id = ODD_IDS[name]
    body = {
        "data": {
            "customerId": external_id,
            "firstName": "Odd",
            "lastName": "Id",
            "createdAt": "2026-01-01T00:00:00Z",
        }
    }
    created = api.client.post(CUSTOMERS, json=body, headers=victim)
    assert created.status_code == 200, created.text
    assert created.json()["data"]["resourceExternalId"] == external_id
    # The path form: every character percent-encoded, so `/` and `..` reach the server as data.
    quoted = "".join(f"%{byte:02X}" for byte in external_id.encode())
    fetched = api.client.get(f"{CUSTOMERS}/{quoted}", headers=victim)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["result"]["data"]["customerId"] == external_id
    patched = api.client.patch(
        f"{CUSTOMERS}/{quoted}", json={"data": {"firstName": "Still"}}, headers=victim
    )
    assert patched.status_code == 200, patched.text
    assert api.client.get(AT, headers=victim).json()["data"]["result"]["data"]["firstName"] == "Ada"


def test_a_literal_dot_dot_path_does_not_escape_the_collection(
    api: Harness, victim: dict[str, str]
) -> None:
    # httpx would normalise `..` away; a raw request sends it as written.
    head = (
        f"GET {AT}/../../../partner/tenants HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: {victim['Authorization']}"
    )
    response = exchange(api.base_url, head)
    assert response.status < 500
    assert b"externalId" not in response.body or response.status == 404


def test_chunked_body_over_the_limit_is_refused_before_the_rest_is_sent(
    api: Harness, victim: dict[str, str]
) -> None:
    limit = 64 * 1024
    with extra_server(api, max_body_bytes=limit) as base_url:
        before = _victim(api, victim)
        chunk = b'{"data": {"lastName": "' + b"x" * limit + b'"'
        head = (
            f"PATCH {AT} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Transfer-Encoding: chunked\r\nAuthorization: {victim['Authorization']}"
        )
        # One chunk past the limit and no final chunk: a server that waited for the whole
        # body would never answer, and this read would time out.
        framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        response = exchange(base_url, head, framed)
        assert response.status == 413
        assert orjson.loads(response.body)["success"] is False
        declared = exchange(
            base_url,
            head.replace("Transfer-Encoding: chunked", f"Content-Length: {limit + 1}"),
        )
        assert declared.status == 413
        assert _victim(api, victim) == before


TOKEN_CASES: dict[str, Callable[[Harness, PartnerKey, str], str]] = {
    "one byte over the maximum": lambda api, p, t: "a" * (api.settings.max_token_bytes + 1),
    "ten times the maximum": lambda api, p, t: "a" * (api.settings.max_token_bytes * 10 // 8),
    "valid but padded past the maximum": lambda api, p, t: (
        api.tenant_token(p, t) + "=" * api.settings.max_token_bytes
    ),
}


@pytest.mark.parametrize("name", list(TOKEN_CASES))
def test_oversized_tokens_are_401_unparsed(
    api: Harness, partner: PartnerKey, tenant: str, victim: dict[str, str], name: str
) -> None:
    token = TOKEN_CASES[name](api, partner, tenant)
    response = api.client.get(AT, headers={"Authorization": f"Bearer {token}"})
    _assert_envelope(response, 401)


def test_a_megabyte_header_is_refused_by_the_http_server_and_it_keeps_serving(
    api: Harness, victim: dict[str, str]
) -> None:
    # Past the HTTP server's own header limit the app never sees the request: the server
    # answers (400/431) in its own words; what matters is that it does and carries on.
    response = api.client.get(AT, headers={"Authorization": "Bearer " + "a" * 1_000_000})
    assert response.status_code in (400, 413, 431)
    assert api.client.get(AT, headers=victim).status_code == 200


_UUID = "0000000a-0000-4000-8000-00000000000b"
# (path, the list's cursor kind, the key it carries): right kind, hostile key.
FORGED: dict[str, tuple[str, str, list[object]]] = {
    "batches: key past 64 bits": ("/api/batches", "batches:*:desc", [2**64]),
    "batches: negative key": ("/api/batches", "batches:*:desc", [-(2**63)]),
    "batches: text key": ("/api/batches", "batches:*:desc", ["1"]),
    "batches asc: key past 64 bits": (
        "/api/batches?sortOrder=asc",
        "batches:*:asc",
        [2**64 - 1],
    ),
    "resources: key past 64 bits": (CUSTOMERS, "resources:{schema}", [2**64 - 1]),
    "resources: negative key": (CUSTOMERS, "resources:{schema}", [-1]),
    "tenants by name: NUL": (
        "/partner/tenants?orderBy=name",
        "tenants:name:asc",
        ["a\x00b", _UUID],
    ),
    "tenants by name: upper-case id": (
        "/partner/tenants?orderBy=name",
        "tenants:name:asc",
        ["a", _UUID.upper()],
    ),
    "tenants by date: not a date": (
        "/partner/tenants",
        "tenants:created_at:asc",
        ["yesterday", _UUID],
    ),
}


@pytest.mark.parametrize("name", list(FORGED))
def test_forged_cursors_of_the_right_kind_are_400(
    api: Harness, partner: PartnerKey, tenant: str, victim: dict[str, str], name: str
) -> None:
    path, kind, key = FORGED[name]
    schema_id = api.client.get(AT, headers=victim).json()["data"]["result"]["schemaDefinitionId"]
    cursor = _cursor({"k": kind.format(schema=schema_id), "v": key})
    headers = victim if path.startswith("/api/") else api.partner_headers(partner)
    separator = "&" if "?" in path else "?"
    response = api.client.get(f"{path}{separator}cursor={cursor}", headers=headers)
    _assert_envelope(response, 400)


# U+0000 anywhere a partner can put text: PostgreSQL's text and jsonb cannot hold it.
NUL_CASES: dict[str, tuple[str, str, bytes | None]] = {
    "tenant name": ("POST", "/partner/tenants", b'{"external_id": "n1", "name": "a\\u0000"}'),
    "tenant branding": (
        "POST",
        "/partner/tenants",
        b'{"external_id": "n2", "name": "n", "locations": [], "branding": {"k": "\\u0000"}}',
    ),
    "tenant external id": (
        "POST",
        "/partner/tenants",
        b'{"external_id": "n\\u0000", "name": "n", "locations": []}',
    ),
    "tenant rename": ("PATCH", "/partner/tenants/{tenant}", b'{"name": "a\\u0000b"}'),
    "tenant id in the path": ("GET", "/partner/tenants/a%00b", None),
    "tenant search": ("GET", "/partner/tenants?search=a%00b", None),
    "schema description": (
        "POST",
        "/partner/schema-definitions",
        b'{"name": "nul", "pluralName": "nuls", "category": "custom_schema", '
        b'"externalIdField": "id", "description": "\\u0000", '
        b'"schema": {"type": "object", "properties": {"id": {"type": "string"}}}}',
    ),
    "schema property name": (
        "POST",
        "/partner/schema-definitions",
        b'{"name": "nul2", "pluralName": "nul2s", "category": "custom_schema", '
        b'"externalIdField": "id", '
        b'"schema": {"type": "object", "properties": {"id": {"type": "string"}, '
        b'"a\\u0000": {"type": "string"}}}}',
    ),
    "schema name in the path": ("GET", "/partner/schema-definitions/a%00b", None),
    "schema in a resource path": ("GET", "/api/resources/a%00b", None),
    "batch id in the path": ("GET", "/api/batches/a%00b", None),
    "tenant header": ("GET", "/api/resources/customers", None),
}


@pytest.mark.parametrize("name", list(NUL_CASES))
def test_nul_characters_are_400_everywhere(
    api: Harness, partner: PartnerKey, tenant: str, name: str
) -> None:
    method, path, body = NUL_CASES[name]
    headers = {**api.partner_headers(partner, tenant), "Content-Type": JSON}
    if name == "tenant header":
        headers["reach-tenant-id"] = "a\x00b"
    before = api.client.get("/partner/tenants", headers=api.partner_headers(partner)).content
    try:
        response = api.client.request(
            method, path.format(tenant=tenant), content=body, headers=headers
        )
    except httpx.LocalProtocolError:
        return  # the client itself refuses to send a NUL in a header: nothing to test
    assert response.status_code in (400, 404), response.text
    _assert_envelope(response, response.status_code)
    after = api.client.get("/partner/tenants", headers=api.partner_headers(partner)).content
    assert after == before
