"""The table-door contract type (tools/contracts.py) that `make lint` runs can fail: SQL naming
the resources table outside the listed door modules breaks it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from tools.contracts import TableDoorContract


def _check(doors: list[str], modules: set[str]) -> Any:
    contract = TableDoorContract(
        name="door",
        session_options={},
        contract_options={"table": "resources", "doors": doors},
    )
    return contract.check(SimpleNamespace(modules=modules), verbose=False)  # type: ignore[arg-type]


def test_sql_outside_the_door_breaks_the_contract() -> None:
    modules = {"reach.storage.resources", "reach.storage.resource_keys", "reach.storage.batches"}
    broken = _check(["reach.storage.resources"], modules)
    assert not broken.kept
    assert {module for module, _, _ in broken.metadata["offenders"]} == {
        "reach.storage.resource_keys"
    }


def test_the_door_itself_and_modules_without_such_sql_keep_it() -> None:
    modules = {"reach.storage.resources", "reach.storage.resource_keys", "reach.storage.batches"}
    kept = _check(["reach.storage.resources", "reach.storage.resource_keys"], modules)
    assert kept.kept, kept.metadata
