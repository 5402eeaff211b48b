"""Segment conditions: validation, and compilation to one SQL predicate per engine.

A condition is ``{field, operator, value: [...]}``; a segment's conditions are ANDed. The
semantics (docs/decisions.md, *Segments*), for the value ``x`` found at the field's path:

* ``equals``: present and equal to one of ``value`` (strings exactly, numbers numerically,
  booleans; a string never equals a number); ``not_equals``: the negation (absent, null, or
  equal to none).
* ``exists``: present and not null; ``not_exists``: the negation.
* ``greater_than`` / ``less_than``: against ``value[0]`` — a number compares with numbers, an
  RFC 3339 date-time (or full date) string with date-time strings, chronologically.
* ``equals_month_day`` (``"MM-DD"``), ``equals_month_day_year`` (``"YYYY-MM-DD"``),
  ``between_month_day`` (two ``"MM-DD"``, inclusive, wrapping over the year end),
  ``between_month_day_year`` (two dates, inclusive): on the UTC date of a date-time string.
* ``array_contains``: ``x`` is an array holding an element equal to one of ``value``.
* ``ends_with`` (this server's addition, for text-to-segment): ``x`` is a string ending with
  one of ``value`` (case-sensitive).

Every value is bound as a parameter; paths are whitelisted (:mod:`reach.domain.field_paths`)
and bound too. Each condition is wrapped in ``COALESCE(..., FALSE)`` so SQL's NULL never
leaks into a negation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

import msgspec
import orjson

from reach.domain.compiled import json_type
from reach.domain.field_paths import Path
from reach.errors import BadRequest
from reach.storage.utc import utc_text

OPERATORS = (
    "equals",
    "not_equals",
    "greater_than",
    "less_than",
    "exists",
    "not_exists",
    "equals_month_day",
    "equals_month_day_year",
    "between_month_day",
    "between_month_day_year",
    "array_contains",
    "ends_with",
)
MAX_CONDITIONS = 20
MAX_VALUES = 100
_MONTH_DAY = re.compile(r"(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
Scalar = str | int | float | bool


class Condition(msgspec.Struct, frozen=True):
    field: str
    operator: str
    value: list[Any]


def parse(given: Any, where: str = "conditions") -> list[Condition]:
    """Validated conditions (values checked against their operator), or a 400 naming each
    problem by its path. Fields are checked separately, against the tenant's contacts schema."""
    if not isinstance(given, list):
        raise BadRequest("Invalid conditions", errors=[f"{where}: expected array"])
    if len(given) > MAX_CONDITIONS:
        raise BadRequest("Invalid conditions", errors=[f"{where}: at most {MAX_CONDITIONS}"])
    errors: list[str] = []
    out: list[Condition] = []
    for i, item in enumerate(given):
        at = f"{where}[{i}]"
        if not isinstance(item, dict):
            errors.append(f"{at}: expected object, got {json_type(item)}")
            continue
        errors += [
            f"{at}.{key}: unknown field"
            for key in item
            if key not in ("field", "operator", "value")
        ]
        field, operator, value = item.get("field"), item.get("operator"), item.get("value", [])
        if not isinstance(field, str) or not field:
            errors.append(f"{at}.field: required, a field name")
        if operator not in OPERATORS:
            errors.append(f"{at}.operator: must be one of {', '.join(OPERATORS)}")
        if not isinstance(value, list):
            errors.append(f"{at}.value: expected array, got {json_type(value)}")
            continue
        if isinstance(operator, str) and operator in OPERATORS:
            problem = _check_values(operator, value)
            if problem:
                sep = "" if problem.startswith("[") else ": "
                errors.append(f"{at}.value{sep}{problem}")
        if isinstance(field, str) and field and operator in OPERATORS:
            out.append(Condition(field, operator, value))
    if errors:
        raise BadRequest("Invalid conditions", errors=errors)
    return out


