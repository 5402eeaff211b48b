from __future__ import annotations

from pathlib import Path

import pytest

from reach.config import FIELD_DOCS, Settings, load_settings, settings_table
from reach.errors import ConfigError

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"


def test_every_setting_is_documented() -> None:
    assert set(FIELD_DOCS) == set(Settings.__struct_fields__)


def test_configuration_doc_matches_the_settings_object() -> None:
    assert settings_table() in DOC.read_text(), (
        "docs/configuration.md is stale: regenerate its table from reach.config.settings_table()"
    )


def test_settings_come_from_reach_variables() -> None:
    settings = load_settings(env={"REACH_PORT": "9001", "REACH_BATCH_WORKER": "off"})
    assert settings.port == 9001
    assert settings.batch_worker is False


def test_malformed_setting_is_refused_with_its_name() -> None:
    with pytest.raises(ConfigError, match="REACH_PORT"):
        load_settings(env={"REACH_PORT": "eighty"})
