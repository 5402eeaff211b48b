"""The write rule: what one change does to one record's document, for every write there is.

Single writes (:mod:`reach.domain.resources`), batch items and items that waited for a
dependency (:mod:`reach.batches.apply`) all go through :func:`check_change` before the record is
read and :func:`write` after, so the rules below exist once:

* fields the schema does not declare are refused, or dropped when asked (``checked_fields`` in
  :mod:`reach.domain.documents`, run on the incoming change);
* ``null`` removes a field, never a required one (:func:`check_change`);
* a new record's external id holds no control character (:func:`check_new_key`);
* a new record gets the schema's defaults for the fields it does not set, and its ``null``\\ s
  are dropped; an existing one is merged into by RFC 7396 (:func:`merge_patch`);
* the resulting document is validated, even when nothing changed (after a schema update a
  record must satisfy the new version at its next write, no-op or not);
* an unchanged document means no write: no new version, ``updatedAt`` stays;
* references the change sets must name existing records: :func:`write` says which to check,
  the caller checks them its own way (one query each, or against a chunk's bulk-loaded keys)
  and reports those missing with :func:`missing_references`.

Pure: no I/O, no clock. Refusals are typed (:mod:`reach.errors`), never told apart by text.
Cascading deletes remove records without rewriting any document, so they have no part here.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from reach.domain.compiled import CompiledSchema
from reach.domain.documents import merge_patch
from reach.errors import InvalidDocument, InvalidExternalId, MissingReferences

# Unicode's control characters (category Cc): C0, DEL and C1.
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARACTER_RULE = (
    "must not contain control characters (U+0000-U+001F, U+007F-U+009F) in a new record's "
    "external id"
)


class Missing(msgspec.Struct, frozen=True):
    """A reference a write sets whose target record does not exist."""

    field: str
    schema_id: str
    schema_name: str
    external_id: str

    def text(self) -> str:
        return f"data.{self.field}: no {self.schema_name} record {self.external_id!r}"

    @classmethod
    def of(cls, wire: dict[str, Any]) -> Missing:
        """Back from :meth:`wire`."""
        return cls(
            wire["field"], wire["schemaDefinitionId"], wire["schemaName"], wire["externalId"]
        )

    def wire(self) -> dict[str, Any]:
        """As a batch stores it for an item that waits for its dependency."""
        return {
            "field": self.field,
            "schemaDefinitionId": self.schema_id,
            "schemaName": self.schema_name,
            "externalId": self.external_id,
        }


class Written:
    """The outcome of :func:`write`: the new document, whether it differs from the current
    one, and the (field, target schema id, target external id) references it sets."""

    __slots__ = ("changed", "document", "references")

    def __init__(
        self, document: dict[str, Any], changed: bool, references: list[tuple[str, str, str]]
    ) -> None:
        self.document = document
        self.changed = changed
        self.references = references


def check_new_key(external_id: str, field: str) -> None:
    """A record is never created under an external id holding a control character (a line
    feed, a tab, an escape...): such an id is almost always a client bug, and one that is
    stored must still be typed into URLs, logs and CSV files. Records stored before this rule
    stay addressable and writable; see docs/decisions.md."""
    if _CONTROL_CHARACTER.search(external_id) is not None:
        raise InvalidExternalId([f"{field}: {CONTROL_CHARACTER_RULE}"])


def check_change(change: dict[str, Any], compiled: CompiledSchema, root: str = "data") -> None:
    """What can be refused before the record is read: removing a required field."""
    if None not in change.values():
        return
    problems = [
        f"{root}.{key}: required field cannot be removed"
        for key, value in change.items()
        if value is None and key in compiled.required
    ]
    if problems:
        raise InvalidDocument(problems)


def write(
    current: dict[str, Any] | None,
    change: dict[str, Any],
    compiled: CompiledSchema,
    *,
    schema_id: str,
    key_field: str,
) -> Written:
    """The document ``change`` makes of ``current`` (None: a record to create). Raises
    :class:`~reach.errors.InvalidDocument` when it breaks the schema."""
    if current is None:
        document = {**change}
        for name, value in compiled.defaults.items():
            if name not in change:
                document[name] = value
        if None in document.values() or any(type(v) is dict for v in document.values()):
            document = merge_patch({}, document)  # a new record keeps no null, at any depth
    else:
        document = merge_patch(current, change)
    errors = compiled.errors(document)
    if errors:
        raise InvalidDocument(errors)
    if current is not None and document == current:
        return Written(current, False, [])
    if not compiled.references:
        return Written(document, True, [])
    return Written(document, True, _references(document, change, compiled, schema_id, key_field))


def _references(
    document: dict[str, Any],
    change: dict[str, Any],
    compiled: CompiledSchema,
    schema_id: str,
    key_field: str,
) -> list[tuple[str, str, str]]:
    """References this change sets; one the record already held was checked when it was set."""
    found: list[tuple[str, str, str]] = []
    for field, target_id in compiled.references.items():
        value = document.get(field)
        if field not in change or not isinstance(value, str):
            continue
        if target_id == schema_id and value == document.get(key_field):
            continue  # a record may name itself
        found.append((field, target_id, value))
    return found


def missing_references(missing: list[Missing]) -> MissingReferences:
    return MissingReferences([m.text() for m in missing], missing)
