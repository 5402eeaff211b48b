"""PostgreSQL's ``reach_utc(text)`` (migration 0018; 0007's before it) answers exactly what
:func:`reach.storage.utc.utc_text` answers — the function SQLite calls — for date-times, near
misses of every part of the form, and other text. SQLite has nothing to compare: it calls the
Python function itself."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from reach.storage import migrate
from reach.storage.utc import utc_text

EDGES = [
    "2024-02-29",
    "2023-02-29",
    "1900-02-29",
    "2000-02-29",
    "2026-04-31",
    "2026-04-30",
    "2026-00-10",
    "2026-13-10",
    "2026-12-00",
    "0999-12-31",
    "1000-01-01",
    "9999-12-31",
    "1000-01-01T00:30:00+01:00",
    "9999-12-31T23:30:00-01:00",
    "9999-12-31T23:30:00+01:00",
    "2026-01-01T00:00:00Z",
    "2026-01-01T23:59:59.999999Z",
    "2026-01-01T23:59:59.9999999Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T23:60:00Z",
    "2026-01-01T23:00:60Z",
    "2026-01-01T12:00:00+14:59",
    "2026-01-01T12:00:00+15:00",
    "2026-01-01T12:00:00-14:60",
    "2026-01-01T12:00:00+00:00",
    "2026-01-01T12:00:00-00:00",
    "2026-01-01T12:00:00.5-03:30",
    "2026-01-01t12:00:00z",
    "2026-01-01T12:00:00",
    "2026-01-01 12:00:00Z",
    "2026-01-01T12:00Z",
    "2026-01-01\n",
    "2026-1-01",
    "+2026-01-01",
    "\uff12\uff10\uff12\uff16-01-01",  # full-width digits are not [0-9]
    "",
    "0",
    "true",
    '{"a": 1}',
    "2026-01-01T12:00:00.Z",
]


def _generated(count: int) -> list[str]:
    """Date-times made of parts that are each valid or just out of range, some mangled."""
    rng = random.Random(15)  # noqa: S311 - a fixed sample, not a secret
    out = []
    for _ in range(count):
        year = rng.choice(["0999", "1000", "1900", "2000", "2023", "2024", "9999", "0000"])
        month = f"{rng.randint(0, 13):02d}"
        day = f"{rng.choice([0, 1, 15, 28, 29, 30, 31, 32]):02d}"
        text = f"{year}-{month}-{day}"
        if rng.random() < 0.85:
            hour, minute, second = rng.randint(0, 25), rng.randint(0, 61), rng.randint(0, 61)
            text += f"T{hour:02d}:{minute:02d}:{second:02d}"
            if rng.random() < 0.5:
                text += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 7)))
            zone = rng.random()
            if zone < 0.4:
                text += "Z"
            elif zone < 0.95:
                sign = rng.choice("+-")
                text += f"{sign}{rng.randint(0, 16):02d}:{rng.choice([0, 30, 45, 59, 60]):02d}"
        if rng.random() < 0.05:
            spot = rng.randrange(len(text))
            text = text[:spot] + rng.choice("x9 -:T") + text[spot + 1 :]
        out.append(text)
    return out


async def _answers(url: str, texts: list[str]) -> list[str | None]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT reach_utc(t) AS u FROM unnest($1::text[]) WITH ORDINALITY AS x(t, n) "
            "ORDER BY n",
            texts,
        )
    finally:
        await conn.close()
    return [row["u"] for row in rows]


@pytest.mark.parametrize("revision", ["0018", "0015"])
def test_reach_utc_matches_the_python_contract(scratch_postgres: str, revision: str) -> None:
    """At 0018 and, after a downgrade, at 0015 (0007's function)."""
    migrate.upgrade(scratch_postgres)
    if revision != "0018":
        migrate.downgrade(scratch_postgres, revision)
    texts = EDGES + _generated(4000)
    wanted = [utc_text(t) for t in texts]
    assert sum(w is not None for w in wanted) > 500  # the sample holds many valid ones
    got = asyncio.run(_answers(scratch_postgres, texts))
    wrong = [(t, g, w) for t, g, w in zip(texts, got, wanted, strict=True) if g != w]
    assert wrong == []