def _check_values(operator: str, value: list[Any]) -> str | None:
    if operator in ("exists", "not_exists"):
        return None if not value else "must be empty for this operator"
    if not value:
        return "at least one value is required"
    if len(value) > MAX_VALUES:
        return f"at most {MAX_VALUES} values"
    if operator in ("equals", "not_equals", "array_contains"):
        bad = [i for i, v in enumerate(value) if not _scalar(v)]
        return (
            f"[{bad[0]}]: expected a string, a number (64-bit integer or finite) or a boolean"
            if bad
            else None
        )
    if operator == "ends_with":
        bad = [i for i, v in enumerate(value) if not isinstance(v, str) or not v]
        return f"[{bad[0]}]: expected a non-empty string" if bad else None
    if operator in ("greater_than", "less_than"):
        first = value[0]
        if _number(first) or (isinstance(first, str) and utc_text(first) is not None):
            return None
        return "[0]: expected a number or an RFC 3339 date-time"
    if operator == "equals_month_day":
        bad = [i for i, v in enumerate(value) if not _month_day(v)]
        return f'[{bad[0]}]: expected "MM-DD"' if bad else None
    if operator == "equals_month_day_year":
        bad = [i for i, v in enumerate(value) if not _day(v)]
        return f'[{bad[0]}]: expected a date "YYYY-MM-DD"' if bad else None
    if len(value) != 2:
        return "expected exactly two values, the first and last day (inclusive)"
    if operator == "between_month_day":
        bad = [i for i, v in enumerate(value) if not _month_day(v)]
        return f'[{bad[0]}]: expected "MM-DD"' if bad else None
    bad = [i for i, v in enumerate(value) if not _day(v)]
    if bad:
        return f'[{bad[0]}]: expected a date "YYYY-MM-DD"'
    return None if value[0] <= value[1] else "the first date is after the last"


def _number(v: Any) -> bool:
    """A JSON number both engines can bind: finite, and an integer within 64 bits."""
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return -(2**63) <= v < 2**63
    return isinstance(v, float) and math.isfinite(v)


def _scalar(v: Any) -> bool:
    return isinstance(v, str | bool) or _number(v)


def _month_day(v: Any) -> bool:
    if not isinstance(v, str) or not _MONTH_DAY.fullmatch(v):
        return False
    try:
        date(2000, int(v[:2]), int(v[3:]))  # a leap year: 02-29 is a month-day
    except ValueError:
        return False
    return True


# Characters that may follow the first one of a JSON escape (``\"``, ``\\``, ``\n``,
# ``\u00e9``…): a suffix whose JSON text starts with none of them cannot match from inside one.
# Last characters of PostgreSQL's ``->>`` text of a number, a boolean, an object or an array.
_NOT_STRING_ENDS = frozenset("0123456789e}]")
_INSIDE_ESCAPE = frozenset('"\\/bfnrtu0123456789abcdefABCDEF')


def _quoted_tail(suffix: str) -> str | None:
    """The suffix's JSON text and a closing quote, when finding it at the end of a stored
    string's JSON text proves the string ends with the suffix; else None.

    Stored documents are orjson's text (see ``_equal_to``), which escapes each character on
    its own. The match may only start where an escape starts or at a plain character: its
    first character is not one that continues an escape. From there both texts decode the
    same way, so the string's last characters are the suffix."""
    try:
        text = orjson.dumps(suffix).decode()
    except orjson.JSONEncodeError:  # a lone surrogate
        return None
    return text[1:] if text[1] not in _INSIDE_ESCAPE else None


def _day(v: Any) -> bool:
    return isinstance(v, str) and _DAY.fullmatch(v) is not None and utc_text(v) is not None


