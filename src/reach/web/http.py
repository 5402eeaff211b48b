"""Request and response plumbing shared by every route: body limits, JSON, the envelope."""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
import orjson
from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.types import Receive, Scope

from reach.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from reach.flags import parse_flag

T = TypeVar("T")

_JSON_TYPES = ("application/json", "application/merge-patch+json")
_MSGSPEC_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class _Envelope(JSONResponse):
    """A success envelope, built without Response.__init__'s general path (render, then a
    header list assembled from optional parts): on a PATCH that was a visible share of the
    response's cost. The headers are the ones Starlette would write, in its order."""

    def __init__(self, data: Any, message: str, status: int) -> None:
        self.status_code = status
        self.background = None
        self.body = body = orjson.dumps({"success": True, "message": message, "data": data})
        self.raw_headers = [(b"content-length", str(len(body)).encode()), _JSON_CONTENT_TYPE]


_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


def ok(data: Any, message: str = "OK", status: int = 200) -> JSONResponse:
    if status < 200 or status in (204, 304):  # no content-length for these (Starlette's rule)
        return JSONResponse({"success": True, "message": message, "data": data}, status)
    return _Envelope(data, message, status)


async def read_body(receive: Receive, content_length: str | None, limit: int) -> bytes:
    """The raw body, refusing anything over ``limit`` bytes before reading it all."""
    if content_length is not None:
        if not content_length.isdigit():
            raise BadRequest("Invalid Content-Length header")
        if int(content_length) > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
    # Straight from ASGI receive: Starlette's stream() generator costs more than a small
    # body's whole read.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # The client closed mid-body, or the server dropped a malformed chunked body: the
            # same message either way. A 400 is what the second gets; the first gets nothing
            # (nobody is listening), and neither is a fault of ours (no 500, no traceback).
            raise BadRequest(
                "Request body incomplete",
                errors=[
                    "body: the connection ended before the body did, or its framing was invalid"
                ],
            )
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def json_body(
    receive: Receive, content_type: str, content_length: str | None, limit: int
) -> Any:
    """The decoded JSON body; 415 for another content type, 400 for a missing or malformed
    body. A request with neither a body nor a Content-Type lacks its body (400, as the
    published contract answers bad requests); one that sends content of no declared type,
    or of another type, is a 415."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type not in _JSON_TYPES:
        if not media_type and not (await read_body(receive, content_length, limit)).strip():
            raise BadRequest("Request body is empty; expected a JSON object")
        raise UnsupportedMediaType(
            "Content-Type must be application/json", errors=[f"got {content_type or 'none'!r}"]
        )
    raw = await read_body(receive, content_length, limit)
    if not raw.strip():
        raise BadRequest("Request body is empty; expected a JSON object")
    return decode_json(raw)


def decode_json(raw: bytes) -> Any:
    """orjson, plus what it does not refuse by itself: duplicate keys (it keeps the last one
    silently, so ``{"email": "a", "email": "b"}`` would store whichever a proxy did not check)
    and nesting deeper than it can write back (~250 levels), which would fail on storing."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("Malformed JSON body", errors=[f"body: {exc}"]) from None
    colons = raw.count(b":")
    if colons:  # no colon, no object key, no duplicate
        _refuse_duplicate_keys(raw, value, colons)
    return value


def _refuse_duplicate_keys(raw: bytes, value: Any, colons: int) -> None:
    """Cheap and exact, see docs/decisions.md: every key in the body is followed by one
    colon, and so is every key in ``value`` written back by orjson (which writes string
    colons literally). With no ``\u003a`` escape in the body, the counts are equal exactly
    when no key was dropped; otherwise the stdlib parser finds the duplicates."""
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError:
        raise BadRequest(
            "JSON body nested too deeply", errors=["body: nested too deeply"]
        ) from None
    if written.count(b":") == colons and b"\\u003" not in raw:
        return
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                duplicates.append(key)
            seen.add(key)
        return dict(items)

    json.loads(raw, object_pairs_hook=pairs)
    if duplicates:
        raise BadRequest(
            "Duplicate keys in JSON body",
            errors=[f"body: duplicate key {key!r}" for key in dict.fromkeys(duplicates)],
        )


def convert(value: Any, into: type[T], *, where: str = "body") -> T:
    """Turn decoded JSON into a typed struct, with a 400 naming the offending field."""
    refuse_nul(value)
    try:
        return msgspec.convert(value, into)
    except msgspec.ValidationError as exc:
        raise BadRequest("Validation failed", errors=[describe_msgspec_error(exc, where)]) from None


def refuse_nul(value: Any) -> None:
    """400 if any key or string holds U+0000: PostgreSQL's text and jsonb cannot store it, so
    it would be a 500 there and stored on SQLite — refused alike on both instead."""
    from reach.domain.documents import nul_characters

    found = nul_characters(value, "")
    if found:
        raise BadRequest(
            "Validation failed",
            errors=[f"{path[1:]}: must not contain the NUL character (U+0000)" for path in found],
        )


def query_params(query_string: bytes) -> QueryParams:
    """The parsed query string; requests without one (most) share one empty instance."""
    return QueryParams(query_string) if query_string else _NO_QUERY


class _NoQuery(QueryParams):
    """The empty query string. ``get`` of the general class finds a missing name by catching
    a KeyError, which a PATCH paid for on every lookup of an optional parameter."""

    def get(self, key: Any, default: Any = None) -> Any:
        return default

    def getlist(self, key: Any) -> list[Any]:
        return []


_NO_QUERY = _NoQuery()


def refuse_nul_in_url(scope: Scope) -> None:
    """The same for path parameters and query values (``%00``); a substring test first, so a
    normal request pays next to nothing."""
    if "\x00" not in scope["path"] and b"%00" not in scope["query_string"]:
        return
    named = [
        *scope.get("path_params", {}).items(),
        *query_params(scope["query_string"]).multi_items(),
    ]
    errors = [f"{n}: must not contain the NUL character (U+0000)" for n, v in named if "\x00" in v]
    if errors:
        raise BadRequest("Validation failed", errors=errors)


def describe_msgspec_error(exc: msgspec.ValidationError, where: str) -> str:
    text = str(exc)
    match = _MSGSPEC_PATH.search(text)
    path = where
    if match:
        text = text[: match.start()]
        inner = match.group("path")
        path = f"{where}.{inner}" if inner else where
    text = text.replace("`", "")
    return f"{path}: {text[:1].lower()}{text[1:]}"


def query_bool(query: QueryParams, name: str, default: bool = False) -> bool:
    """Every boolean query flag goes through here (the rule: :mod:`reach.flags`)."""
    return parse_flag(query.get(name), name, default, label=f"query parameter {name}")


def query_int(query: QueryParams, name: str, default: int, *, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "" or raw == "null":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(
            f"Invalid query parameter {name}", errors=[f"{name}: expected an integer"]
        ) from None
    if not low <= value <= high:
        raise BadRequest(
            f"Invalid query parameter {name}",
            errors=[f"{name}: must be between {low} and {high}"],
        )
    return value


def query_choice(query: QueryParams, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = query.get(name) or default
    if raw not in choices:
        raise BadRequest(
            f"Invalid query parameter {name}",
            errors=[f"{name}: must be one of {', '.join(choices)}"],
        )
    return raw
