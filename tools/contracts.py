"""Contract types of our own for import-linter (registered in .importlinter).

A door — the one module allowed to touch a table's rows — is not an import: any module holding
a connection can send SQL. :class:`TableDoorContract` reads the source of every module in the
graph and fails where SQL names the table outside the listed door modules.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import cast

import grimp
from importlinter import Contract, ContractCheck, fields, output

# SQL keywords are written in capitals throughout the code base, so prose ("read from
# resources") never matches; the regclass form is how PostgreSQL catalog queries name it.
_SQL_BEFORE_TABLE = r"(?:FROM|JOIN|INTO|UPDATE|TABLE|ANALYZE)\s+"


class TableDoorContract(Contract):
    """Only ``doors`` may contain SQL that names ``table``.

    Options: ``table`` (the table's name), ``doors`` (modules allowed to), ``exempt``
    (packages not scanned, with a reason in the configuration: migrations create the table).
    """

    type_name = "table_door"

    table = fields.StringField()
    doors = fields.ListField(subfield=fields.StringField())
    exempt = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        # The fields are declared as Field objects; by now import-linter has set parsed values.
        table = cast("str", self.table)
        pattern = re.compile(rf"{_SQL_BEFORE_TABLE}{re.escape(table)}\b|'{re.escape(table)}'::")
        doors = set(cast("list[str]", self.doors))
        exempt = cast("list[str] | None", self.exempt) or []
        offenders: list[tuple[str, int, str]] = []
        for module in sorted(graph.modules):
            if module in doors or any(module == e or module.startswith(e + ".") for e in exempt):
                continue
            source = _source_of(module)
            if source is None:
                continue
            for number, line in enumerate(source.splitlines(), start=1):
                if pattern.search(line):
                    offenders.append((module, number, line.strip()))
        return ContractCheck(kept=not offenders, metadata={"offenders": offenders})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for module, number, line in check.metadata["offenders"]:
            output.print_error(f"{module}:{number} names {self.table}: {line}")
            output.new_line()


def _source_of(module: str) -> str | None:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin).read_text(encoding="utf-8")
