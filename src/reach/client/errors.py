"""What the client raises: the Reach error envelope as typed exceptions.

Every error body the server sends is ``{"success": false, "message": str}`` plus ``errors``
(a list of strings, one per problem, on 400s) or ``data.error`` (on 404s); the exception keeps
all three, and the status, so callers can branch on the type and show the messages.
"""

from __future__ import annotations

from typing import Any


class ReachClientError(Exception):
    """Anything the client raises."""


class ReachConnectionError(ReachClientError):
    """The server could not be reached (or the connection broke) on every attempt."""


class BatchTimeout(ReachClientError):
    """A batch was still running when :meth:`Client.wait_for_batch` stopped waiting."""

    def __init__(self, batch_id: str, seconds: float) -> None:
        super().__init__(f"batch {batch_id} still running after {seconds:.0f} s")
        self.batch_id = batch_id


class ReachAPIError(ReachClientError):
    """The server answered with an error status."""

    def __init__(
        self, status: int, message: str, errors: list[str], body: Any, retry_after: float | None
    ) -> None:
        detail = f": {'; '.join(errors)}" if errors and errors != [message] else ""
        super().__init__(f"{status} {message}{detail}")
        self.status = status
        self.message = message
        self.errors = errors
        self.body = body
        self.retry_after = retry_after


class BadRequestError(ReachAPIError):
    """400: the request was refused; ``errors`` names each problem and its field."""


class UnauthorizedError(ReachAPIError):
    """401: missing, malformed, expired or wrongly signed token."""


class ForbiddenError(ReachAPIError):
    """403: the token may not do this (e.g. a tenant token on a partner route)."""


class NotFoundError(ReachAPIError):
    """404: no such record, tenant, schema or batch (or not this partner's)."""


class ConflictError(ReachAPIError):
    """409: the record exists (``onconflict=reject``), is referenced, or a name is taken."""


class PayloadTooLargeError(ReachAPIError):
    """413: the body is larger than the server accepts."""


class RateLimitedError(ReachAPIError):
    """429: still rate limited after every retry."""


class ServerError(ReachAPIError):
    """5xx: still failing after every retry."""


_BY_STATUS: dict[int, type[ReachAPIError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
}


def api_error(status: int, body: Any, retry_after: float | None) -> ReachAPIError:
    """The exception for an error response, from its decoded body (or None if not JSON)."""
    message = f"HTTP {status}"
    errors: list[str] = []
    if isinstance(body, dict):
        if isinstance(body.get("message"), str):
            message = body["message"]
        listed = body.get("errors")
        if isinstance(listed, list):
            errors = [str(e) for e in listed]
        data = body.get("data")
        if not errors and isinstance(data, dict) and isinstance(data.get("error"), str):
            errors = [data["error"]]
    kind = _BY_STATUS.get(status, ServerError if status >= 500 else ReachAPIError)
    return kind(status, message, errors, body, retry_after)
