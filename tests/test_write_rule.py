"""The write rule on its own (pure: no storage involved), and batch reasons by error type."""

from __future__ import annotations

import pytest

from reach.batches.apply import reason_of
from reach.batches.model import Reason
from reach.domain import write_rule
from reach.domain.compiled import CompiledSchema
from reach.domain.documents import checked_fields
from reach.errors import (
    BadRequest,
    InvalidDocument,
    InvalidExternalId,
    MissingReferences,
    UnknownFields,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "key": {"type": "string"},
        "name": {"type": "string"},
        "status": {"type": "string", "default": "new"},
        "nested": {"type": "object", "properties": {"a": {"type": "integer"}}},
        "owner": {"type": "string"},
        "parent": {"type": "string"},
    },
    "required": ["key", "name"],
}
COMPILED = CompiledSchema(SCHEMA, {"owner": "people", "parent": "things"})


def _write(current: dict[str, object] | None, change: dict[str, object]) -> write_rule.Written:
    return write_rule.write(current, change, COMPILED, schema_id="things", key_field="key")


def test_a_create_gets_defaults_and_keeps_no_null_at_any_depth() -> None:
    written = _write(None, {"key": "k", "name": "n", "nested": {"a": None}, "owner": None})
    assert written.changed
    assert written.document == {"key": "k", "name": "n", "nested": {}, "status": "new"}
    # A default is only for a field the change does not set.
    assert _write(None, {"key": "k", "name": "n", "status": "old"}).document["status"] == "old"


def test_a_merge_that_changes_nothing_is_no_write() -> None:
    current = {"key": "k", "name": "n", "status": "new"}
    written = _write(current, {"name": "n", "nested": None})
    assert not written.changed
    assert written.document is current
    assert written.references == []


def test_an_invalid_result_is_refused_even_when_unchanged() -> None:
    stored_under_an_older_schema = {"key": "k", "name": 5}
    with pytest.raises(InvalidDocument) as refused:
        _write(stored_under_an_older_schema, {})
    assert refused.value.errors == ["data.name: expected string, got integer"]


def test_only_references_the_change_sets_are_checked_and_never_the_record_itself() -> None:
    current = {"key": "k", "name": "n", "owner": "p1"}
    written = _write(current, {"parent": "k", "name": "m"})
    assert written.references == []  # owner was checked when set; parent names the record
    written = _write(current, {"owner": "p2", "parent": "other"})
    assert written.references == [("owner", "people", "p2"), ("parent", "things", "other")]


def test_removing_a_required_field_is_refused_before_reading() -> None:
    write_rule.check_change({"status": None}, COMPILED)
    with pytest.raises(InvalidDocument) as refused:
        write_rule.check_change({"name": None, "key": "k"}, COMPILED)
    assert refused.value.errors == ["data.name: required field cannot be removed"]


def test_missing_references_name_each_target() -> None:
    missing = [write_rule.Missing("owner", "people-id", "people", "p9")]
    refusal = write_rule.missing_references(missing)
    assert refusal.status == 400
    assert refusal.errors == ["data.owner: no people record 'p9'"]
    assert write_rule.Missing.of(missing[0].wire()) == missing[0]


def test_batch_reasons_follow_the_type_not_the_text() -> None:
    with pytest.raises(UnknownFields) as unknown:
        checked_fields({"key": "k", "extra": 1}, COMPILED, ignore_unknown=False)
    assert reason_of(unknown.value) == Reason.UNKNOWN_FIELDS
    # Worded like an unknown field, typed as what it is.
    assert reason_of(InvalidDocument(["Unknown field: no, a bad value"])) == (
        Reason.VALIDATION_FAILED
    )
    assert reason_of(InvalidExternalId(["data.key: required field missing"])) == (
        Reason.INVALID_EXTERNAL_ID
    )
    assert reason_of(MissingReferences(["x"], [])) == Reason.MISSING_DEPENDENCY
    assert reason_of(BadRequest("Unknown field: anything")) == Reason.VALIDATION_FAILED
