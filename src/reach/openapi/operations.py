"""One documented operation: a row of the declarative tables the document is built from.

Paths are written here, by hand, next to what they mean; nothing is read from the router's
internals. ``tests/test_openapi.py`` walks the app's public route list and fails when a served
route has no row (or a row has no route), so the tables cannot drift from the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reach.openapi.components import TENANT_PARAMETERS, Schema, json_body

NO_AUTH: list[dict[str, list[str]]] = []


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    responses: dict[str, Schema]
    description: str = ""
    parameters: tuple[Schema, ...] = ()
    body: Schema | None = None
    body_description: str | None = None
    public: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant_scoped(self) -> bool:
        return self.path.startswith("/api/")

    def render(self) -> Schema:
        parameters = list(self.parameters)
        if self.tenant_scoped:
            parameters = [*TENANT_PARAMETERS, *parameters]
        out: Schema = {
            "tags": [self.tag],
            "summary": self.summary,
            "operationId": self.operation_id,
        }
        if self.description:
            out["description"] = self.description
        if parameters:
            out["parameters"] = parameters
        if self.body is not None:
            out["requestBody"] = {"required": True, **json_body(self.body, self.body_description)}
        out["responses"] = self.responses
        if self.public:
            out["security"] = NO_AUTH
        out.update(self.extra)
        return out


def add_to(paths: dict[str, Schema], operations: list[Operation]) -> None:
    """Put each operation under its path; a duplicate (path, method) is a programming error."""
    for operation in operations:
        methods = paths.setdefault(operation.path, {})
        method = operation.method.lower()
        if method in methods:
            raise ValueError(f"{operation.method} {operation.path} is documented twice")
        methods[method] = operation.render()
