"""Reading and writing record files: CSV (a header row of field names) and JSON Lines.

Readers yield ``(line, record, errors)``: ``line`` is the 1-based line of the file where the
record starts (a CSV header is line 1), so a reject names a line an editor can jump to.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from reach.bulk.coerce import RowCoercer

FORMATS = ("csv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}

Row = tuple[int, dict[str, Any], list[str]]


class FormatError(ValueError):
    """The file as a whole cannot be read (no header, duplicate columns, ...)."""


def format_of(path: Path | None, given: str | None, default: str | None = None) -> str:
    if given:
        return given
    if path is not None:
        found = _EXTENSIONS.get(path.suffix.lower())
        if found:
            return found
    if default:
        return default
    raise FormatError(
        f"cannot tell the format of {path}: name it .csv or .jsonl, or pass --format csv|jsonl"
    )


def count_lines(path: Path) -> int:
    """Newlines in the file: a fast upper bound of its records, for the progress total."""
    count = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def _columns(path: Path, header: list[str] | None) -> list[str]:
    if not header:
        raise FormatError(f"{path}: no header row")
    names = [name.strip() for name in header]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates or "" in names:
        raise FormatError(f"{path}: empty or duplicate column names: {duplicates or ['']}")
    return names


def csv_columns(path: Path) -> list[str]:
    """The header of a CSV file (its column names)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return _columns(path, next(csv.reader(handle), None))


def unknown_columns(columns: Sequence[str], json_schema: Mapping[str, Any]) -> list[str]:
    """Columns the schema does not declare, when it refuses undeclared fields (the server's
    rule for a record's top level: declared ``properties``, ``additionalProperties`` not
    true or a schema)."""
    properties = json_schema.get("properties")
    extra = json_schema.get("additionalProperties", False)
    if not isinstance(properties, Mapping) or extra is True or isinstance(extra, Mapping):
        return []
    return [name for name in columns if name not in properties]


def read_csv(path: Path, properties: Mapping[str, Any]) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        names = _columns(path, next(reader, None))
        coerce = RowCoercer(names, properties)
        end = reader.line_num
        for cells in reader:
            start, end = end + 1, reader.line_num
            if not cells or (len(cells) == 1 and not cells[0]):
                continue
            record, errors = coerce(cells)
            yield start, record, errors


def read_jsonl(path: Path) -> Iterator[Row]:
    with path.open("rb") as handle:
        for line, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                value = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                yield line, {}, [f"not valid JSON: {exc}"]
                continue
            if not isinstance(value, dict):
                yield line, {}, ["expected a JSON object"]
                continue
            yield line, value, []


def read_rows(path: Path, fmt: str, properties: Mapping[str, Any]) -> Iterator[Row]:
    return read_csv(path, properties) if fmt == "csv" else read_jsonl(path)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    return orjson.dumps(value).decode()  # numbers as JSON writes them; objects, arrays as JSON


class CsvWriter:
    """Records → CSV rows under a fixed header; counts records with fields it had no column
    for (CSV needs its columns before the first row; JSON Lines keeps everything)."""

    def __init__(self, out: IO[str], columns: Sequence[str]) -> None:
        self._writer = csv.writer(out, lineterminator="\n")
        self._columns = list(columns)
        self._known = frozenset(columns)
        self.dropped = 0
        self._writer.writerow(self._columns)

    def write(self, data: Mapping[str, Any]) -> None:
        if not self._known.issuperset(data):
            self.dropped += 1
        self._writer.writerow([_cell(data.get(name)) for name in self._columns])
