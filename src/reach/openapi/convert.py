"""Turn a resource schema (JSON Schema draft-07) into an OpenAPI 3.0 Schema Object.

OpenAPI 3.0 speaks an older, narrower dialect: one ``type`` per schema (``nullable`` for null),
boolean ``exclusiveMinimum``, no ``const``, no ``definitions``. Partners write draft-07, so
each keyword is translated or, when 3.0 has no equivalent, dropped (the server still validates
with the full draft-07 schema; the document only describes it).

Three views of one schema are needed:

* ``full`` — a stored document (responses): ``required`` kept, ``default`` dropped (a stored
  record has its values; a default would only mislead).
* ``create`` — a create/upload body: ``required`` kept; a ``default`` is stated in the
  description (it applies when a record is created, not when an upsert merges into one).
* ``partial`` — a PATCH body: ``required`` and ``default`` dropped on every object level
  (absent means unchanged), but kept inside array items, which are replaced whole.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from reach.domain.compiled import REF_PREFIX

View = Literal["full", "create", "partial"]

# Keywords OpenAPI 3.0 and draft-07 share with the same meaning; everything else is handled
# explicitly below or dropped.
_SAME = frozenset(
    {
        "title",
        "multipleOf",
        "maximum",
        "minimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxProperties",
        "minProperties",
        "enum",
        "description",
        "format",
        "readOnly",
        "writeOnly",
    }
)
_COMBINATORS = ("allOf", "anyOf", "oneOf")
_MAX_DEPTH = 32


@dataclass(frozen=True, slots=True)
class Converter:
    """Converts one root schema; ``target_name`` turns a ``reach:schemas/<key>`` key into the
    name of the schema it points at (ids and names are both allowed in a reference)."""

    root: dict[str, Any]
    view: View
    target_name: Callable[[str], str]

    def top(self) -> dict[str, Any]:
        """The data object of a record: the root without its document-level title."""
        converted = self.node(self.root, depth=0, in_items=False, seen=())
        converted.pop("title", None)
        return converted

    def node(
        self, node: Any, *, depth: int, in_items: bool, seen: tuple[str, ...]
    ) -> dict[str, Any]:
        if node is True or depth > _MAX_DEPTH:
            return {}
        if node is False:
            return {"not": {}}
        if not isinstance(node, dict):
            return {}
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self._ref(node, ref, depth=depth, in_items=in_items, seen=seen)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key in _SAME or key.startswith("x-"):
                out[key] = value
        self._type(node, out)
        self._bounds(node, out)
        if "const" in node:
            out["enum"] = [node["const"]]
        examples = node.get("examples")
        if isinstance(examples, list) and examples:
            out["example"] = examples[0]
        if "default" in node and self.view == "create":
            # Told in words, not as ``default``: a create body is also an upsert body (merged
            # into an existing record), and generated clients send every ``default`` whenever
            # the caller leaves a field out, which would overwrite the stored value.
            told = f"Default when a record is created: {orjson.dumps(node['default']).decode()}"
            described = out.get("description")
            out["description"] = f"{described.rstrip('.')}. {told}" if described else told
        required = node.get("required")
        if isinstance(required, list) and required and (self.view != "partial" or in_items):
            out["required"] = list(required)
        self._children(node, out, depth=depth, in_items=in_items, seen=seen)
        return out

    def _children(
        self,
        node: dict[str, Any],
        out: dict[str, Any],
        *,
        depth: int,
        in_items: bool,
        seen: tuple[str, ...],
    ) -> None:
        def sub(value: Any, *, items: bool = in_items) -> dict[str, Any]:
            return self.node(value, depth=depth + 1, in_items=items, seen=seen)

        properties = node.get("properties")
        if isinstance(properties, dict):
            out["properties"] = {name: sub(spec) for name, spec in properties.items()}
        extra = node.get("additionalProperties")
        if isinstance(extra, bool):
            out["additionalProperties"] = extra
        elif isinstance(extra, dict):
            out["additionalProperties"] = sub(extra)
        items = node.get("items")
        if isinstance(items, list):
            # Tuple validation has no 3.0 form: any listed shape may appear.
            out["items"] = {"anyOf": [sub(i, items=True) for i in items]} if items else {}
        elif items is not None:
            out["items"] = sub(items, items=True)
        for combinator in _COMBINATORS:
            parts = node.get(combinator)
            if isinstance(parts, list) and parts:
                out[combinator] = [sub(part) for part in parts]
        if "not" in node:
            out["not"] = sub(node["not"])

    @staticmethod
    def _type(node: dict[str, Any], out: dict[str, Any]) -> None:
        kind = node.get("type")
        kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
        concrete = [k for k in kinds if isinstance(k, str) and k != "null"]
        if "null" in kinds:
            out["nullable"] = True
        if len(concrete) == 1:
            out["type"] = concrete[0]
        elif len(concrete) > 1:
            out["anyOf"] = [{"type": k} for k in concrete]

    @staticmethod
    def _bounds(node: dict[str, Any], out: dict[str, Any]) -> None:
        # draft-06+ exclusive bounds are numbers; in 3.0 they are flags on minimum/maximum.
        for exclusive, plain in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            value = node.get(exclusive)
            if isinstance(value, bool):
                out[exclusive] = value
            elif isinstance(value, int | float):
                out[plain] = value
                out[exclusive] = True

    def _ref(
        self, node: dict[str, Any], ref: str, *, depth: int, in_items: bool, seen: tuple[str, ...]
    ) -> dict[str, Any]:
        description = node.get("description")
        if ref.startswith(REF_PREFIX):
            target = self.target_name(ref.removeprefix(REF_PREFIX))
            text = f"External id of a {target} record (reference to the {target} schema)"
            out: dict[str, Any] = {
                "type": "string",
                "description": f"{description} ({text})" if description else text,
            }
            out.update({k: v for k, v in node.items() if k.startswith("x-")})
            return out
        if not ref.startswith("#") or ref in seen:
            # A foreign or recursive reference: describe it as "any value" rather than loop.
            return {"description": description} if description else {}
        resolved = _pointer(self.root, ref[1:])
        converted = self.node(resolved, depth=depth + 1, in_items=in_items, seen=(*seen, ref))
        if description:
            converted["description"] = description
        return converted


def _pointer(root: Any, pointer: str) -> Any:
    """Resolve a JSON Pointer (RFC 6901) inside ``root``; None when it leads nowhere."""
    node = root
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def data_schema(
    json_schema: dict[str, Any], view: View, target_name: Callable[[str], str]
) -> dict[str, Any]:
    """The OpenAPI form of a resource schema's ``data`` object, in one of the three views."""
    return Converter(json_schema, view, target_name).top()
