"""``clock.new_id`` formats its UUIDs by hand (docs/benchmarks.md, *Trimming the request
path*): they must be exactly what ``str(uuid.uuid4())`` gives — canonical text, version 4,
RFC 4122 variant."""

from __future__ import annotations

import uuid

from reach import clock


def test_new_ids_are_canonical_random_version_4_uuids() -> None:
    ids = [clock.new_id() for _ in range(5000)]
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # lower case, hyphens where uuid puts them
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
    assert len(set(ids)) == len(ids)
    # Every variant nibble (8, 9, a, b) turns up: the random bits are not lost to the mask.
    assert {text[19] for text in ids} == set("89ab")
