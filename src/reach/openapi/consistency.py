"""``Reach-Consistency`` in the document (docs/replicas.md): answered by every write, sent back
by reads. Only deployments with read replicas use it; the others ignore it and never send it."""

from __future__ import annotations

from reach.openapi.components import Schema, ref
from reach.routes.segments import TEXT

_WRITES = frozenset({"post", "patch", "delete"})
_NOT_WRITES = frozenset({("post", TEXT)})  # a POST that only reads

PARAMETERS: dict[str, Schema] = {
    "ReachConsistency": {
        "name": "Reach-Consistency",
        "in": "header",
        "required": False,
        "description": "The latest Reach-Consistency a write answered with. With read replicas "
        "(REACH_DATABASE_READ_URLS), a read a replica serves then shows at least that write; "
        "without one, a replica may be up to REACH_REPLICA_MAX_LAG_SECONDS stale. Ignored "
        "where everything reads the primary; an unrecognised value reads the primary.",
        "schema": {"type": "string", "maxLength": 64},
    }
}

HEADERS: dict[str, Schema] = {
    "ReachConsistency": {
        "description": "Only with read replicas: the database position this write committed "
        "at, opaque (the later of two is the greater string). Send it back as the "
        "Reach-Consistency request header to read your own writes.",
        "schema": {"type": "string"},
    }
}


def document(paths: dict[str, Schema]) -> None:
    """The request header on every API read, the response header on every write's 2xx."""
    for path, item in paths.items():
        if not path.startswith(("/api/", "/partner/")):
            continue
        for method, operation in item.items():
            if method == "get":
                operation["parameters"] = [
                    *operation.get("parameters", ()),
                    ref("parameters", "ReachConsistency"),
                ]
            elif method in _WRITES and (method, path) not in _NOT_WRITES:
                answers: dict[str, Schema] = {}
                for status, answer in operation["responses"].items():
                    if status.startswith("2") and "$ref" not in answer:
                        headers = {**answer.get("headers", {})}
                        headers["Reach-Consistency"] = ref("headers", "ReachConsistency")
                        answer = {**answer, "headers": headers}
                    answers[status] = answer
                operation["responses"] = answers
