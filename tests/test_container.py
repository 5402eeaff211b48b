"""The Dockerfile builds an image that migrates and serves: built with podman from a local
Debian base (these machines reach no container registry), then its filesystem is run by chroot
(they cannot start containers either): ``reach migrate``, ``reach serve``, ``/healthz`` and one
PATCH. Skipped, saying why, where podman, the base image or root is missing.

The base image comes from ``make-base-image`` in the shared tools (Debian bookworm minbase with
python3): ``localhost/debian-python:bookworm``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from reach import auth
from tests.harness import free_port

REPO = Path(__file__).resolve().parent.parent
PODMAN = shutil.which("podman")
BASE_IMAGE = "localhost/debian-python:bookworm"
IMAGE = "localhost/reach-server:test"


def _podman(*args: str, timeout: float = 120) -> str:
    assert PODMAN is not None
    done = subprocess.run(  # noqa: S603 - podman with fixed arguments
        [PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"podman {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout.strip()


def _skip_reason() -> str | None:
    if PODMAN is None:
        return "podman is not installed (the shared tools' make-base-image installs it)"
    if os.geteuid() != 0:
        return "running the image's filesystem by chroot needs root"
    exists = subprocess.run(  # noqa: S603 - podman with fixed arguments
        [PODMAN, "image", "exists", BASE_IMAGE], check=False
    )
    if exists.returncode != 0:
        return f"no {BASE_IMAGE} base image (build it with the shared tools' make-base-image)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def _trust_args() -> list[str]:
    """This machine's CA bundle for pip inside the build, when pip here is told to use one
    (a TLS-intercepting proxy between us and the package index)."""
    bundle = os.environ.get("PIP_CERT")
    if not bundle or not Path(bundle).is_file():
        return []
    inside = "/run/build-ca-bundle.crt"
    return ["--volume", f"{bundle}:{inside}:ro", "--build-arg", f"PIP_CERT={inside}"]


@pytest.fixture(scope="module")
def image_root() -> Iterator[Path]:
    _podman(
        "build",
        "--isolation",
        "chroot",
        "--format",
        "docker",  # keeps HEALTHCHECK, which the OCI format drops
        *_trust_args(),
        "--build-arg",
        f"BASE_IMAGE={BASE_IMAGE}",
        "--tag",
        IMAGE,
        str(REPO),
        timeout=1800,
    )
    container = _podman("create", IMAGE)
    try:
        yield Path(_podman("mount", container))
    finally:
        _podman("umount", container)
        _podman("rm", "--force", container)


def test_the_image_runs_as_a_user_with_reach_on_path_and_a_healthcheck(image_root: Path) -> None:
    inspected: dict[str, Any] = orjson.loads(_podman("image", "inspect", IMAGE))[0]
    config = inspected["Config"]
    assert config["User"] == "reach"
    assert config["Cmd"] == ["reach", "serve"]
    assert any(e.startswith("PATH=/opt/reach/bin:") for e in config["Env"])
    assert "/healthz" in " ".join(inspected["Healthcheck"]["Test"])
    # Runtime dependencies only: none of the development tools.
    site = next((image_root / "opt" / "reach" / "lib").glob("python3*/site-packages"))
    names = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"granian", "starlette", "asyncpg", "reach_server"} <= names
    assert not names & {"pytest", "mypy", "ruff", "hypothesis", "schemathesis"}


def _in_image(root: Path, *args: str, env: dict[str, str]) -> list[str]:
    return ["chroot", str(root), "/usr/bin/env", "-i", *(f"{k}={v}" for k, v in env.items()), *args]


def test_the_image_migrates_serves_and_takes_a_patch(image_root: Path) -> None:
    port = free_port()
    env = {
        "PATH": "/opt/reach/bin:/usr/local/bin:/usr/bin:/bin",
        "HOME": "/data",
        "REACH_DATABASE_URL": "sqlite:////tmp/reach-image-test.db",
        "REACH_HOST": "127.0.0.1",
        "REACH_PORT": str(port),
        "REACH_DEMO_ON_FIRST_RUN": "false",
    }

    def run(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - chroot into our own image, fixed arguments
            _in_image(image_root, *args, env=env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("reach", "migrate")
    partner = orjson.loads(run("reach", "partners", "create", "Image"))
    run("reach", "tenants", "create", partner["id"], "image-tenant")
    server = subprocess.Popen(  # noqa: S603 - chroot into our own image, fixed arguments
        _in_image(image_root, "reach", "serve", env=env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the image's server never answered /healthz"
            time.sleep(0.2)
        token = auth.mint_token(partner["id"], partner["secret"], tenant_external_id="image-tenant")
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(
            f"{base}/api/resources/customers",
            headers=headers,
            json={
                "data": {
                    "customerId": "c-1",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "createdAt": "2026-01-01T00:00:00Z",
                }
            },
            timeout=30,
        )
        assert created.status_code == 200, created.text
        patched = httpx.patch(
            f"{base}/api/resources/customers/c-1",
            headers=headers,
            json={"data": {"email": "ada@example.com"}},
            timeout=30,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["data"]["result"]["data"]["email"] == "ada@example.com"
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # our own process group only
        server.wait(timeout=30)
        for suffix in ("", "-wal", "-shm", ".key"):
            (image_root / "tmp" / f"reach-image-test.db{suffix}").unlink(missing_ok=True)
