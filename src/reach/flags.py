"""The one rule for boolean flags: query parameters (``?cascade=``, ``?ignoreUnknownFields=``,
``?includeDeleted=``, ``?includePendingDetails=``) and JSON body fields (a batch deletion's
``cascade``, ``deleteAll``, ``dryRun``) alike.

``true`` or ``false`` in any letter case, or a JSON boolean, is the flag; absent, empty or
``null`` in any letter case, or JSON ``null``, is the flag's default; anything else is a 400
naming the flag. The reference types its flags as nullable booleans and shows them both as
JSON booleans and as strings; clients print ``True`` and ``None``/``NULL`` for a missing
value, and one flag must not accept what another refuses.
"""

from __future__ import annotations

from reach.errors import BadRequest

_NAMES = {"true": True, "false": False}


def is_unset(raw: str | None) -> bool:
    """Whether a query value means "not given": absent, empty, or ``null`` in any case."""
    return raw is None or raw == "" or (len(raw) == 4 and raw.lower() == "null")


def parse_flag(value: object, name: str, default: bool = False, *, label: str = "") -> bool:
    """``value`` (a query string value or a decoded JSON value) as the flag ``name``;
    ``label`` names where it came from in the message (e.g. ``query parameter cascade``)."""
    if value is None or isinstance(value, bool):
        return default if value is None else value
    if isinstance(value, str):
        if is_unset(value):
            return default
        found = _NAMES.get(value.lower())
        if found is not None:
            return found
    raise BadRequest(f"Invalid {label or name}", errors=[f"{name}: expected true or false"])
