"""Opaque keyset cursors: base64url JSON naming the list they belong to and its last key.

A cursor carries no authority — every page query is still scoped to the caller — so a forged
cursor can at worst skip ahead in the caller's own data. Malformed ones get a 400.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from reach.errors import BadRequest


def encode_cursor(kind: str, key: list[Any]) -> str:
    raw = orjson.dumps({"k": kind, "v": key})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str, arity: int) -> list[Any] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise BadRequest(
            "Invalid cursor", errors=["cursor: not a cursor issued by this server"]
        ) from None
    if (
        not isinstance(decoded, dict)
        or decoded.get("k") != kind
        or not isinstance(decoded.get("v"), list)
        or len(decoded["v"]) != arity
        or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in decoded["v"])
    ):
        raise BadRequest("Invalid cursor", errors=["cursor: not a cursor for this list"])
    key: list[Any] = decoded["v"]
    return key
