"""Secrets at rest and in transit: encrypted in the database, never logged, never returned
after creation; the key never in the database; clear refusals when it is missing."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa

from reach import secretbox
from reach.config import load_settings
from reach.domain import partners
from reach.errors import ConfigError, ServiceUnavailable
from reach.storage import migrate
from reach.storage.database import Connection
from tests.harness import Harness, PartnerKey
from tests.test_cli import Cli


def _dump(api: Harness) -> str:
    """Every row of every table, as an attacker with a database dump would see it."""

    async def work(conn: Connection) -> str:
        tables = [
            "partners",
            "partner_secrets",
            "tenants",
            "schema_definitions",
            "resources",
            "batches",
            "batch_items",
        ]
        parts = []
        for table in tables:
            rows = await conn.fetch(f"SELECT * FROM {table}")  # noqa: S608 - constant names
            parts.extend(repr(tuple(row)) for row in rows)
        return "\n".join(parts)

    return api.transaction(work)


def test_a_database_dump_holds_no_partner_secret(api: Harness, partner: PartnerKey) -> None:
    rotated = api.transaction(lambda conn: partners.rotate_secret(conn, api.box, partner.id))
    dump = _dump(api)
    assert partner.secret not in dump
    assert rotated.secret not in dump
    assert secretbox.PREFIX in dump


def test_sealed_secrets_are_bound_to_their_partner() -> None:
    box = secretbox.SecretBox(os.urandom(32))
    sealed = box.seal("partner-a", "s3cret")
    assert box.open("partner-a", sealed) == "s3cret"
    with pytest.raises(ServiceUnavailable):
        box.open("partner-b", sealed)  # a row copied to another partner does not decrypt
    with pytest.raises(ServiceUnavailable):
        secretbox.SecretBox(os.urandom(32)).open("partner-a", sealed)  # nor under another key


def test_no_response_or_log_line_carries_a_secret_or_token(
    api: Harness, partner: PartnerKey, tenant: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    partner_headers = api.partner_headers(partner)
    tenant_headers = api.tenant_headers(partner, tenant)
    tokens = [partner_headers["Authorization"][7:], tenant_headers["Authorization"][7:]]
    responses = [
        api.client.get("/partner/tenants", headers=partner_headers),
        api.client.get(f"/partner/tenants/{tenant}", headers=partner_headers),
        api.client.get("/partner/schema-definitions", headers=partner_headers),
        api.client.get("/openapi.json", headers=partner_headers),
        api.client.get("/api/resources/customers", headers=tenant_headers),
        api.client.get("/api/resources/customers/nope", headers=tenant_headers),
        api.client.post("/api/resources/customers", json={"data": {}}, headers=tenant_headers),
        api.client.get("/partner/tenants", headers={"Authorization": "Bearer " + tokens[0][:-2]}),
    ]
    for response in responses:
        assert response.status_code < 500, response.text
        for secret in (partner.secret, *tokens):
            assert secret not in response.text
    for secret in (partner.secret, *tokens):
        assert secret not in caplog.text


def test_settings_never_show_the_key() -> None:
    key = secretbox.new_key()
    settings = load_settings(env={"REACH_SECRET_KEY": key})
    assert key not in repr(settings)
    assert key not in str(settings)
    assert "<redacted>" in repr(settings)


def test_keygen_prints_a_usable_key(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'k.db'}")
    key = cli.ok("keygen").strip()
    assert len(secretbox.parse_key(key)) == 32
    assert cli.ok("keygen").strip() != key


def test_sqlite_key_file_is_created_owner_only_beside_the_database(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'data' / 'reach.db'}")
    created = cli.json("partners", "create", "Acme")
    key_file = tmp_path / "data" / "reach.db.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert created["secret"] not in (tmp_path / "data" / "reach.db").read_bytes().decode("latin-1")
    token = cli.ok("token", created["id"]).strip()  # decrypts with the same key file
    assert token.count(".") == 2


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'reach.db'}")
    cli.json("partners", "create", "Acme")
    (tmp_path / "reach.db.key").chmod(0o644)
    result = cli.run("partners", "create", "Other")
    assert result.returncode != 0
    assert "chmod 600" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_key_is_a_clear_error_not_a_silent_401(tmp_path: Path) -> None:
    cli = Cli(f"sqlite:///{tmp_path / 'reach.db'}")
    created = cli.json("partners", "create", "Acme")
    result = cli.run("token", created["id"], REACH_SECRET_KEY=secretbox.new_key())
    assert result.returncode != 0
    assert "cannot be decrypted" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_invalid_key_is_refused_with_how_to_make_one() -> None:
    with pytest.raises(ConfigError, match="reach keygen"):
        secretbox.box_for("sqlite:///x.db", "not base64!")
    with pytest.raises(ConfigError, match="32 bytes"):
        secretbox.box_for("sqlite:///x.db", "c2hvcnQ=")
    with pytest.raises(ConfigError, match="reach keygen"):
        secretbox.box_for("postgresql://u@h/db", "")


def test_sqlite_plaintext_secrets_are_encrypted_by_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0002")
    partner_id = str(uuid.uuid4())
    engine = sa.create_engine(migrate.sqlalchemy_url(url))
    with engine.begin() as conn:
        _insert_plaintext(conn, partner_id, "old-plaintext-secret")
    migrate.upgrade(url)
    with engine.connect() as conn:
        sealed = conn.execute(sa.text("SELECT sealed_secret FROM partner_secrets")).scalar_one()
    engine.dispose()
    assert "old-plaintext-secret" not in (tmp_path / "old.db").read_bytes().decode("latin-1")
    box = secretbox.box_for(url, "")
    assert box.open(partner_id, sealed) == "old-plaintext-secret"


def _insert_plaintext(conn: sa.Connection, partner_id: str, secret: str) -> None:
    at = "2026-01-01T00:00:00.000Z"
    conn.execute(
        sa.text("INSERT INTO partners (id, name, created_at, updated_at) VALUES (:i, 'p', :a, :a)"),
        {"i": partner_id, "a": at},
    )
    conn.execute(
        sa.text(
            "INSERT INTO partner_secrets (id, partner_id, secret, created_at) "
            "VALUES (:i, :p, :s, :a)"
        ),
        {"i": str(uuid.uuid4()), "p": partner_id, "s": secret, "a": at},
    )


def test_postgresql_migration_refuses_plaintext_without_a_key_then_encrypts_with_one(
    scratch_postgres: str,
) -> None:
    migrate.upgrade(scratch_postgres, "0002")
    partner_id = str(uuid.uuid4())

    async def insert() -> None:
        conn = await asyncpg.connect(scratch_postgres)
        try:
            at = datetime(2026, 1, 1, tzinfo=UTC)
            await conn.execute(
                "INSERT INTO partners (id, name, created_at, updated_at) VALUES ($1, 'p', $2, $2)",
                partner_id,
                at,
            )
            await conn.execute(
                "INSERT INTO partner_secrets (id, partner_id, secret, created_at) "
                "VALUES ($1, $2, 'pg-plaintext', $3)",
                str(uuid.uuid4()),
                partner_id,
                at,
            )
        finally:
            await conn.close()

    asyncio.run(insert())
    cli = Cli(scratch_postgres)
    refused = cli.run("migrate")
    assert refused.returncode != 0
    assert "reach keygen" in refused.stderr
    assert "Traceback" not in refused.stderr
    key = secretbox.new_key()
    done = cli.run("migrate", REACH_SECRET_KEY=key)
    assert done.returncode == 0, done.stderr

    async def sealed() -> str:
        conn = await asyncpg.connect(scratch_postgres)
        try:
            value: str = await conn.fetchval("SELECT sealed_secret FROM partner_secrets")
            return value
        finally:
            await conn.close()

    assert secretbox.SecretBox(secretbox.parse_key(key)).open(partner_id, asyncio.run(sealed()))
    no_key = cli.run("partners", "create", "Other")
    assert no_key.returncode != 0
    assert "REACH_SECRET_KEY is required" in no_key.stderr
