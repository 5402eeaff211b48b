"""The slow lists in conftest.py name real modules and tests: a renamed test must not quietly
fall back into `make test-fast`."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SLOW_MODULES, SLOW_TESTS

HERE = Path(__file__).parent


def test_every_slow_module_exists() -> None:
    missing = [name for name in SLOW_MODULES if not (HERE / f"{name}.py").is_file()]
    assert missing == []


def test_every_slow_test_exists() -> None:
    missing = []
    for entry in SLOW_TESTS:
        file, _, test = entry.partition("::")
        path = HERE / file
        if not path.is_file() or not re.search(
            rf"^def {re.escape(test)}\(", path.read_text(encoding="utf-8"), re.MULTILINE
        ):
            missing.append(entry)
    assert missing == []
