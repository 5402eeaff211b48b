"""The customers the bench seeds. bench/lua/common.lua computes the same ids (prefix + 7 digits)."""

from __future__ import annotations

from typing import Any

PREFIX = "bench-"


def customer_id(i: int, prefix: str = PREFIX) -> str:
    return f"{prefix}{i:07d}"


def customer(i: int, prefix: str = PREFIX) -> dict[str, Any]:
    """A customer as a client sends it: the required fields and a few optional ones."""
    return {
        "customerId": customer_id(i, prefix),
        "firstName": f"First{i}",
        "lastName": f"Last{i}",
        "email": f"customer{i}@example.com",
        "phone": f"+1555{i % 10_000_000:07d}",
        "customerDetailUrl": f"https://crm.example.com/c/{i}",
        "createdAt": "2026-01-01T00:00:00Z",
    }


def stored_customer(i: int, prefix: str = PREFIX) -> dict[str, Any]:
    """The same customer as the server stores it on create (the schema defaults applied)."""
    return {**customer(i, prefix), "emailOptOut": False, "smsOptOut": True}
