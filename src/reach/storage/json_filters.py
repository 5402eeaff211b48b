"""Top-level JSON fields of resource documents in SQL, the same on both engines: naming one,
and filtering on its value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

# (top-level field, "string" | "boolean" | "number", the value to equal)
Filter = tuple[str, str, Any]


def _plain(field: str) -> bool:
    """Whether SQLite's JSON path ``$."field"`` names ``field``: a path has no escapes, and
    older SQLite compares the label with the key as escaped in the stored text."""
    return not any(c in '"\\' or c < " " for c in field)


def field_arg(dialect: str, field: str) -> str:
    """The argument that names a top-level JSON field for :func:`field_value`."""
    return f'$."{field}"' if dialect == "sqlite" and _plain(field) else field


def field_value(dialect: str, field: str, n: int) -> str:
    """SQL for the SQL value of top-level ``field`` (``->>``), named by argument ``$n``
    (:func:`field_arg`). On SQLite a key no path can name (``"``, ``\\``, control
    characters) is found by key through ``json_each``, so both engines give one answer."""
    if dialect == "sqlite" and not _plain(field):
        return f"(SELECT value FROM json_each(data) WHERE key = ${n})"
    return f"data ->> ${n}"


def _field_type(field: str, n: int) -> str:
    """SQLite's ``json_type`` of top-level ``field``, named as in :func:`field_value`."""
    if _plain(field):
        return f"json_type(data, ${n})"
    return f"(SELECT type FROM json_each(data) WHERE key = ${n})"


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
            clause += f" AND {_field_type(field, n)} = ${n + 1}"
            args.extend((path, "true" if value else "false"))
        else:
            types = "'integer', 'real'" if kind == "number" else "'text'"
            clause += (
                f" AND {_field_type(field, n)} IN ({types})"
                f" AND {field_value(dialect, field, n)} = ${n + 1}"
            )
            args.extend((path, value))
    return clause, args
