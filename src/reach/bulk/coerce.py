"""CSV cells → JSON values, by the schema's property types.

A CSV cell is text; the record the server validates is JSON. Each column is a top-level field
and its cells are read according to that property's ``type`` in the schema definition:

* empty cell → the field is left out (absent: on an upsert the stored value stays as it is);
* ``string`` (and ``$ref`` fields, and fields the schema does not type) → the text as it is;
* ``integer`` → ``-12``, ``42`` (``4.0`` or ``1e3`` are refused);
* ``number`` → ``42`` stays an integer, ``4.5``, ``-1e3`` become floats (NaN and ∞ refused);
* ``boolean`` → ``true``/``false``, ``1``/``0``, ``yes``/``no`` (any case);
* ``object``/``array`` → the cell holds JSON text (``{"a": 1}``, ``[1, 2]``);
* ``null`` → a property that allows null reads the cell ``null`` as null (the field is removed),
  unless it also allows strings.

A property with several types tries them in the order integer, number, boolean, object/array,
string. A cell none of them accepts is a reject naming the column and what was expected.
A column the schema does not declare stops the import before anything is sent (the server
would refuse every row for it); with ``--ignore-unknown-fields`` its cells are sent as text
and the server drops them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

Converter = Callable[[str], Any]

_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})
_ORDER = ("integer", "number", "boolean", "object", "array", "string")


class CellError(ValueError):
    pass


def _integer(text: str) -> int:
    stripped = text.strip()
    if not stripped.lstrip("+-").isdigit():
        raise CellError("expected an integer")
    return int(stripped)


def _number(text: str) -> int | float:
    stripped = text.strip()
    if stripped.lstrip("+-").isdigit():
        return int(stripped)
    try:
        value = float(stripped)
    except ValueError:
        raise CellError("expected a number") from None
    if not math.isfinite(value):
        raise CellError("expected a finite number")
    return value


def _boolean(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CellError("expected true or false")


def _json_of(kind: type, name: str) -> Converter:
    def convert(text: str) -> Any:
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise CellError(f"expected {name} as JSON") from None
        if not isinstance(value, kind):
            raise CellError(f"expected {name} as JSON")
        return value

    return convert


def _string(text: str) -> str:
    return text


_CONVERTERS: dict[str, Converter] = {
    "integer": _integer,
    "number": _number,
    "boolean": _boolean,
    "object": _json_of(dict, "an object"),
    "array": _json_of(list, "an array"),
    "string": _string,
}


def converter_for(prop: Any) -> Converter:
    """The converter for one property's JSON Schema."""
    if not isinstance(prop, Mapping) or "$ref" in prop:
        return _string
    declared = prop.get("type")
    types: Sequence[Any] = [declared] if isinstance(declared, str) else declared or []
    nullable = "null" in types and "string" not in types
    chain = [_CONVERTERS[t] for t in _ORDER if t in types]
    if not chain:
        return _string
    if len(chain) == 1 and not nullable:
        return chain[0]
    expected = " or ".join(t for t in _ORDER if t in types)

    def convert(text: str) -> Any:
        if nullable and text.strip() == "null":
            return None
        for step in chain:
            try:
                return step(text)
            except CellError:
                continue
        raise CellError(f"expected {expected}")

    return convert


class RowCoercer:
    """Turns one CSV row (cells in header order) into a record, or a list of problems."""

    def __init__(self, header: Sequence[str], properties: Mapping[str, Any]) -> None:
        self.header = list(header)
        self._converters = [converter_for(properties.get(name)) for name in self.header]

    def __call__(self, cells: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
        record: dict[str, Any] = {}
        errors: list[str] = []
        if len(cells) != len(self.header):
            # A short row is most often a file cut mid-line: sending what is there would apply
            # the cut-off cell (and leave the missing ones alone) as if it were the whole value.
            errors.append(f"row has {len(cells)} values but the header {len(self.header)} columns")
        for name, convert, cell in zip(self.header, self._converters, cells, strict=False):
            if cell == "":
                continue
            try:
                record[name] = convert(cell)
            except CellError as exc:
                shown = cell if len(cell) <= 40 else cell[:37] + "..."
                errors.append(f"{name}: {exc}, got {shown!r}")
        return record, errors
