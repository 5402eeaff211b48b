"""SQLite's UTC text of a date-time in SQL (:mod:`reach.domain.utc_sql`) answers exactly what
:func:`reach.storage.utc.utc_text` answers, for the values a document's field can hold: the
date-times and near misses PostgreSQL's function is checked against, the forms answered in SQL
and their near misses, and values that are not strings. The common forms are answered without
calling into Python."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson
import pytest

from reach.domain import utc_sql
from reach.storage.sqlite import configure
from reach.storage.utc import utc_text
from tests.test_reach_utc import EDGES, _generated

# The forms answered in SQL (a full date; a Z time without a fraction or with three digits;
# day 01-28, hour 00-23), each beside the near misses that must go to Python.
COMMON = [
    "2026-01-01",
    "1000-12-28",
    "9999-02-28T23:59:59Z",
    "2026-01-01T00:00:00.123Z",
    "2026-06-15T12:34:56.000Z",
]
NEAR = [
    "2026-02-29",
    "2024-02-29T00:00:00Z",
    "2026-01-31T00:00:00.123Z",
    "2026-00-01",
    "2026-13-01T00:00:00Z",
    "2026-01-00T00:00:00Z",
    "2026-01-01T24:00:00Z",
    "2026-01-01T29:00:00.000Z",
    "2026-01-01T00:60:00Z",
    "2026-01-01T00:00:60.000Z",
    "2026-01-01T00:00:00.12Z",
    "2026-01-01T00:00:00.1234Z",
    "2026-01-01T00:00:00.12xZ",
    "2026-01-01T00:00:00,123Z",
    "2026-01-01T00:00:00Zx",
    "2026-01-01x",
    "2026-01-01 ",
    " 2026-01-01",
    "0999-01-01",
    "2026-01-01T00:00:00z",
    "2026-01-01t00:00:00Z",
    "2026-01-01T00:00:00+00:00",
    "2026-01-01T00:00:00.123+01:00",
    "2026-1-01T00:00:00Z",
    "20-26-01-01",
]
NOT_STRINGS: list[Any] = [20260101, 2026, -1, 1.5, True, False, None, ["2026-01-01"], {"a": 1}]


def _conn(calls: list[object]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    configure(conn)

    def counted(value: object) -> str | None:
        calls.append(value)
        return utc_text(value)

    conn.create_function("reach_utc", 1, counted, deterministic=True)
    conn.execute("CREATE TABLE docs (n INTEGER PRIMARY KEY, data TEXT NOT NULL)")
    return conn


def _answers(
    conn: sqlite3.Connection, values: list[Any], piece: tuple[int, int] = utc_sql.WHOLE
) -> list[str | None]:
    conn.execute("DELETE FROM docs")
    conn.executemany(
        "INSERT INTO docs (n, data) VALUES (?, ?)",
        [(n, orjson.dumps({"d": v}).decode()) for n, v in enumerate(values)],
    )
    utc = utc_sql.over("json_extract(data, ?1)", piece, lambda u: u)
    rows = conn.execute(f"SELECT {utc} FROM docs ORDER BY n", ['$."d"']).fetchall()  # noqa: S608
    return [row[0] for row in rows]


def _piece(v: Any, piece: tuple[int, int]) -> str | None:
    utc = utc_text(v) if isinstance(v, str) else None
    return None if utc is None else utc[piece[0] - 1 : piece[0] - 1 + piece[1]]


@pytest.mark.parametrize("piece", [utc_sql.WHOLE, utc_sql.DATE, utc_sql.MONTH_DAY])
def test_the_sql_answers_what_the_python_function_answers(piece: tuple[int, int]) -> None:
    calls: list[object] = []
    conn = _conn(calls)
    values: list[Any] = [*COMMON, *NEAR, *EDGES, *_generated(4000), *NOT_STRINGS]
    wanted = [_piece(v, piece) for v in values]
    assert sum(w is not None for w in wanted) > 500  # the sample holds many valid ones
    got = _answers(conn, values, piece)
    wrong = [(v, g, w) for v, g, w in zip(values, got, wanted, strict=True) if g != w]
    assert wrong == []


def test_the_common_forms_are_answered_without_python() -> None:
    calls: list[object] = []
    conn = _conn(calls)
    assert _answers(conn, COMMON) == [utc_text(v) for v in COMMON]
    assert calls == []
    assert _answers(conn, NEAR) == [utc_text(v) for v in NEAR]
    assert sorted(calls, key=str) == sorted(NEAR, key=str)  # each near miss went to Python
