"""Partner signing secrets encrypted at rest (AES-256-GCM), with a key that is not in the database.

Whoever holds a partner's secret can sign tokens for every one of its tenants. Encrypting the
column means a database dump, a backup or a read-only SQL injection alone does not hand out
those secrets: the attacker also needs the key, which lives in ``REACH_SECRET_KEY`` or, for the
embedded SQLite default only, in a 0600 key file beside the database (``reach.db.key``).

Each ciphertext is bound to its partner (the partner id is the GCM associated data), so rows
cannot be swapped between partners by someone who can write to the database but lacks the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
import sqlite3
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reach.errors import ConfigError, ServiceUnavailable

PREFIX = "enc:v1:"
KEY_BYTES = 32
_NONCE_BYTES = 12
KEYGEN_HINT = (
    "generate one with `reach keygen` and set REACH_SECRET_KEY to it "
    "(keep it out of the database and its backups)"
)


def new_key() -> str:
    """A fresh key in the form ``REACH_SECRET_KEY`` takes."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def parse_key(encoded: str, where: str = "REACH_SECRET_KEY") -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{where}: not valid base64; {KEYGEN_HINT}") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{where}: must decode to {KEY_BYTES} bytes, got {len(key)}")
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, partner_id: str, secret: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), partner_id.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, partner_id: str, stored: str) -> str:
        if not stored.startswith(PREFIX):
            # Only a database changed behind our back holds plaintext after migration 0003.
            raise ServiceUnavailable("A partner secret is stored unencrypted; run `reach migrate`")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :])
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], partner_id.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise ServiceUnavailable(
                "Partner secrets cannot be decrypted: REACH_SECRET_KEY (or the key file) is "
                "not the key they were encrypted with"
            ) from None
        return plain.decode()

    def __repr__(self) -> str:
        return "SecretBox(<key redacted>)"


def key_file_for(sqlite_file: str) -> Path:
    return Path(sqlite_file + ".key")


def box_for(database_url: str, secret_key: str) -> SecretBox:
    """The box for a configured database: ``secret_key`` if given, else (SQLite only) the key
    file beside the database, created on first use."""
    if secret_key.strip():
        return SecretBox(parse_key(secret_key))
    if database_url.startswith(("postgresql:", "postgres:")):
        raise ConfigError(
            "REACH_SECRET_KEY is required with PostgreSQL: partner secrets are encrypted with "
            f"a key that does not live in the database; {KEYGEN_HINT}"
        )
    from reach.storage.sqlite_files import sqlite_path

    database = sqlite_path(database_url)
    key_file = key_file_for(database)
    if not key_file.exists() and _holds_sealed_secrets(database):
        # A fresh key beside a restored database would make every stored secret unreadable.
        raise ConfigError(
            f"{key_file} is missing, but {database} holds partner secrets sealed with a key: "
            "restore the key file that was backed up with the database (or set "
            "REACH_SECRET_KEY to that key); a new key cannot open them"
        )
    return SecretBox(_key_file(key_file))


def _holds_sealed_secrets(database: str) -> bool:
    if not Path(database).is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{Path(database).absolute()}?mode=ro", uri=True)
    except sqlite3.Error:
        return False
    try:
        row = conn.execute(
            "SELECT 1 FROM partner_secrets WHERE sealed_secret IS NOT NULL LIMIT 1"
        ).fetchone()
    except sqlite3.Error:
        return False  # not migrated that far (no table or column yet): nothing sealed
    finally:
        conn.close()
    return row is not None


def _key_file(path: Path) -> bytes:
    if not path.exists():
        _create_key_file(path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path}: the key file must be readable by its owner only; run `chmod 600 {path}`"
        )
    return parse_key(path.read_text(), where=str(path))


def _create_key_file(path: Path) -> None:
    """Written whole under a temporary name, then linked into place: several processes
    starting at once agree on one key, and none ever reads a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(new_key() + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        # If another process won the race, its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
