"""``/docs`` (Swagger UI) and ``/redoc``: served with our own copies of their assets, nothing
from a CDN, and they really render the API (checked in headless Chromium)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from html.parser import HTMLParser

import pytest

from tests.harness import Harness

PAGES = ("/docs", "/redoc")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


class _Links(HTMLParser):
    """Every URL the page itself asks the browser to load."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "spec-url") and value is not None:
                self.urls.append(value)


def _links(page: str) -> list[str]:
    parser = _Links()
    parser.feed(page)
    return parser.urls


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_references_only_local_paths(api: Harness, page: str) -> None:
    response = api.client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = _links(response.text)
    assert urls, "the page loads nothing?"
    for url in urls:
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
    assert "http://" not in response.text
    assert "https://" not in response.text


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_forbids_loading_from_other_origins(api: Harness, page: str) -> None:
    policy = api.client.get(page).headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    for name in ("script-src", "img-src", "connect-src", "style-src"):
        sources = directives[name].split()
        assert all(s.startswith("'") or s in ("data:", "blob:") for s in sources), (name, sources)


@pytest.mark.parametrize("page", PAGES)
def test_docs_page_assets_are_served_by_us(api: Harness, page: str) -> None:
    urls = [u for u in _links(api.client.get(page).text) if u != "/openapi.json"]
    assert any(u.endswith(".js") for u in urls)
    for url in urls:
        response = api.client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert response.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert len(response.content) > 0


def test_missing_asset_is_a_404_envelope(api: Harness) -> None:
    response = api.client.get("/docs/assets/swagger_ui/vendor/no-such-file.js")
    assert response.status_code == 404
    assert response.json()["success"] is False


def _render(url: str) -> str:
    """The page's DOM after its scripts ran, as headless Chromium sees it."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, our own URL
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=10000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


_CHROMIUM_INSTALLED = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)


def needs_chromium(test: Callable[..., None]) -> Callable[..., None]:
    """Skipped without Chromium; slow with it (a browser per page): not in `make test-fast`."""
    marked: Callable[..., None] = pytest.mark.slow(_CHROMIUM_INSTALLED(test))
    return marked


# The pages do not depend on the storage engine: render them once, on SQLite.
@needs_chromium
@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_swagger_ui_renders_the_customer_patch_operation(api: Harness) -> None:
    dom = _render(f"{api.base_url}/docs")
    block = re.search(
        r'<div class="opblock opblock-patch[^"]*" id="operations-[^"]*-patchResource_customers"',
        dom,
    )
    assert block is not None, dom[:2000]
    assert 'data-path="/api/resources/customers/{externalId}"' in dom
    assert "Patch Customer Resource" in dom


@needs_chromium
@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_redoc_renders_the_customer_patch_operation(api: Harness) -> None:
    dom = _render(f"{api.base_url}/redoc")
    assert "Patch Customer Resource" in dom, dom[:2000]
    assert "/api/resources/customers/{externalId}" in dom


SWAGGER_BUNDLE = "/docs/assets/swagger_ui/vendor/swagger-ui-bundle.js"


def test_docs_assets_are_cached_and_revalidated_by_etag(api: Harness) -> None:
    first = api.client.get(SWAGGER_BUNDLE)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=3600"
    assert "no-store" not in first.headers["cache-control"]
    again = api.client.get(SWAGGER_BUNDLE, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["cache-control"] == "public, max-age=3600"


def test_docs_assets_are_compressed_for_clients_that_take_gzip(api: Harness) -> None:
    plain = api.client.get(SWAGGER_BUNDLE, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    with api.client.stream("GET", SWAGGER_BUNDLE, headers={"Accept-Encoding": "gzip"}) as zipped:
        body = zipped.read()  # decoded by httpx
        on_the_wire = zipped.num_bytes_downloaded
        assert zipped.headers["content-encoding"] == "gzip"
        assert zipped.headers["vary"] == "Accept-Encoding"
    assert body == plain.content
    assert on_the_wire < len(plain.content) / 2
    # The page itself and the API stay uncached.
    assert api.client.get("/docs").headers["cache-control"] == "no-store"
