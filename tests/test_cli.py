"""The ``reach`` command line, run as a real subprocess on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import click
import httpx
import jwt
import orjson
import pytest

from reach.cli import main
from reach.storage import migrate
from tests.harness import free_port

PG_URL = os.environ.get("REACH_TEST_DATABASE_URL")


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any REACH_* setting, so only the test's own apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env.update(extra)
    return env


@dataclass
class Cli:
    database_url: str

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", *args],
            env=_clean_env(REACH_DATABASE_URL=self.database_url, **env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args))

    def lines(self, *args: str) -> list[Any]:
        return [orjson.loads(line) for line in self.ok(*args).splitlines() if line.strip()]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(f"sqlite:///{tmp_path / 'cli.db'}")


def test_partners_create_prints_id_name_and_secret(cli: Cli) -> None:
    created = cli.json("partners", "create", "Acme Platform")
    assert set(created) == {"id", "name", "secret"}
    assert created["name"] == "Acme Platform"
    assert uuid.UUID(created["id"])
    assert len(created["secret"]) >= 32


def test_partners_list_never_prints_secrets(cli: Cli) -> None:
    first = cli.json("partners", "create", "One")
    second = cli.json("partners", "create", "Two")
    rotated = cli.json("partners", "rotate-secret", first["id"])
    output = cli.ok("partners", "list")
    for secret in (first["secret"], second["secret"], rotated["secret"]):
        assert secret not in output
    listed = [orjson.loads(line) for line in output.splitlines()]
    assert [(p["id"], p["name"]) for p in listed] == [(first["id"], "One"), (second["id"], "Two")]
    assert all("secret" not in p for p in listed)


def _decode(token: str, secret: str) -> dict[str, Any]:
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims: dict[str, Any] = jwt.decode(token, secret, algorithms=["HS256"])
    return claims


def test_token_prints_a_partner_jwt_signed_with_the_secret(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    token = cli.ok("token", partner["id"]).strip()
    claims = _decode(token, partner["secret"])
    assert claims["partnerId"] == partner["id"]
    assert claims["type"] == "partner"
    assert "tenantExternalId" not in claims
    assert claims["exp"] - claims["iat"] == 3600


def test_token_with_tenant_and_ttl_prints_a_tenant_jwt(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    token = cli.ok("token", partner["id"], "--tenant", "biz-9", "--ttl", "120").strip()
    claims = _decode(token, partner["secret"])
    assert claims["partnerId"] == partner["id"]
    assert claims["tenantExternalId"] == "biz-9"
    assert "type" not in claims
    assert claims["exp"] - claims["iat"] == 120


def test_rotate_secret_prints_a_new_secret_that_token_then_uses(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    rotated = cli.json("partners", "rotate-secret", partner["id"])
    assert set(rotated) == {"id", "name", "secret"}
    assert rotated["id"] == partner["id"]
    assert rotated["secret"] != partner["secret"]
    token = cli.ok("token", partner["id"]).strip()
    assert _decode(token, rotated["secret"])["partnerId"] == partner["id"]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, partner["secret"], algorithms=["HS256"])


def test_tenants_create_and_list(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    made = cli.json("tenants", "create", partner["id"], "biz-1", "--name", "Biz One")
    assert made["externalId"] == "biz-1"
    assert made["name"] == "Biz One"
    assert uuid.UUID(made["id"])
    cli.json("tenants", "create", partner["id"], "biz-2")
    listed = cli.lines("tenants", "list", partner["id"])
    assert [(t["externalId"], t["name"]) for t in listed] == [
        ("biz-1", "Biz One"),
        ("biz-2", "biz-2"),
    ]
    assert listed[0]["id"] == made["id"]


def test_tenants_are_listed_only_for_their_partner(cli: Cli) -> None:
    mine = cli.json("partners", "create", "Mine")
    theirs = cli.json("partners", "create", "Theirs")
    cli.json("tenants", "create", mine["id"], "biz-1")
    assert cli.lines("tenants", "list", theirs["id"]) == []


def test_duplicate_tenant_fails_with_message_on_stderr(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    cli.json("tenants", "create", partner["id"], "biz-1")
    result = cli.run("tenants", "create", partner["id"], "biz-1")
    assert result.returncode != 0
    assert "already exists" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        ("token", "{missing}"),
        ("token", "not-a-uuid"),
        ("partners", "rotate-secret", "{missing}"),
        ("tenants", "create", "{missing}", "biz-1"),
        ("tenants", "list", "{missing}"),
    ],
)
def test_unknown_partner_fails_with_message_on_stderr(cli: Cli, args: tuple[str, ...]) -> None:
    missing = str(uuid.uuid4())
    result = cli.run(*(arg.format(missing=missing) for arg in args))
    assert result.returncode != 0
    assert "not found" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unsupported_database_url_fails_cleanly(tmp_path: Path) -> None:
    cli = Cli("mysql://localhost/reach")
    result = cli.run("partners", "list")
    assert result.returncode != 0
    assert "database" in result.stderr.lower()
    assert "Traceback" not in result.stderr


def test_database_url_option_wins_over_the_environment(cli: Cli, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli.json("partners", "create", "In the env database")
    assert cli.lines("partners", "list", "--database-url", other) == []
    assert len(cli.lines("partners", "list")) == 1


def test_migrate_brings_an_empty_database_to_head(cli: Cli) -> None:
    result = cli.run("migrate")
    assert result.returncode == 0, result.stderr
    head = migrate.head_revision()
    assert head is not None
    assert head in result.stderr
    assert migrate.current_revision_sqlite(cli.database_url) == head


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


COMMANDS = list(_command_paths(main))


def test_every_documented_command_exists() -> None:
    expected = {
        ("serve",),
        ("migrate",),
        ("token",),
        ("partners", "create"),
        ("partners", "list"),
        ("partners", "rotate-secret"),
        ("tenants", "create"),
        ("tenants", "list"),
    }
    assert expected <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "reach")
def test_help_works_on_every_command_and_group(cli: Cli, path: tuple[str, ...]) -> None:
    result = cli.run(*path, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert "--help" in result.stdout


# -- reach serve


@dataclass
class Served:
    process: subprocess.Popen[str]
    base_url: str
    stderr: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def start_reading(self) -> None:
        def read() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.stderr.append(line)

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.text()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server never became ready:\n{self.text()}")

    def stop(self, sig: int = signal.SIGINT) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)  # our own process group only
            code = self.process.wait(timeout=10)
        if self._reader is not None:
            self._reader.join(timeout=10)
        return code

    def text(self) -> str:
        return "".join(self.stderr)


@pytest.fixture
def serve(cli: Cli) -> Iterator[Any]:
    started: list[Served] = []

    def start(database_url: str = cli.database_url) -> Served:
        port = free_port()
        process = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
            [sys.executable, "-m", "reach", "serve", "--port", str(port)],
            env=_clean_env(REACH_DATABASE_URL=database_url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        served = Served(process, f"http://127.0.0.1:{port}")
        started.append(served)
        served.start_reading()
        return served

    yield start
    for served in started:
        served.stop(signal.SIGTERM)


def _demo_requests(text: str) -> tuple[str, str, bytes, str]:
    token = re.search(r"export TOKEN=(\S+)", text)
    post = re.search(r"curl -s -X POST (\S+)", text)
    body = re.search(r"-d '(.+)'", text)
    get = re.search(r"curl -s (http\S+) -H", text)
    assert token, text
    assert post, text
    assert body, text
    assert get, text
    return token.group(1), post.group(1), body.group(1).encode(), get.group(1)


def test_serve_on_an_empty_file_prints_a_demo_that_works(serve: Any) -> None:
    first: Served = serve()
    first.wait_ready()
    token, post_url, body, get_url = _demo_requests(first.text())
    assert post_url.startswith(first.base_url)
    assert get_url.startswith(first.base_url)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    created = httpx.post(post_url, content=body, headers=headers, timeout=30)
    assert created.status_code == 200, created.text
    fetched = httpx.get(get_url, headers=headers, timeout=30)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json()["data"]["result"]["data"] == orjson.loads(body)["data"] | {
        "emailOptOut": False,
        "smsOptOut": True,
    }

    assert first.stop(signal.SIGINT) == 0, first.text()
    second: Served = serve()
    second.wait_ready()
    path = get_url.removeprefix(first.base_url)
    again = httpx.get(f"{second.base_url}{path}", headers=headers, timeout=30)
    assert again.status_code == 200, again.text
    assert second.stop(signal.SIGTERM) == 0, second.text()
    assert "export TOKEN" not in second.text()
    assert "First run" not in second.text()


@pytest.fixture
def unmigrated_postgres() -> Iterator[str]:
    if not PG_URL:
        pytest.skip("REACH_TEST_DATABASE_URL is not set")
    name = f"reach_cli_{uuid.uuid4().hex[:12]}"
    base, _, _ = PG_URL.rpartition("/")

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{base}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_serve_refuses_an_unmigrated_postgresql_database(unmigrated_postgres: str) -> None:
    cli = Cli(unmigrated_postgres)
    result = cli.run("serve", "--port", str(free_port()))
    assert result.returncode != 0
    assert "reach migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_then_serve_accepts_postgresql(unmigrated_postgres: str, serve: Any) -> None:
    cli = Cli(unmigrated_postgres)
    assert cli.run("migrate").returncode == 0
    served: Served = serve(unmigrated_postgres)
    served.wait_ready()
    ready = httpx.get(f"{served.base_url}/readyz", timeout=30)
    assert ready.json()["data"]["database"] == "postgresql"
    assert "export TOKEN" not in served.text()  # the demo is for the embedded default only
