"""The HTTP edge: everything between the ASGI server and the route handlers.

``app`` builds the application; ``edge`` is its whole middleware stack (request id, security
headers, the one error renderer, observers) and ``cors`` wraps it when origins are allowed;
``router`` matches a path to its route; ``endpoint`` is the request pipeline every API route
runs (authenticate, tenant, rate limit, body, the transaction, the handler), with
``idempotency`` for keyed writes; ``http`` holds the body and query helpers handlers use.
Importing the package imports none of them.
"""
