"""``reach backup``: a consistent SQLite copy taken while the server writes, restorable only
with the key file it writes beside it; on PostgreSQL, advice instead of a silent nothing."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import httpx
import jwt
import pytest

from tests.harness import TEST_SECRET_KEY, Harness, PartnerKey
from tests.test_cli import Cli, cli

__all__ = ["cli"]  # the fixture, re-exported for pytest


def test_backup_copies_the_database_and_its_key_and_restores(cli: Cli, tmp_path: Path) -> None:
    partner = cli.json("partners", "create", "P")
    target = tmp_path / "backups" / "reach-copy.db"
    made = cli.json("backup", str(target))
    assert made["database"] == str(target)
    assert made["keyFile"] == f"{target}.key"
    for path in (target, Path(f"{target}.key")):
        assert path.stat().st_mode & 0o777 == 0o600
    source_key = Path(cli.database_url.removeprefix("sqlite:///") + ".key")
    assert Path(f"{target}.key").read_text() == source_key.read_text()

    restored = Cli(f"sqlite:///{target}")
    token = restored.ok("token", partner["id"]).strip()
    assert jwt.decode(token, partner["secret"], algorithms=["HS256"])["partnerId"] == partner["id"]

    again = cli.run("backup", str(target))
    assert again.returncode == 1
    assert "already exists" in again.stderr

    Path(f"{target}.key").unlink()  # restored without its key: refused, not re-keyed
    refused = restored.run("token", partner["id"])
    assert refused.returncode == 1
    assert "restore the key file" in refused.stderr
    assert not Path(f"{target}.key").exists()


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_backup_under_write_load_is_consistent(
    api: Harness, partner: PartnerKey, tenant: str, tmp_path: Path
) -> None:
    headers = api.tenant_headers(partner, tenant)
    stop = threading.Event()
    written: list[int] = []

    def write() -> None:
        with httpx.Client(base_url=api.base_url, headers=headers, timeout=30) as client:
            n = 0
            while not stop.is_set():
                response = client.post(
                    "/api/resources/customers",
                    json={
                        "data": {
                            "customerId": f"load-{n}",
                            "firstName": "Load",
                            "lastName": str(n),
                            "createdAt": "2026-01-01T00:00:00Z",
                        }
                    },
                )
                assert response.status_code == 200, response.text
                n += 1
                written.append(n)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(written) < 20:
            threading.Event().wait(0.01)
        target = tmp_path / "under-load.db"
        cli = Cli(api.database_url)
        made = cli.run("backup", str(target), REACH_SECRET_KEY=TEST_SECRET_KEY)
        during = len(written)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert made.returncode == 0, made.stderr
    assert '"keyFile": null' in made.stdout  # the key is REACH_SECRET_KEY, not a file
    assert not Path(f"{target}.key").exists()
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (tenant_id,) = conn.execute(
            "SELECT id FROM tenants WHERE partner_id = ? AND external_id = ?", (partner.id, tenant)
        ).fetchone()
        copied = conn.execute(
            "SELECT count(*) FROM resources WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()[0]
        counted = conn.execute(
            "SELECT sum(count) FROM resource_counts WHERE tenant_id = ?", (tenant_id,)
        ).fetchone()[0]
    assert 0 < copied <= during + 1
    assert counted == copied  # the counters and the rows come from one snapshot


def test_backup_on_postgresql_says_how_and_makes_nothing(
    scratch_postgres: str, tmp_path: Path
) -> None:
    cli = Cli(scratch_postgres)
    target = tmp_path / "pg.dump"
    result = cli.run("backup", str(target))
    assert result.returncode == 1
    assert f"pg_dump --format=custom --file={target}" in result.stderr
    assert "REACH_SECRET_KEY" in result.stderr
    assert "Prerequisite" in result.stderr
    assert not target.exists()
