"""The ``reach`` command line on a temporary SQLite file: in-process through click's CliRunner,
with a few smoke tests as a real subprocess (``Cli(..., process=True)``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import jwt
import orjson
import pytest
from click.testing import CliRunner

from reach.cli import main
from reach.storage import migrate
from tests.harness import free_port


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any REACH_* setting, so only the test's own apply."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACH_")}
    env.update(extra)
    return env


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    """Runs ``reach`` in-process through click's CliRunner (fast); ``process=True`` runs it as
    a real subprocess instead — kept for the smoke tests of exit status, streams and
    tracebacks, which only a real process shows."""

    database_url: str
    process: bool = False

    def run(self, *args: str, **env: str) -> Ran:
        if self.process:
            done = subprocess.run(  # noqa: S603 - our own entry point, fixed arguments
                [sys.executable, "-m", "reach", *args],
                env=_clean_env(REACH_DATABASE_URL=self.database_url, **env),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            return Ran(done.returncode, done.stdout, done.stderr)
        # The caller's REACH_* settings removed (None unsets), only the test's own apply.
        cleared: dict[str, str | None] = {k: None for k in os.environ if k.startswith("REACH_")}
        result = CliRunner().invoke(
            main, list(args), env={**cleared, "REACH_DATABASE_URL": self.database_url, **env}
        )
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a real process would have printed a traceback
        return Ran(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return orjson.loads(self.ok(*args))

    def lines(self, *args: str) -> list[Any]:
        return [orjson.loads(line) for line in self.ok(*args).splitlines() if line.strip()]


@pytest.fixture
def cli(tmp_path: Path, migrated_sqlite: Path) -> Cli:
    """A database of the test's own, already at head: a copy of the test process's migrated
    template (``migrated_sqlite``), so the commands find it as an operator's file. The
    commands still check the revision and run their no-op upgrade on it."""
    path = tmp_path / "cli.db"
    shutil.copy(migrated_sqlite, path)  # the mode (0600) too
    return Cli(f"sqlite:///{path}")


def test_partners_create_prints_id_name_and_secret(cli: Cli) -> None:
    cli.process = True  # a smoke test: the real entry point, as a process
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
    cli.json("tenants", "create", partner["id"], "biz-9")
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
    cli.process = True  # a smoke test: stderr and the exit status of a real process
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
    cli.run("migrate")  # the database exists; the partner does not
    missing = str(uuid.uuid4())
    result = cli.run(*(arg.format(missing=missing) for arg in args))
    assert result.returncode != 0
    assert "not found" in result.stderr.lower()
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_unsupported_database_url_fails_cleanly(tmp_path: Path) -> None:
    cli = Cli("mysql://localhost/reach", process=True)
    result = cli.run("partners", "list")
    assert result.returncode != 0
    assert "database" in result.stderr.lower()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "sqlite:////proc/no-such-dir/reach.db",  # cannot be created
    ],
    ids=["unreachable postgresql", "uncreatable sqlite file"],
)
@pytest.mark.parametrize("args", [("migrate",), ("partners", "list"), ("serve",)])
def test_unusable_database_fails_with_a_message_not_a_traceback(
    url: str, args: tuple[str, ...]
) -> None:
    extra = ("--port", str(free_port())) if args == ("serve",) else ()
    result = Cli(url, process=True).run(*args, *extra)
    assert result.returncode != 0
    assert result.stderr.startswith("Error:"), result.stderr
    assert "Traceback" not in result.stderr


def test_validation_errors_are_spelled_out(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    result = cli.run("tenants", "create", partner["id"], " ")
    assert result.returncode != 0
    assert "external_id: must not be empty" in result.stderr


def test_database_url_option_wins_over_the_environment(cli: Cli, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert cli.run("migrate", "--database-url", other).returncode == 0
    cli.json("partners", "create", "In the env database")
    assert cli.lines("partners", "list", "--database-url", other) == []
    assert len(cli.lines("partners", "list")) == 1


def test_migrate_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'empty.db'}")
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