class Compiler:
    """Builds SQL for one statement: arguments are numbered on from ``start`` across every
    predicate compiled, so several segments can share a statement."""

    def __init__(self, dialect: str, start: int) -> None:
        self.dialect = dialect
        self.args: list[Any] = []
        self.start = start

    def _arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${self.start + len(self.args) - 1}"

    def predicate(self, conditions: list[Condition], paths: Mapping[str, Path | None]) -> str:
        """``paths``: each field's path; None for a field that no longer resolves, which
        then counts as absent in every record."""
        if not conditions:
            return "TRUE"
        return " AND ".join(self._condition(c, paths.get(c.field)) for c in conditions)

    def _condition(self, c: Condition, path: Path | None) -> str:
        op = c.operator
        negated = op in ("not_equals", "not_exists")
        if path is None:
            return "TRUE" if negated else "FALSE"
        positive = {"not_equals": "equals", "not_exists": "exists"}.get(op, op)
        if self.dialect == "postgresql" and positive in ("equals", "array_contains"):
            leaves = c.value if positive == "equals" else [[v] for v in c.value]
            expr = " OR ".join(self._contains(path, leaf) for leaf in leaves)
        else:
            expr = getattr(self, f"_{positive}")(self._path(path), c.value)
        return f"{'NOT ' if negated else ''}COALESCE(({expr}), FALSE)"

    # -- access to the value at a path, per engine
    def _path(self, path: Path) -> str:
        if self.dialect == "postgresql":
            # A top-level field by its key (``->``): ``#>`` takes its path apart on every row.
            if len(path) == 1:
                return self._arg(path[0]) + "::text"
            return self._arg(list(path)) + "::text[]"
        return self._arg("$" + "".join(f'."{part}"' for part in path))

    def _get(self, p: str) -> str:
        """PostgreSQL: the jsonb value at the path bound as ``p``."""
        return f"data -> {p}" if p.endswith("::text") else f"data #> {p}"

    def _get_text(self, p: str) -> str:
        """PostgreSQL: the value at the path bound as ``p`` as text (``->>``)."""
        return f"data ->> {p}" if p.endswith("::text") else f"data #>> {p}"

    def _contains(self, path: Path, leaf: Any) -> str:
        """PostgreSQL: ``data @> {"a": {"b": leaf}}`` for the path ``a.b``.
        For a scalar leaf that is "the value at the path equals it" (numbers numerically,
        never across types, never an object or array); for ``[v]``, "the value at the path is
        an array holding an element equal to v". One pass over the stored jsonb, no copy of
        the value, and the planner's estimate for ``@>`` (rare) lets a page of a rare
        segment scan in parallel instead of walking the seq index."""
        document: Any = leaf
        for part in reversed(path):
            document = {part: document}
        return f"data @> {self._arg(orjson.dumps(document).decode())}::jsonb"

    def _type(self, p: str) -> str:
        if self.dialect == "postgresql":
            return f"jsonb_typeof({self._get(p)})"
        return f"json_type(data, {p})"

    def _equal_to(self, p: str, v: Scalar) -> str:
        """SQLite (PostgreSQL tests equality by containment, :meth:`_contains`)."""
        if isinstance(v, bool):
            return f"json_type(data, {p}) = {self._arg('true' if v else 'false')}"
        kinds = "'text'" if isinstance(v, str) else "'integer', 'real'"
        exact = f"(json_extract(data, {p}) = {self._arg(v)} AND json_type(data, {p}) IN ({kinds}))"
        if not isinstance(v, str):
            return exact
        # A document holding the string holds its JSON text: documents are stored as orjson
        # writes them, which escapes each character on its own, the same way wherever the
        # string sits. Looking for that text costs a fraction of parsing the document, so
        # rows without it skip the parse. CASE, not AND: only CASE stops SQLite evaluating
        # the rest (docs/benchmarks.md, *Segments at 1M on SQLite: where the time goes*). The
        # text looked for leaves out the opening quote: SQLite's instr compares at each place
        # the first character occurs, and a quote occurs at every key and string of the
        # document.
        try:
            text = orjson.dumps(v).decode()[1:]
        except orjson.JSONEncodeError:  # a lone surrogate: no document can hold it anyway
            return exact
        return f"CASE WHEN instr(data, {self._arg(text)}) > 0 THEN {exact} ELSE FALSE END"

    def _utc(self, p: str) -> str:
        """The value's UTC text when it is a date-time string, else NULL. No type test: what
        the plain extraction gives for anything but a string (a number; SQLite's 1 or 0 for a
        boolean, PostgreSQL's ``true``; an object's or array's JSON text; NULL for null) is
        never a date-time, so ``reach_utc`` already answers NULL for it, and the test would
        cost a second JSON access a row."""
        if self.dialect == "postgresql":
            return f"reach_utc({self._get_text(p)})"
        return f"reach_utc(json_extract(data, {p}))"

    # -- the operators (positive forms)
    def _equals(self, p: str, value: list[Scalar]) -> str:
        return " OR ".join(self._equal_to(p, v) for v in value)

    def _exists(self, p: str, value: list[Any]) -> str:
        if self.dialect == "postgresql":
            # ``->>`` is NULL for an absent field and for JSON null, text for anything else;
            # ``jsonb_typeof(data -> k)`` would first copy the value into a jsonb of its own.
            return f"({self._get_text(p)}) IS NOT NULL"
        return f"COALESCE({self._type(p)}, 'null') <> 'null'"

    def _greater_than(self, p: str, value: list[Any]) -> str:
        return self._compare(p, ">", value[0])

    def _less_than(self, p: str, value: list[Any]) -> str:
        return self._compare(p, "<", value[0])

    def _compare(self, p: str, sign: str, bound: Any) -> str:
        if isinstance(bound, str):
            return f"{self._utc(p)} {sign} {self._arg(utc_text(bound))}"
        if self.dialect == "postgresql":
            # CASE, not AND: the cast must only ever see numbers.
            return (
                f"CASE WHEN {self._type(p)} = 'number' THEN "
                f"({self._get_text(p)})::numeric {sign} {self._arg(repr(bound))}::text::numeric END"
            )
        return (
            f"json_type(data, {p}) IN ('integer', 'real') "
            f"AND json_extract(data, {p}) {sign} {self._arg(bound)}"
        )

    def _equals_month_day(self, p: str, value: list[str]) -> str:
        marks = ", ".join(self._arg(v) for v in value)
        return f"substr({self._utc(p)}, 6, 5) IN ({marks})"

    def _equals_month_day_year(self, p: str, value: list[str]) -> str:
        marks = ", ".join(self._arg(v) for v in value)
        return f"substr({self._utc(p)}, 1, 10) IN ({marks})"

    def _between_month_day(self, p: str, value: list[str]) -> str:
        first, last = value
        day = f"substr({self._utc(p)}, 6, 5)"
        if first <= last:
            return f"{day} BETWEEN {self._arg(first)} AND {self._arg(last)}"
        return f"({day} >= {self._arg(first)} OR {day} <= {self._arg(last)})"

    def _between_month_day_year(self, p: str, value: list[str]) -> str:
        return (
            f"substr({self._utc(p)}, 1, 10) BETWEEN {self._arg(value[0])} AND {self._arg(value[1])}"
        )

    def _ends_with(self, p: str, value: list[str]) -> str:
        if self.dialect != "postgresql" and all(_quoted_tail(v) is not None for v in value):
            # One JSON access a row, and no type test: the value's JSON text (``->``) ends
            # with the suffix's JSON text and a closing quote only if the value is a string
            # (other JSON ends with a digit, a letter, ``}`` or ``]``) ending with the suffix
            # — see _quoted_tail for why that holds.
            tails = [self._arg(_quoted_tail(v)) for v in value]
            text = f"data -> {p}"
            return " OR ".join(f"substr({text}, -length({n})) = {n}" for n in tails)
        # The suffix test first, on the raw extraction (one JSON access per row); the type
        # check, which rules out numbers and JSON text of objects, only for rows that pass.
        ends = []
        # PostgreSQL's text of a value that is not a string ends with a digit (a number), an
        # ``e`` (true, false), ``}`` or ``]``; JSON null is SQL NULL. So a suffix ending in
        # none of those proves the value is a string when it matches, and the type test
        # (a second key lookup and a copy of the value, ~40 % of the predicate) is left out.
        typed = self.dialect != "postgresql" or any(v[-1] in _NOT_STRING_ENDS for v in value)
        for v in value:
            if self.dialect == "postgresql":
                n = self._arg(v) + "::text"
                ends.append(f"right({self._get_text(p)}, length({n})) = {n}")
            else:
                n = self._arg(v)
                ends.append(f"substr(json_extract(data, {p}), -length({n})) = {n}")
        if not typed:
            return " OR ".join(ends)
        return f"({' OR '.join(ends)}) AND {self._type(p)} = {self._arg(self._text_type())}"

    def _text_type(self) -> str:
        return "string" if self.dialect == "postgresql" else "text"

    def _array_contains(self, p: str, value: list[Scalar]) -> str:
        """SQLite (PostgreSQL tests it by containment, :meth:`_contains`)."""
        wanted = " OR ".join(self._element(v) for v in value)
        # Only placeholders and fixed SQL are interpolated; the values are bound.
        inner = f"SELECT 1 FROM json_each(data, {p}) AS e WHERE {wanted}"  # noqa: S608
        return f"json_type(data, {p}) = 'array' AND EXISTS ({inner})"

    def _element(self, v: Scalar) -> str:
        if isinstance(v, bool):
            return f"e.type = {self._arg('true' if v else 'false')}"
        kinds = "'text'" if isinstance(v, str) else "'integer', 'real'"
        return f"(e.type IN ({kinds}) AND e.value = {self._arg(v)})"
