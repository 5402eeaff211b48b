"""The webhook sender's HTTP/1.1: h11 over asyncio protocols, with keep-alive pools.

The sender only ever POSTs a small signed body and reads at most 1 KB of the answer, so it needs
a small part of an HTTP client: no redirects, proxies, cookies, compression or HTTP/2. httpx
did all of that on every request and cost 3 to 5 ms of CPU a POST on the shared machine (most of
a delivery); h11 (the parser under httpx, kept by the same people) driven from an
:class:`asyncio.Protocol` costs about a twelfth of that (docs/decisions.md, *The webhook
sender speaks HTTP/1.1 through h11*). Parsing and framing are h11's; this module only moves
bytes and keeps connections.

A new connection goes to the address the caller's ``address_for`` gives (the sender's resolves
and checks it: :mod:`reach.webhooks.addresses`), and is kept per
destination — (scheme, host, port) of the URL — for :data:`MAX_AGE_SECONDS` at most, so a new
DNS answer is heard within that time. A kept connection goes on to the address it was opened
to, which was checked then.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from typing import NamedTuple, cast

import h11
import httpx

# A kept connection is not reused after this long: DNS answers change, and an address checked
# long ago should be looked up (and checked) again.
MAX_AGE_SECONDS = 60.0
# The most of an answer's head (status line and headers) read before giving up on it.
MAX_HEAD_BYTES = 16 * 1024
# How often idle connections past their age (or closed by the other side) are let go of.
SWEEP_SECONDS = 10.0


class Destination(NamedTuple):
    """Where a URL's requests go: ``host`` is the ASCII (IDNA) name or the literal address
    (IPv6 without brackets); ``netloc`` is what ``Host`` says; ``target`` the path and query."""

    scheme: str
    host: str
    port: int
    netloc: bytes
    target: bytes


@lru_cache(maxsize=4096)
def destination(url: str) -> Destination:
    """Parsed once per URL (httpx's parser, which the endpoint checks use too)."""
    parsed = httpx.URL(url)
    scheme = parsed.scheme
    port = parsed.port or (443 if scheme == "https" else 80)
    return Destination(
        scheme, parsed.raw_host.decode("ascii"), port, parsed.netloc, parsed.raw_path or b"/"
    )


class Answer(NamedTuple):
    status_code: int
    body: bytes  # at most the limit asked for


class ConnectionFailed(Exception):
    """The connection broke or the answer was not HTTP; the message says how."""


class _Stale(ConnectionFailed):
    """A kept connection was closed before any answer came: the request may be sent again on
    a new connection (the server dropped an idle connection as it was being reused)."""


_tls: ssl.SSLContext | None = None


def tls_context() -> ssl.SSLContext:
    """The system's trusted certificates, host names checked (made once: loading is slow)."""
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.opened = time.monotonic()
        self.used = False
        self._waiter: asyncio.Future[None] | None = None

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        if not self.closed:
            self.h11.receive_data(b"")
        self.closed = True
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- use

    def reusable(self) -> bool:
        return (
            not self.closed
            and self.h11.our_state is h11.IDLE
            and self.h11.their_state is h11.IDLE
            and not self.h11.trailing_data[0]
            and time.monotonic() - self.opened < MAX_AGE_SECONDS
        )

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def post(
        self,
        netloc: bytes,
        target: bytes,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        limit: int,
    ) -> Answer:
        """One request and its answer; the connection is left ready for the next one, or
        closed. Reads at most ``limit`` bytes of the answer's body."""
        transport = self.transport
        if transport is None:
            raise ConnectionFailed("not connected")
        reused, self.used = self.used, True
        conn = self.h11
        status: int | None = None
        read = bytearray()
        try:
            head = conn.send(
                h11.Request(
                    method=b"POST",
                    target=target,
                    headers=[(b"host", netloc), (b"content-length", b"%d" % len(body)), *headers],
                )
            )
            data = conn.send(h11.Data(data=body))
            end = conn.send(h11.EndOfMessage())
            transport.write((head or b"") + (data or b"") + (end or b""))
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    if self.closed:
                        # h11 has been told of the end (eof_received): NEED_DATA here means
                        # the transport was lost outright.
                        raise self._broken(reused, status)
                    self._waiter = asyncio.get_running_loop().create_future()
                    try:
                        await self._waiter
                    finally:
                        self._waiter = None
                elif isinstance(event, h11.Data):
                    read += event.data
                    if len(read) >= limit:
                        # The rest is not read: this connection cannot carry another request.
                        self.abort()
                        return Answer(status or 0, bytes(read[:limit]))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise self._broken(reused, status)
                # h11.InformationalResponse (1xx): the final answer follows.
        except h11.RemoteProtocolError as exc:
            ended = self.closed
            self.abort()
            if ended and not read:
                # The end of the stream where an answer should be (h11 calls that a protocol
                # error): the connection was closed, not misused.
                raise self._broken(reused, status) from None
            raise ConnectionFailed(f"not an HTTP/1.1 answer: {exc}") from None
        except BaseException:
            self.abort()  # cancelled (the attempt's timeout) or broken: never reused
            raise
        if status is None:  # h11 ends a message only after its head
            raise ConnectionFailed("an answer without a status")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            self.close()  # "Connection: close", or an answer that ends with the connection
        return Answer(status, bytes(read))

    def _broken(self, reused: bool, status: int | None) -> ConnectionFailed:
        if reused and status is None:
            return _Stale("the kept connection was closed")
        if status is None:
            return ConnectionFailed("the server closed the connection without answering")
        return ConnectionFailed("the server closed the connection mid-answer")


class _Pool:
    """Idle connections to one destination, newest last."""

    __slots__ = ("idle", "limit")

    def __init__(self, limit: int) -> None:
        self.idle: list[_Connection] = []
        self.limit = limit

    def take(self) -> _Connection | None:
        while self.idle:
            conn = self.idle.pop()
            if conn.reusable():
                return conn
            conn.close()
        return None

    def give(self, conn: _Connection) -> None:
        if conn.reusable() and len(self.idle) < self.limit:
            self.idle.append(conn)
        else:
            conn.close()

    def sweep(self) -> None:
        kept = []
        for conn in self.idle:
            if conn.reusable():
                kept.append(conn)
            else:
                conn.close()
        self.idle = kept

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


Connect = Callable[[Destination], Awaitable[str]]


class Client:
    """Keep-alive connections per destination, for one process's sender: at most
    ``per_destination`` idle ones to each of at most ``destinations`` destinations (the least
    recently used destination's connections are closed past that)."""

    def __init__(
        self,
        *,
        per_destination: int,
        destinations: int = 256,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.per_destination = per_destination
        self.destinations = destinations
        self.tls = tls
        self._pools: OrderedDict[tuple[str, str, int], _Pool] = OrderedDict()
        self._swept = time.monotonic()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _pool(self, key: tuple[str, str, int]) -> _Pool:
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= self.destinations:
                self._pools.popitem(last=False)[1].close()
            pool = self._pools[key] = _Pool(self.per_destination)
        else:
            self._pools.move_to_end(key)
        return pool

    async def post(
        self,
        url: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes,
        *,
        limit: int,
        address_for: Connect,
    ) -> Answer:
        """POST ``body`` to ``url``; a new connection goes to the address ``address_for``
        gives (which checks it), a kept one to the address it was opened to."""
        where = destination(url)
        if time.monotonic() - self._swept >= SWEEP_SECONDS:
            self._sweep()
        pool = self._pool((where.scheme, where.host, where.port))
        conn = pool.take()
        if conn is not None:
            try:
                answer = await conn.post(where.netloc, where.target, headers, body, limit)
            except _Stale:
                conn = None  # once more, on a new connection
            else:
                pool.give(conn)
                return answer
        conn = await self._open(where, await address_for(where), self.tls)
        answer = await conn.post(where.netloc, where.target, headers, body, limit)
        pool.give(conn)
        return answer

    def _sweep(self) -> None:
        """Close idle connections too old to use (or already closed by the other side), and
        forget destinations with none left."""
        self._swept = time.monotonic()
        for key, pool in list(self._pools.items()):
            pool.sweep()
            if not pool.idle:
                del self._pools[key]

    @staticmethod
    async def _open(where: Destination, address: str, tls: ssl.SSLContext | None) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            if where.scheme == "https":
                # To the checked address; SNI and the certificate check use the URL's host.
                _, conn = await loop.create_connection(
                    _Connection,
                    address,
                    where.port,
                    ssl=tls or tls_context(),
                    server_hostname=where.host,
                )
            else:
                _, conn = await loop.create_connection(_Connection, address, where.port)
        except ssl.SSLError as exc:
            raise ConnectionFailed(f"TLS: {exc}") from None
        except OSError as exc:
            raise ConnectionFailed(f"cannot connect to {address}: {exc}") from None
        return conn
