"""A small typed Python client for the Reach Partner Resources API (sync, on httpx).

    from reach.client import Client

    with Client.for_partner(url, partner_id, secret, tenant="acme") as client:
        client.create("customers", {...})

Errors are :class:`ReachAPIError` subclasses carrying the server's envelope (``status``,
``message``, ``errors``); 429, 5xx and connection failures are retried first (see
:class:`RetryPolicy`).
"""

from reach.client.client import Client, ProgressCallback
from reach.client.errors import (
    BadRequestError,
    BatchTimeout,
    ConflictError,
    ForbiddenError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ReachAPIError,
    ReachClientError,
    ReachConnectionError,
    ServerError,
    UnauthorizedError,
)
from reach.client.events import ChangeEvent, EventPage, EventTail
from reach.client.models import (
    Batch,
    BatchProgress,
    Fetched,
    ItemFailure,
    Page,
    Pagination,
    Record,
    SchemaDefinition,
    Tenant,
)
from reach.client.retry import RetryPolicy
from reach.client.segments import ChannelAccount, Condition, Segment, TextToSegment
from reach.client.webhooks import (
    WebhookDelivery,
    WebhookEndpoint,
    WebhookVerificationError,
    verify_webhook,
)

__all__ = [
    "BadRequestError",
    "Batch",
    "BatchProgress",
    "BatchTimeout",
    "ChangeEvent",
    "ChannelAccount",
    "Client",
    "Condition",
    "ConflictError",
    "EventPage",
    "EventTail",
    "Fetched",
    "ForbiddenError",
    "ItemFailure",
    "NotFoundError",
    "Page",
    "Pagination",
    "PayloadTooLargeError",
    "ProgressCallback",
    "RateLimitedError",
    "ReachAPIError",
    "ReachClientError",
    "ReachConnectionError",
    "Record",
    "RetryPolicy",
    "SchemaDefinition",
    "Segment",
    "ServerError",
    "Tenant",
    "TextToSegment",
    "UnauthorizedError",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookVerificationError",
    "verify_webhook",
]
