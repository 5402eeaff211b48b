"""Every error path answers in the Reach envelope: never a framework default, never a 500."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import Harness, PartnerKey

TENANTS = "/partner/tenants"

Case = Callable[[Harness, PartnerKey, str], httpx.Response]


def _post_raw(api: Harness, partner: PartnerKey, content: Any, content_type: str) -> httpx.Response:
    headers = {**api.partner_headers(partner), "Content-Type": content_type}
    return api.client.post(TENANTS, content=content, headers=headers)


def _over_limit(api: Harness) -> bytes:
    return b'{"name": "' + b"x" * api.settings.max_body_bytes + b'"}'


def _chunks(body: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _raw(api: Harness, partner: PartnerKey, content_length: str, body: bytes) -> httpx.Response:
    """A hand-written request, for framing no well-behaved client would send."""
    host, port = api.base_url.removeprefix("http://").split(":")
    head = (
        f"POST {TENANTS} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
        f"Authorization: {api.partner_headers(partner)['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
            if _complete(received):
                break
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = [tuple(line.decode().split(": ", 1)) for line in header_block.split(b"\r\n")]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=content)


def _complete(received: bytes) -> bool:
    head, found, content = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(content) >= int(value)
    return False


def _duplicate(api: Harness, partner: PartnerKey, tenant: str) -> httpx.Response:
    body = {"external_id": tenant, "name": "again", "locations": []}
    return api.client.post(TENANTS, json=body, headers=api.partner_headers(partner))


CASES: dict[str, tuple[int, Case]] = {
    "unknown route": (404, lambda api, p, t: api.client.get("/no/such/route")),
    "unknown tenant": (
        404,
        lambda api, p, t: api.client.get(f"{TENANTS}/missing", headers=api.partner_headers(p)),
    ),
    "wrong method": (
        405,
        lambda api, p, t: api.client.put(TENANTS, headers=api.partner_headers(p)),
    ),
    "wrong method on an open route": (405, lambda api, p, t: api.client.post("/healthz")),
    "malformed JSON": (400, lambda api, p, t: _post_raw(api, p, b'{"name": ', "application/json")),
    "empty body": (400, lambda api, p, t: _post_raw(api, p, b"", "application/json")),
    "whitespace body": (400, lambda api, p, t: _post_raw(api, p, b"  \n", "application/json")),
    "JSON array instead of object": (
        400,
        lambda api, p, t: _post_raw(api, p, b'[{"name": "x"}]', "application/json"),
    ),
    "JSON array to a resource route": (
        400,
        lambda api, p, t: api.client.post(
            "/api/resources/customers", json=[{"customerId": "c"}], headers=api.tenant_headers(p, t)
        ),
    ),
    "invalid UTF-8": (
        400,
        lambda api, p, t: _post_raw(api, p, b'{"name": "\xff"}', "application/json"),
    ),
    "Content-Length over the limit": (
        413,
        lambda api, p, t: _raw(api, p, str(api.settings.max_body_bytes + 1), b""),
    ),
    "body over the limit": (
        413,
        lambda api, p, t: _post_raw(api, p, _over_limit(api), "application/json"),
    ),
    "chunked body over the limit": (
        413,
        lambda api, p, t: _post_raw(api, p, _chunks(_over_limit(api)), "application/json"),
    ),
    "wrong content type": (415, lambda api, p, t: _post_raw(api, p, b"{}", "text/plain")),
    "form content type": (
        415,
        lambda api, p, t: _post_raw(api, p, b"name=x", "application/x-www-form-urlencoded"),
    ),
    "no token": (401, lambda api, p, t: api.client.get(TENANTS)),
    "tenant token on a partner route": (
        403,
        lambda api, p, t: api.client.get(TENANTS, headers=api.tenant_headers(p, t)),
    ),
    "duplicate tenant": (409, _duplicate),
    "validation": (
        400,
        lambda api, p, t: api.client.post(
            TENANTS, json={"name": 1}, headers=api.partner_headers(p)
        ),
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_error_path_answers_in_the_reach_envelope(
    api: Harness, partner: PartnerKey, tenant: str, case: str
) -> None:
    status, make = CASES[case]
    response = make(api, partner, tenant)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    body = orjson.loads(response.content)
    assert isinstance(body, dict)
    assert body["success"] is False
    assert isinstance(body["message"], str)
    assert body["message"]
    assert "detail" not in body
    if status == 400:
        assert isinstance(body["errors"], list)
        assert body["errors"]
        assert all(isinstance(error, str) for error in body["errors"])
    if status == 404:
        assert isinstance(body["data"]["error"], str)
    if status == 405:
        assert response.headers["allow"]


def test_refused_oversized_body_changes_nothing(api: Harness, partner: PartnerKey) -> None:
    body = orjson.dumps(
        {
            "external_id": "too-big",
            "name": "x" * api.settings.max_body_bytes,
            "locations": [],
        }
    )
    assert _post_raw(api, partner, body, "application/json").status_code == 413
    listed = api.client.get(TENANTS, headers=api.partner_headers(partner))
    assert listed.json()["data"]["pagination"]["total"] == 0


def test_server_keeps_serving_after_a_refused_oversized_body(
    api: Harness, partner: PartnerKey
) -> None:
    assert _post_raw(api, partner, _over_limit(api), "application/json").status_code == 413
    assert api.client.get("/healthz").status_code == 200


def test_405_names_every_method_the_path_serves(api: Harness, partner: PartnerKey) -> None:
    response = api.client.put(TENANTS, headers=api.partner_headers(partner))
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert "PUT" not in allowed
