"""More servers on the session's database, with other settings, and raw HTTP exchanges.

``extra_server`` starts the real app (uvicorn on a loopback port) on the ``api`` fixture's
database with some settings changed — a small body limit, a short timeout, rate limiting —
so those behaviours are tested over real HTTP without touching the shared server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from tests.harness import Harness, ServerThread, free_port


@contextmanager
def extra_server(api: Harness, **overrides: Any) -> Iterator[str]:
    settings = msgspec.structs.replace(
        api.settings, **({"port": free_port(), "batch_worker": False} | overrides)
    )
    server = ServerThread(settings)
    server.start()
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.stop()


class RawResponse(msgspec.Struct):
    status: int
    headers: dict[str, str]
    body: bytes


def exchange(base_url: str, head: str, body: bytes = b"", *, timeout: float = 20) -> RawResponse:
    """Send ``head`` (request line and headers, no blank line) and ``body`` as given — framing
    no well-behaved client would produce — and read one response, leaving the request
    unfinished if the server answers before it was complete."""
    host, port = base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("utf-8", "surrogateescape") + b"\r\n\r\n" + body)
        received = b""
        while not _complete(received):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers: dict[str, str] = {}
    for line in header_block.split(b"\r\n"):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(int(status_line.split()[1]), headers, content)


def _complete(received: bytes) -> bool:
    head, found, content = received.partition(b"\r\n\r\n")
    if not found:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(content) >= int(value)
    return False
