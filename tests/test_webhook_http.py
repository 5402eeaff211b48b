"""The sender's HTTP/1.1 (reach.webhooks.http11) against real sockets: kept-alive connections
are reused, one the server dropped is replaced without failing the attempt, an answer cut at
1 KB is not reused, and TLS goes to the checked address with the URL's host name in SNI and
the certificate check (issue 14).

The receiver runs in the test's event loop (asyncio server, plain sockets or TLS)."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from reach.webhooks import http11, sender, signing
from reach.webhooks.http11 import Client, ConnectionFailed, Destination

KEYS = [signing.key_of(signing.new_secret())]


@dataclass
class _Seen:
    requests: list[tuple[int, bytes]] = field(default_factory=list)  # (connection, head)
    connections: int = 0


class _Receiver(asyncio.Protocol):
    """HTTP/1.1 keep-alive; ``answer(n)`` gives the bytes for the connection's n-th request
    (None: close the connection without answering)."""

    def __init__(self, seen: _Seen, answer: Callable[[int], bytes | None]) -> None:
        self.seen, self.answer, self.buffer, self.count = seen, answer, b"", 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.seen.connections += 1
        self.number = self.seen.connections

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, rest = self.buffer.partition(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length:")
            )
            if len(rest) < length:
                return
            self.buffer = rest[length:]
            self.seen.requests.append((self.number, head))
            self.count += 1
            reply = self.answer(self.count)
            if reply is None:
                self.transport.close()
                return
            self.transport.write(reply)


NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def _serve(
    answer: Callable[[int], bytes | None],
    tls: ssl.SSLContext | None = None,
) -> tuple[asyncio.Server, int, _Seen]:
    seen = _Seen()
    server = await asyncio.get_running_loop().create_server(
        lambda: _Receiver(seen, answer), "127.0.0.1", 0, ssl=tls
    )
    port = server.sockets[0].getsockname()[1]
    return server, port, seen


async def _post(client: Client, url: str, message: str = "m") -> sender.Result:
    return await sender.attempt(
        client, url, KEYS, message, b'{"a": 1}', within=5, allow_private=True
    )


def test_a_kept_alive_connection_carries_the_next_attempts() -> None:
    async def go() -> None:
        server, port, seen = await _serve(lambda n: NO_CONTENT)
        async with server, Client(per_destination=4) as client:
            for n in range(3):
                result = await _post(client, f"http://127.0.0.1:{port}/hook", f"m{n}")
                assert result.ok, result
        assert [number for number, _ in seen.requests] == [1, 1, 1]
        assert seen.connections == 1

    asyncio.run(go())


def test_a_kept_connection_the_server_dropped_is_replaced_without_failing() -> None:
    async def go() -> None:
        # Each connection answers its first request and drops at the second, unanswered.
        server, port, seen = await _serve(lambda n: NO_CONTENT if n == 1 else None)
        async with server, Client(per_destination=4) as client:
            first = await _post(client, f"http://127.0.0.1:{port}/hook", "m1")
            second = await _post(client, f"http://127.0.0.1:{port}/hook", "m2")
        assert first.ok, first
        assert second.ok, second
        # m2 went out on the kept connection, was dropped, and went again on a new one.
        assert [number for number, _ in seen.requests] == [1, 1, 2]
        assert seen.connections == 2

    asyncio.run(go())


def test_a_connection_past_its_age_is_not_reused_and_the_host_is_checked_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http11, "MAX_AGE_SECONDS", 0.0)
    looked_up: list[str] = []

    async def checked(where: Destination) -> str:
        looked_up.append(where.host)
        return "127.0.0.1"

    async def go() -> None:
        server, port, seen = await _serve(lambda n: NO_CONTENT)
        async with server, Client(per_destination=4) as client:
            for _ in range(2):
                answer = await client.post(
                    f"http://hooks.reach.test:{port}/h", [], b"{}", limit=64, address_for=checked
                )
                assert answer.status_code == 204
        assert seen.connections == 2

    asyncio.run(go())
    assert looked_up == ["hooks.reach.test", "hooks.reach.test"]


def test_an_answer_cut_at_1_kb_leaves_its_connection_unused() -> None:
    big = b"HTTP/1.1 500 Oops\r\ncontent-length: 5000\r\n\r\n" + b"x" * 5000

    async def go() -> None:
        server, port, seen = await _serve(lambda n: big)
        async with server, Client(per_destination=4) as client:
            for n in range(2):
                result = await _post(client, f"http://127.0.0.1:{port}/hook", f"m{n}")
                assert not result.ok
                assert result.status_code == 500
                assert result.response_body == "x" * sender.BODY_LIMIT
        assert seen.connections == 2  # the rest of the first answer was never read

    asyncio.run(go())


def _certificates(tmp_path: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A test authority and a server certificate for ``name`` signed by it: (the server's
    context, a client context that trusts only that authority)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "reach test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


def test_tls_goes_to_the_checked_address_with_the_url_host_in_sni_and_the_certificate(
    tmp_path: Path,
) -> None:
    name = "hooks.reach.test"  # resolves nowhere: the connection goes to the address given

    async def go() -> None:
        server_tls, client_tls = _certificates(tmp_path, name)
        names: list[str | None] = []

        def sni(_: object, server_name: str | None, __: object) -> None:
            names.append(server_name)

        server_tls.sni_callback = sni  # type: ignore[assignment]
        server, port, seen = await _serve(lambda n: NO_CONTENT, server_tls)
        addresses: list[str] = []

        async def checked(where: Destination) -> str:
            addresses.append(where.host)
            return "127.0.0.1"

        async with server, Client(per_destination=4, tls=client_tls) as client:
            ok = await client.post(
                f"https://{name}:{port}/hook", [], b"{}", limit=1024, address_for=checked
            )
            # The same server under its address: its certificate does not name that.
            with pytest.raises(ConnectionFailed, match="certificate"):
                await client.post(
                    f"https://127.0.0.1:{port}/hook", [], b"{}", limit=1024, address_for=checked
                )
        assert ok.status_code == 204
        assert addresses == [name, "127.0.0.1"]
        assert names[0] == name
        assert b"host: %s:%d" % (name.encode(), port) in seen.requests[0][1].lower()

    asyncio.run(go())
