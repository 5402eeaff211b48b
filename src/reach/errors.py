"""Domain errors. Each carries its HTTP status; one handler in :mod:`reach.web.edge` renders them.

The wire shapes come from the published contract and DESIGN.md:

* 400 → ``{"success": false, "message": str, "errors": [str, ...]}``
* 404 → ``{"success": false, "message": str, "data": {"error": str}}``
* everything else → ``{"success": false, "message": str}`` (+ ``errors`` when there are any)
"""

from __future__ import annotations

from typing import Any, ClassVar


class ConfigError(Exception):
    """A setting is malformed; raised before anything is served."""


class ReachError(Exception):
    status: int = 500
    default_message: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.errors = errors
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"success": False, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class BadRequest(ReachError):
    status = 400
    default_message = "Bad request"

    def body(self) -> dict[str, Any]:
        # The contract's 400 always lists the problems, one string per problem.
        return {"success": False, "message": self.message, "errors": self.errors or [self.message]}


class Unauthorized(ReachError):
    status = 401
    default_message = "Unauthorized"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="reach"'})


class Forbidden(ReachError):
    status = 403
    default_message = "Forbidden"


class NotFound(ReachError):
    status = 404
    default_message = "Not found"

    def body(self) -> dict[str, Any]:
        return {"success": False, "message": self.message, "data": {"error": self.message}}


class MethodNotAllowed(ReachError):
    status = 405
    default_message = "Method not allowed"


class Conflict(ReachError):
    status = 409
    default_message = "Conflict"


class UnprocessableContent(ReachError):
    """A well-formed request the server will not act on (e.g. an ``Idempotency-Key`` reused
    for a different request)."""

    status = 422
    default_message = "Unprocessable content"


class PayloadTooLarge(ReachError):
    status = 413
    default_message = "Request body too large"


class UnsupportedMediaType(ReachError):
    status = 415
    default_message = "Content-Type must be application/json"


class TooManyRequests(ReachError):
    status = 429
    default_message = "Too many requests"


class ServiceUnavailable(ReachError):
    """Nothing wrong with the request; the server cannot serve it right now. Always carries
    ``Retry-After`` (1 s unless given), so clients know to come back."""

    status = 503
    default_message = "Service unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        errors: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, errors=errors, headers={"Retry-After": "1", **(headers or {})})


class StaleScope(Conflict):
    """A resource write found its tenant deleted, or its schema definition changed, after this
    process cached them (through another node, or by an operator): nothing was written. The
    route reads both again and retries once (:mod:`reach.web.endpoint`), so a client sees this only
    if they change again in between."""

    default_message = (
        "The tenant or schema definition changed while the request ran; retry the request"
    )


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not do its part just now: unreachable, restarting, no connection free
    in time, a lock held too long. A fault, never the request's (see reach.storage.faults)."""

    default_message = "The database is unavailable; retry shortly"


# -- the write rule's refusals (reach.domain.write_rule): 400s a batch item reports by type


class UnknownFields(BadRequest):
    """The change names fields the schema does not declare (and they were not to be ignored)."""

    def __init__(self, paths: list[str]) -> None:
        super().__init__(
            f"Unknown field{'s' if len(paths) > 1 else ''}: {', '.join(paths)}",
            errors=[f"{path}: unknown field" for path in paths],
        )


class InvalidDocument(BadRequest):
    """The change, or the document it makes, breaks the schema's rules."""

    default_message = "Validation failed"

    def __init__(self, errors: list[str]) -> None:
        super().__init__(errors=errors)


class InvalidExternalId(InvalidDocument):
    """The record's external id is missing, not a string, too long or holds U+0000."""


class MissingReferences(BadRequest):
    """References this write sets name records that do not exist. ``missing`` holds what a
    batch stores to wait for them (:class:`reach.domain.write_rule.Missing`)."""

    default_message = "Referenced records do not exist"

    def __init__(self, errors: list[str], missing: list[Any]) -> None:
        super().__init__(errors=errors)
        self.missing = missing


class PreconditionFailed(ReachError):
    """An ``If-Match`` / ``If-None-Match`` condition does not hold: nothing was changed."""

    status = 412
    default_message = "Precondition failed"
