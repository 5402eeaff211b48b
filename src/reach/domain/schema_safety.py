"""What keeps a schema definition from making the server fetch anything or stall.

Two defences, both applied before any JSON Schema library reads a definition:

* **No fetches.** ``$schema``, ``$ref`` and ``$id`` naming a URL are refused wherever they
  appear (:func:`inspect`), and every validator is built with :func:`refuse_retrieval` as
  its retriever, so even a definition that slipped past the check (stored before it existed)
  resolves nothing but itself. ``reach:schemas/...`` references never reach the library:
  :func:`reach.domain.compiled.strip_reach_refs` turns them into strings first.
* **Bounded work.** Compiling a validator holds the GIL for its whole length (measured: a
  thread does not help), so size, nesting depth and node count are capped
  (:class:`SchemaLimits`) with a 400 that names the cap.
"""

from __future__ import annotations

import re
from typing import Any, NoReturn

import jsonschema_rs
import msgspec
import orjson

REF_PREFIX = "reach:schemas/"
DRAFT_07_URIS = (
    "http://json-schema.org/draft-07/schema#",
    "http://json-schema.org/draft-07/schema",
    "https://json-schema.org/draft-07/schema#",
    "https://json-schema.org/draft-07/schema",
)
# A regular expression costs about this many ordinary nodes to compile (measured: ~40 µs
# for a ``pattern`` against ~2 µs per plain node).
PATTERN_WEIGHT = 20


class SchemaLimits(msgspec.Struct, frozen=True):
    max_bytes: int = 512 * 1024
    max_depth: int = 32
    max_nodes: int = 10_000


def refuse_retrieval(uri: str) -> NoReturn:
    """The retriever of every validator we build: nothing is ever fetched."""
    raise ValueError(f"{uri}: remote schemas are never fetched")


# Meta-validation takes a registry, not a retriever: one that can only refuse.
OFFLINE_REGISTRY = jsonschema_rs.Registry([], retriever=refuse_retrieval)


def validator(json_schema: dict[str, Any], *, validate_formats: bool) -> jsonschema_rs.Validator:
    """A draft-07 validator that cannot open a connection."""
    return jsonschema_rs.Draft7Validator(
        json_schema, validate_formats=validate_formats, retriever=refuse_retrieval
    )


def meta_validate(json_schema: dict[str, Any]) -> None:
    jsonschema_rs.meta.validate(json_schema, registry=OFFLINE_REGISTRY)


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def url_problem(key: str, value: str) -> str | None:
    """Why ``{key: value}`` may make a library fetch something, or None if it cannot."""
    if key == "$schema":
        if value in DRAFT_07_URIS:
            return None  # draft-07 itself is built into the library: never fetched
        return f"must be {DRAFT_07_URIS[0]!r} (JSON Schema draft-07); other URLs are never fetched"
    if key == "$ref":
        if value.startswith(("#", REF_PREFIX)):
            return None
        return "only local (#...) and reach:schemas/<nameOrId> references are allowed"
    if key == "$id":
        if value.startswith("#") and not _SCHEME.match(value):
            return None
        return "only a local anchor (#name) is allowed; URLs and relative ids are refused"
    return None


def remote_references(json_schema: Any, root: str = "schema") -> list[str]:
    """``schema.properties.a.$schema: ...`` for every URL-naming keyword, at any depth."""
    return inspect(json_schema, SchemaLimits(2**62, 2**62, 2**62), root)


def inspect(json_schema: Any, limits: SchemaLimits, root: str = "schema") -> list[str]:
    """Every reason to refuse ``json_schema`` before a library reads it: size, depth, node
    count, and keywords that name URLs — at any depth, including inside ``default``/``enum``
    values (the library decides what is a subschema; we do not bet on it)."""
    size = len(orjson.dumps(json_schema))
    if size > limits.max_bytes:
        return [f"{root}: {size} bytes; at most {limits.max_bytes} are allowed"]
    errors: list[str] = []
    nodes = 0
    too_deep: str | None = None
    stack: list[tuple[Any, str, int]] = [(json_schema, root, 0)]
    while stack:
        node, path, depth = stack.pop()
        nodes += 1
        if depth > limits.max_depth:
            too_deep = too_deep or path
            continue
        if isinstance(node, dict):
            children: list[tuple[Any, str, int]] = []
            for key, value in node.items():
                child = f"{path}.{key}"
                if isinstance(value, str):
                    nodes += PATTERN_WEIGHT if key == "pattern" else 1
                    problem = url_problem(key, value)
                    if problem is not None:
                        errors.append(f"{child}: {problem}")
                else:
                    if key == "patternProperties" and isinstance(value, dict):
                        nodes += (PATTERN_WEIGHT - 1) * len(value)
                    children.append((value, child, depth + 1))
            # Pushed last-first so the walk (and the report) follows document order.
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((node[i], f"{path}[{i}]", depth + 1) for i in range(len(node) - 1, -1, -1))
    if too_deep is not None:
        errors.append(f"{too_deep}: nested deeper than {limits.max_depth} levels")
    if nodes > limits.max_nodes:
        errors.append(
            f"{root}: {nodes} nodes (a regular expression counts as {PATTERN_WEIGHT}); "
            f"at most {limits.max_nodes} are allowed"
        )
    return errors
