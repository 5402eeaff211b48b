"""Where a webhook may be sent: the address check against server-side request forgery.

The host is resolved at send time and every address it resolves to must be public; the
request then goes to the address that was checked (the URL's host is kept for ``Host`` and TLS
SNI/certificate checks), so a second, different DNS answer cannot slip in between the check
and the connection. One rule, here, for every outgoing connection Reach makes to a URL a
partner gave it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from reach.errors import BadRequest

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(Exception):
    """The destination is not allowed (or does not resolve); never retried sooner."""


def refusal(address: Address) -> str | None:
    """Why ``address`` may not be connected to, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for flag in ("is_unspecified", "is_loopback", "is_link_local", "is_multicast"):
        if getattr(address, flag):
            return f"{address} is a {flag.removeprefix('is_').replace('_', '-')} address"
    if address.is_private or address.is_reserved or not address.is_global:
        return f"{address} is a private or reserved address"
    return None


async def resolve(host: str, port: int, *, allow_private: bool) -> str:
    """The address to connect to for ``host``: a literal address as it is, else the first
    address DNS gives — after checking all of them. Raises :class:`Refused`."""
    try:
        literal: Address | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        candidates = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise Refused(f"{host} does not resolve: {exc}") from None
        candidates = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not candidates:
            raise Refused(f"{host} does not resolve")
    if not allow_private:
        for address in candidates:
            reason = refusal(address)
            if reason:
                raise Refused(f"{host}: {reason} (REACH_WEBHOOK_ALLOW_PRIVATE is off)")
    return str(candidates[0])


def check_literal(url_host: str, *, allow_private: bool, where: str) -> None:
    """At create/update time: a URL naming a forbidden address literally is a 400 at once
    (names are checked when sending, when their answer counts)."""
    if allow_private:
        return
    try:
        address = ipaddress.ip_address(url_host.strip("[]"))
    except ValueError:
        if url_host.lower() == "localhost" or url_host.lower().endswith(".localhost"):
            raise BadRequest(
                "Invalid webhook endpoint", errors=[f"{where}: {url_host} is a loopback name"]
            ) from None
        return
    reason = refusal(address)
    if reason:
        raise BadRequest("Invalid webhook endpoint", errors=[f"{where}: {reason}"])
