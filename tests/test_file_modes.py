"""The embedded database holds partners' customer data: its file and SQLite's ``-wal`` and
``-shm`` files are readable by their owner only, like the key file beside them, whatever the
umask. (SQLite only: PostgreSQL keeps no files of ours.)"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batch_helpers import customer
from tests.harness import served


@pytest.fixture
def open_umask() -> Iterator[None]:
    previous = os.umask(0o022)  # the common default, which made the files 0644
    try:
        yield
    finally:
        os.umask(previous)


def _modes(db: Path) -> dict[str, int]:
    return {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}.key"))
        if path.exists()
    }


def _write_one(db: Path) -> dict[str, int]:
    """Serve the real app on ``db``, store a record (so SQLite has made its -wal and -shm
    files), and report every file's mode while the server still runs."""
    with served("sqlite", f"sqlite:///{db}", batch_worker=False, secret_key="") as api:
        partner = api.new_partner()
        tenant = api.new_tenant(partner)
        response = api.client.post(
            "/api/resources/customers",
            json={"data": customer("c-1")},
            headers=api.tenant_headers(partner, tenant),
        )
        assert response.status_code == 200, response.text
        return _modes(db)


def test_a_new_database_and_its_wal_and_shm_files_are_owner_only(
    tmp_path: Path, open_umask: None
) -> None:
    db = tmp_path / "fresh" / "reach.db"
    modes = _write_one(db)
    assert set(modes) == {"reach.db", "reach.db-wal", "reach.db-shm", "reach.db.key"}
    assert modes == dict.fromkeys(modes, 0o600)


def test_an_existing_world_readable_database_is_narrowed_to_its_owner(
    tmp_path: Path, open_umask: None
) -> None:
    db = tmp_path / "reach.db"
    _write_one(db)
    for name in _modes(db):
        if name != "reach.db.key":
            (tmp_path / name).chmod(0o644)  # as versions before this rule created them
    modes = _write_one(db)
    assert modes == dict.fromkeys(modes, 0o600)
