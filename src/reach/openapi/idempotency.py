"""``Idempotency-Key`` in the document: on every write a tenant makes (the routes
:mod:`reach.web.endpoint` makes idempotent — POST, PATCH and DELETE under ``/api/``), with its 409
and 422 answers and the ``Idempotent-Replayed`` header of a replayed success."""

from __future__ import annotations

from reach.openapi.components import Schema, ref, response, schema_ref
from reach.web.idempotency import MAX_KEY_LENGTH

_WRITES = frozenset({"post", "patch", "delete"})

PARAMETERS: dict[str, Schema] = {
    "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Makes a retry safe: the first successful answer to a request with this "
        "key is stored (per tenant, for REACH_IDEMPOTENCY_RETENTION_SECONDS, default 24 h) "
        "and returned to every retry with the same key and the same method, path, query and "
        "body, without writing again (a batch: the same batchId). Errors are not stored. "
        "The same key with a different request is a 422; while the first request is still "
        "running, a 409 with Retry-After.",
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_KEY_LENGTH,
            "pattern": "^[ -~]+$",
            "description": "1 to 255 printable ASCII characters, e.g. a UUID",
        },
    }
}

HEADERS: dict[str, Schema] = {
    "IdempotentReplayed": {
        "description": "`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key (nothing was written this time); absent otherwise.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}

RESPONSES: dict[str, Schema] = {
    "UnprocessableContent": response(
        "The Idempotency-Key was already used for a different request", schema_ref("Error")
    ),
    "IdempotencyKeyInUse": {
        **response(
            "A request with this Idempotency-Key is still running; retry after Retry-After",
            schema_ref("Error"),
        ),
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def document(paths: dict[str, Schema]) -> None:
    """Add the header, the replay marker and the 409/422 answers to every tenant write."""
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method not in _WRITES:
                continue
            operation["parameters"] = [
                *operation.get("parameters", ()),
                ref("parameters", "IdempotencyKey"),
            ]
            answers: dict[str, Schema] = {}
            for status, answer in operation["responses"].items():
                if status.startswith("2") and "$ref" not in answer:
                    headers = {**answer.get("headers", {})}
                    headers["Idempotent-Replayed"] = ref("headers", "IdempotentReplayed")
                    answer = {**answer, "headers": headers}
                answers[status] = answer
            # A malformed key is a 400 (the shared body) wherever the write did not list one.
            answers.setdefault("400", ref("responses", "BadRequest"))
            # A write that documents its own 409 (a duplicate, a reference) keeps that text.
            answers.setdefault("409", ref("responses", "IdempotencyKeyInUse"))
            answers["422"] = ref("responses", "UnprocessableContent")
            operation["responses"] = dict(sorted(answers.items()))
