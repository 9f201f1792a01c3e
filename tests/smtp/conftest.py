"""A running submission server on loopback for each test, and a raw SMTP client that shows
exactly what the server says (for the dialogues a library client would not let us write)."""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from returnpath.config import Settings
from returnpath.smtp.submission import start_submission_server
from returnpath.tls import make_self_signed
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import Relay

# Failed AUTH replies wait this long, doubled per failure (0.5 s in production).
TEST_AUTH_DELAY = 0.05

MIME = (
    b"From: App <app@example.com>\r\n"
    b"To: Someone <someone@example.net>\r\n"
    b"Subject: hello\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Hello,\r\n"
    b"..a line that starts with a dot\r\n"
    b"bye\r\n"
)


@dataclass
class Address:
    host: str
    port: int


class RawClient:
    """One SMTP connection, spoken line by line; replies come back as text ("\\n" between lines)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.greeting = ""

    @classmethod
    async def connect(cls, address: Address) -> RawClient:
        reader, writer = await asyncio.open_connection(address.host, address.port)
        client = cls(reader, writer)
        client.greeting = await client.reply()
        return client

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 10)
            if not line:
                raise ConnectionError("the server closed the connection")
            lines.append(line.decode("utf-8").rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, line: str) -> str:
        await self.send(line.encode("utf-8") + b"\r\n")
        return await self.reply()

    async def login(self, account: NewAccount, hostname: str = "client.example.com") -> str:
        await self.command(f"EHLO {hostname}")
        blob = base64.b64encode(f"\0{account.account.smtp_username}\0{account.smtp_password}".encode()).decode()
        return await self.command(f"AUTH PLAIN {blob}")

    async def closed(self) -> bool:
        """Whether the server has closed the connection (reads what is left first)."""
        try:
            return await asyncio.wait_for(self.reader.read(), 5) == b"" or self.reader.at_eof()
        except (TimeoutError, ConnectionError):
            return False

    async def hang_up(self) -> None:
        """Stop sending mid-way, as a client that goes away does, and wait until the server has
        closed its side too: then it is done with the connection (no fixed wait needed)."""
        self.writer.write_eof()
        assert await self.closed(), "the server kept the connection open after the client's end"
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


def plain(username: str, password: str) -> str:
    return base64.b64encode(f"\0{username}\0{password}".encode()).decode()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


Start = Callable[[], Awaitable[Address]]


@pytest.fixture
async def start(relay: Relay, settings: Settings) -> AsyncIterator[Start]:
    """Start a submission server with the settings as they are when called."""
    servers: list[asyncio.Server] = []

    async def run() -> Address:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        sock.listen(100)
        server = await start_submission_server(relay, settings, sock, auth_delay=TEST_AUTH_DELAY)
        servers.append(server)
        return Address("127.0.0.1", sock.getsockname()[1])

    yield run
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def certificate(settings: Settings) -> Settings:
    """Write the STARTTLS certificate and key where the settings look for them."""
    make_self_signed(
        settings.path(settings.smtp.submission.tls_cert),
        settings.path(settings.smtp.submission.tls_key),
        settings.hostname,
    )
    return settings


@pytest.fixture
async def server(certificate: Settings, start: Start) -> Address:
    """A submission server with STARTTLS, default settings otherwise."""
    return await start()


@pytest.fixture
async def client(server: Address) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(server)
    yield c
    await c.close()
