"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com/).

A secret is ``whsec_`` + base64 of random bytes; the HMAC key is those bytes. A message is
signed as ``HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{body}")`` and the header
carries ``v1,<base64 signature>``, one per secret, space-separated — during a rotation both the
new and the old secret sign, so a receiver holding either one verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def key_of(secret: str) -> bytes:
    try:
        return base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a whsec_ secret") from None


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> bytes:
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    return b"v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())


def headers(
    keys: Sequence[bytes], message_id: str, timestamp: int, body: bytes
) -> tuple[tuple[bytes, bytes], ...]:
    """The three Standard Webhooks headers, as the sender writes them (bytes), signed with
    every key given (newest first)."""
    return (
        (b"webhook-id", message_id.encode()),
        (b"webhook-timestamp", b"%d" % timestamp),
        (b"webhook-signature", b" ".join(signature(k, message_id, timestamp, body) for k in keys)),
    )
