"""Conditional requests (RFC 9110 §8.8.3, §13): a record's ETag, ``If-Match``, ``If-None-Match``.

A record's ETag is strong and names one version of one record: ``"<version>-<id>"``. The
version moves on with every write that changes the document and a record's id is never reused,
so two records (also a record deleted and created again under the same external id) never share
a tag, and a tag never comes back once its version is gone.

The writes fold the condition into their compare-and-set (:mod:`reach.domain.resources`): the
condition is checked against the version read, and the write lands only while the record is
still at that version, so "checked, then changed by someone else, then written" cannot happen.

Parsing and matching only; a request without these headers never builds a
:class:`Conditions`, so it pays nothing for them.
"""

from __future__ import annotations

import re
from typing import Any

from reach.errors import BadRequest, PreconditionFailed

# entity-tag = [ weak ] opaque-tag; opaque-tag = DQUOTE *etagc DQUOTE (RFC 9110 §8.8.3)
_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


def etag(record_id: str, version: int) -> str:
    return f'"{version}-{record_id}"'


class Tags:
    """One header's value: ``*`` (any current representation) or a list of entity tags."""

    __slots__ = ("any", "strong", "weak")

    def __init__(self, header: str, value: str) -> None:
        self.any = value.strip() == "*"
        self.strong: set[str] = set()  # opaque tags, quotes included
        self.weak: set[str] = set()
        if self.any:
            return
        position, text = 0, value.strip()
        while position < len(text):
            found = _TAG.match(text, position)
            if found is None or found.end() == position:
                raise BadRequest(
                    f"Invalid {header} header",
                    errors=[f'{header}: expected * or a list of entity tags such as "1-…"'],
                )
            (self.weak if found.group(1) else self.strong).add(f'"{found.group(2)}"')
            position = found.end()
        if not self.strong and not self.weak:
            raise BadRequest(f"Invalid {header} header", errors=[f"{header}: empty"])

    def strong_match(self, tag: str) -> bool:
        """RFC 9110 §8.8.3.2: a weak tag never matches strongly."""
        return tag in self.strong

    def weak_match(self, tag: str) -> bool:
        return tag in self.strong or tag in self.weak


class Conditions:
    """The preconditions of one request; ``None`` fields were not sent."""

    __slots__ = ("if_match", "if_none_match")

    def __init__(self, if_match: str | None, if_none_match: str | None) -> None:
        self.if_match = None if if_match is None else Tags("If-Match", if_match)
        self.if_none_match = None if if_none_match is None else Tags("If-None-Match", if_none_match)

    def check(self, row: Any) -> None:
        """For a write (RFC 9110 §13.2.2, steps 1 and 3): raise
        :class:`~reach.errors.PreconditionFailed` unless the record as read (``row``; None
        when it does not exist) satisfies both headers."""
        tag = None if row is None else etag(str(row["id"]), int(row["version"]))
        if self.if_match is not None:
            if tag is None:
                raise PreconditionFailed("If-Match: the record does not exist")
            if not self.if_match.any and not self.if_match.strong_match(tag):
                raise PreconditionFailed(
                    "If-Match: the record has changed (its current ETag is not one of those given)"
                )
        if self.if_none_match is not None and tag is not None:
            if self.if_none_match.any:
                raise PreconditionFailed("If-None-Match: the record already exists")
            if self.if_none_match.weak_match(tag):
                raise PreconditionFailed("If-None-Match: the record's current ETag is given")

    def holds(self, row: Any) -> bool:
        try:
            self.check(row)
        except PreconditionFailed:
            return False
        return True

    def not_modified(self, tag: str) -> bool:
        """For a GET of a record with ETag ``tag``: whether to answer 304 (§13.1.2). ``If-Match``
        on a GET fails with 412 like on a write."""
        if self.if_match is not None and not (self.if_match.any or self.if_match.strong_match(tag)):
            raise PreconditionFailed(
                "If-Match: the record has changed (its current ETag is not one of those given)"
            )
        if self.if_none_match is None:
            return False
        return self.if_none_match.any or self.if_none_match.weak_match(tag)


def from_headers(raw: list[tuple[bytes, bytes]]) -> Conditions | None:
    """The request's conditions, or None when it sent neither header. Repeated header lines
    are one comma-separated list (RFC 9110 §5.3)."""
    found: dict[bytes, list[str]] = {}
    for name, value in raw:
        if name == b"if-match" or name == b"if-none-match":
            found.setdefault(name, []).append(value.decode("latin-1"))
    if not found:
        return None
    if_match, if_none_match = found.get(b"if-match"), found.get(b"if-none-match")
    return Conditions(
        None if if_match is None else ", ".join(if_match),
        None if if_none_match is None else ", ".join(if_none_match),
    )
