"""``REACH_CORS_ORIGINS``: a browser app on another origin calls the API (preflight included),
checked over HTTP and in headless Chromium from a second origin; off by default."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.harness import Harness, PartnerKey, free_port
from tests.servers import extra_server
from tests.test_docs_page import _render, needs_chromium

PREFLIGHT = {
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, content-type",
}


def test_cors_is_off_by_default(api: Harness) -> None:
    origin = {"Origin": "http://127.0.0.1:1"}
    preflight = api.client.options("/api/resources/customers", headers=origin | PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in api.client.get("/healthz", headers=origin).headers


def test_preflight_and_response_headers_for_an_allowed_origin_only(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    allowed = "https://app.example.com"
    with extra_server(api, cors_origins=f"{allowed}, https://other.example.com") as base:
        preflight = httpx.options(
            f"{base}/api/resources/customers/c-1",
            headers={"Origin": allowed} | PREFLIGHT,
            timeout=30,
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == allowed
        assert "PATCH" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        assert preflight.headers["vary"] == "Origin"

        listed = httpx.get(
            f"{base}/api/resources/customers",
            headers={"Origin": allowed} | api.tenant_headers(partner, tenant),
            timeout=30,
        )
        assert listed.status_code == 200
        assert listed.headers["access-control-allow-origin"] == allowed
        assert "x-request-id" in listed.headers["access-control-expose-headers"]

        stranger = {"Origin": "https://evil.example.com"}
        refused = httpx.options(
            f"{base}/api/resources/customers", headers=stranger | PREFLIGHT, timeout=30
        )
        assert refused.status_code == 405
        assert "access-control-allow-origin" not in refused.headers
        plain = httpx.get(f"{base}/healthz", headers=stranger, timeout=30)
        assert "access-control-allow-origin" not in plain.headers


@contextmanager
def _page_origin(html: str) -> Iterator[str]:
    """A second origin (another port) serving one page."""
    body = html.encode()

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


_SCRIPT = """<!doctype html><html><body><pre id="out">pending</pre><script>
fetch("%(api)s/api/resources/customers/c-browser", {
  method: "PATCH",
  headers: {"Authorization": "Bearer %(token)s", "Content-Type": "application/json"},
  body: JSON.stringify({data: {email: "browser@example.com"}}),
}).then(async (r) => {
  const body = await r.json();
  document.getElementById("out").textContent =
    "status=" + r.status + " email=" + body.data.result.data.email +
    " requestId=" + (r.headers.get("x-request-id") ? "yes" : "no");
}).catch((e) => { document.getElementById("out").textContent = "blocked " + e; });
</script></body></html>"""


@needs_chromium
@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_a_page_on_another_origin_patches_a_record_in_chromium(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    headers = api.tenant_headers(partner, tenant)
    created = api.client.post(
        "/api/resources/customers",
        headers=headers,
        json={
            "data": {
                "customerId": "c-browser",
                "firstName": "Web",
                "lastName": "App",
                "createdAt": "2026-01-01T00:00:00Z",
            }
        },
    )
    assert created.status_code == 200, created.text
    token = api.tenant_token(partner, tenant)
    api_port = free_port()
    page_html = _SCRIPT % {"api": f"http://127.0.0.1:{api_port}", "token": token}
    with _page_origin(page_html) as page:
        with extra_server(api, port=api_port, cors_origins=page) as base:
            assert base.endswith(str(api_port))
            dom = _render(page)
        assert "status=200 email=browser@example.com requestId=yes" in dom, dom
        # The same page against a server that does not allow its origin is blocked.
        with extra_server(api, port=api_port, cors_origins="https://elsewhere.example.com"):
            dom = _render(page)
        assert "blocked" in dom, dom
