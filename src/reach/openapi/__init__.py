"""The OpenAPI document the server publishes at ``/openapi.json``; see :mod:`reach.openapi.spec`."""

from reach.openapi.spec import build_document, default_schemas, partner_schemas

__all__ = ["build_document", "default_schemas", "partner_schemas"]
