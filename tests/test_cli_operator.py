"""The ``reach`` command where an operator trips: the wrong directory, bad arguments, a pipe
that closes early, a restored database without its key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from reach.client import Client
from tests.harness import Harness, PartnerKey
from tests.test_cli import Cli, _clean_env, cli

__all__ = ["cli"]  # the fixture, re-exported for pytest


@pytest.mark.parametrize(
    "args",
    [
        ("partners", "list"),
        ("tenants", "list", "00000000-0000-0000-0000-000000000000"),
        ("token", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_read_only_commands_never_create_a_database(tmp_path: Path, args: tuple[str, ...]) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'nowhere' / 'reach.db'}")
    result = cli.run(*args)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: no database at {tmp_path / 'nowhere' / 'reach.db'}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_read_only_commands_never_migrate_an_old_database(cli: Cli) -> None:
    assert cli.run("migrate").returncode == 0
    path = Path(cli.database_url.removeprefix("sqlite:///"))
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    result = cli.run("partners", "list")
    assert result.returncode == 1
    assert "run `reach migrate` first" in result.stderr
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0001",)


def test_token_for_a_tenant_that_does_not_exist_is_refused(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    result = cli.run("token", partner["id"], "--tenant", "does-not-exist")
    assert result.returncode == 1
    assert f"Tenant 'does-not-exist' of partner {partner['id']} not found" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("ttl", ["-100", "0"])
def test_token_with_a_ttl_that_is_not_positive_is_refused(cli: Cli, ttl: str) -> None:
    partner = cli.json("partners", "create", "P")
    result = cli.run("token", partner["id"], "--ttl", ttl)
    assert result.returncode == 2
    assert "--ttl" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name", ["", "   "])
def test_partners_create_refuses_an_empty_name(cli: Cli, name: str) -> None:
    result = cli.run("partners", "create", name)
    assert result.returncode == 1
    assert "name: must not be empty" in result.stderr
    assert cli.lines("partners", "list") == []


def test_a_fresh_key_is_never_made_beside_a_database_with_sealed_secrets(cli: Cli) -> None:
    partner = cli.json("partners", "create", "P")
    key = Path(cli.database_url.removeprefix("sqlite:///") + ".key")
    key.unlink()  # a restore that forgot the key file
    for args in (("token", partner["id"]), ("partners", "create", "Q"), ("serve", "--port", "0")):
        result = cli.run(*args)
        assert result.returncode == 1, args
        assert "is missing" in result.stderr, args
        assert "restore the key file" in result.stderr, args
        assert not key.exists(), args


def test_export_into_a_pipe_closed_early_exits_quietly(
    api: Harness, partner: PartnerKey, tenant: str
) -> None:
    rows = [
        {
            "customerId": f"c-{n}",
            "firstName": "Export",
            "lastName": "Pipe" * 20,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        for n in range(2000)
    ]
    with Client.for_partner(api.base_url, partner.id, partner.secret, tenant=tenant) as client:
        # Two pages of export: the second is written after the reader has gone.
        for start in (0, 1000):
            assert client.upload("customers", rows[start : start + 1000]).status == "success"
    export = subprocess.Popen(  # noqa: S603 - our own entry point, fixed arguments
        [sys.executable, "-m", "reach", "export", "customers", "--tenant", tenant],
        env=_clean_env(
            REACH_URL=api.base_url,
            REACH_PARTNER_ID=partner.id,
            REACH_PARTNER_SECRET=partner.secret,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None
    assert export.stdout.readline().startswith(b"{")
    export.stdout.close()  # `| head -1`
    _, stderr = export.communicate(timeout=120)
    assert export.returncode == 0, stderr
    assert b"Broken pipe" not in stderr
    assert b"Traceback" not in stderr
