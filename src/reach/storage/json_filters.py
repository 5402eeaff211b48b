"""Top-level JSON fields of resource documents in SQL, the same on both engines: naming one,
and filtering on its value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

# (top-level field, "string" | "boolean" | "number", the value to equal)
Filter = tuple[str, str, Any]


def field_arg(dialect: str, field: str) -> str:
    """The argument that names a top-level JSON field for ``data ->> $n``."""
    return field if dialect == "postgresql" else f'$."{field}"'


def filter_clause(dialect: str, filters: Sequence[Filter], start: int) -> tuple[str, list[Any]]:
    """`` AND ...`` conditions for equality on top-level fields, compared as JSON values of the
    given kind, and their arguments (numbered from ``$start``).

    PostgreSQL compares jsonb values (numbers numerically, so ``10`` matches ``10.0``).
    SQLite's ``->`` yields JSON *text*, where ``10`` and ``10.0`` differ, so it compares
    the SQL value of ``->>`` guarded by ``json_type`` instead — the same answers.
    """
    clause = ""
    args: list[Any] = []
    for field, kind, value in filters:
        n = start + len(args)
        path = field_arg(dialect, field)
        if dialect == "postgresql":
            clause += f" AND data -> ${n} = ${n + 1}::jsonb"
            args.extend((path, orjson.dumps(value).decode()))
        elif kind == "boolean":
            clause += f" AND json_type(data, ${n}) = ${n + 1}"
            args.extend((path, "true" if value else "false"))
        else:
            types = "'integer', 'real'" if kind == "number" else "'text'"
            clause += f" AND json_type(data, ${n}) IN ({types}) AND data ->> ${n} = ${n + 1}"
            args.extend((path, value))
    return clause, args
