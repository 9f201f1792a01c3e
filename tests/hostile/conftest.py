"""Hostile clients against the real servers on loopback: the submission server (with STARTTLS),
the inbound server of the bounce domain, and the HTTP API, started with the deadlines and
connection limits set small (`LIMITS`), so that a test sees them bite in a moment.

The tests that run a whole `serve` use the end-to-end tests' fixtures (`make_server`, `sink`).

Clients connect from chosen loopback addresses (127.0.0.1, 127.0.0.2, ...: all of 127/8 is
the loopback interface), so that per-address limits and totals are told apart.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from returnpath.config import Duration, Settings
from returnpath.http import create_app, serve_http
from returnpath.http.app import HttpServer
from returnpath.smtp.inbound import start_inbound_server
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.relay import Relay
from tests.delivery.sinks import module_sink, sink  # noqa: F401 - fixtures (the end-to-end tests')
from tests.e2e.conftest import make_module_server, make_server, pytest_runtest_makereport  # noqa: F401
from tests.http.conftest import app, base_url  # noqa: F401 - fixtures (smuggling over the API)
from tests.smtp.conftest import Address, RawClient, Start, certificate, start  # noqa: F401 - fixtures
from tests.smtp.test_inbound import inbound  # noqa: F401 - a fixture (with the default settings)

COMMAND_TIMEOUT = 0.6
DATA_TIMEOUT = 1.0
HEADER_TIMEOUT = 0.6
BODY_TIMEOUT = 1.0
MAX_CONNECTIONS = 4
PER_ADDRESS = 2
MESSAGES_PER_MINUTE = 3


@pytest.fixture
def small(settings: Settings) -> Settings:
    """The settings with small deadlines and limits, before any server starts."""
    for server in (settings.smtp.submission, settings.smtp.inbound):
        server.command_timeout = Duration(COMMAND_TIMEOUT)
        server.data_timeout = Duration(DATA_TIMEOUT)
        server.max_connections = MAX_CONNECTIONS
        server.max_connections_per_address = PER_ADDRESS
    settings.smtp.inbound.messages_per_minute_per_address = MESSAGES_PER_MINUTE
    settings.http.header_timeout = Duration(HEADER_TIMEOUT)
    settings.http.body_timeout = Duration(BODY_TIMEOUT)
    settings.http.max_connections = MAX_CONNECTIONS
    settings.http.max_connections_per_address = PER_ADDRESS
    return settings


@pytest.fixture
async def submission(certificate: Settings, start: Start) -> Address:  # noqa: F811
    """A submission server with STARTTLS and the settings as the test left them (a test that
    wants them `small` asks for that fixture first)."""
    return await start()


@dataclass
class Server:
    """One of our servers, started when the test has set the settings it wants."""

    name: str  # "submission", "inbound" or "http"
    start: Callable[[], Awaitable[Address]]
    running: Address | None = None

    async def once(self) -> Address:
        """The server, started on first use (hypothesis runs one test body many times)."""
        if self.running is None:
            self.running = await self.start()
        return self.running


@pytest.fixture(params=["submission", "inbound"])
async def smtp(
    request: pytest.FixtureRequest,
    small: Settings,
    certificate: Settings,  # noqa: F811
    start: Start,  # noqa: F811
    store: SqliteStore,
) -> AsyncIterator[Server]:
    """Each SMTP port in turn, with the `small` settings (or what the test makes of them)."""
    servers: list[asyncio.Server] = []

    async def start_inbound() -> Address:
        sock = listening()
        servers.append(await start_inbound_server(store, small, sock))
        return Address("127.0.0.1", sock.getsockname()[1])

    yield Server(request.param, start if request.param == "submission" else start_inbound)
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def http(small: Settings, relay: Relay) -> AsyncIterator[Server]:
    """The HTTP API with the `small` settings (or what the test makes of them)."""
    servers: list[HttpServer] = []

    async def start_http() -> Address:
        sock = listening()
        port = sock.getsockname()[1]  # (serve_http takes the socket over)
        servers.append(await serve_http(create_app(relay, small), small, sock))
        return Address("127.0.0.1", port)

    yield Server("http", start_http)
    for server in servers:
        await server.stop()


def listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    return sock


async def smtp_from(address: Address, source: str = "127.0.0.1") -> RawClient:
    """An SMTP connection from the loopback address `source`; its first reply is in `greeting`."""
    reader, writer = await asyncio.open_connection(address.host, address.port, local_addr=(source, 0))
    client = RawClient(reader, writer)
    client.greeting = await client.reply()
    return client


@dataclass
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, object]:
        assert self.headers["content-type"] == "application/problem+json"
        document = json.loads(self.body)
        assert isinstance(document, dict) and document["status"] == self.status
        return document


async def http_answer(reader: asyncio.StreamReader) -> HttpAnswer:
    """One HTTP/1.1 response read off a raw connection (it has a Content-Length)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), 10)
    return HttpAnswer(int(status_line.split()[1]), headers, body)


async def http_from(address: Address, source: str = "127.0.0.1") -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(address.host, address.port, local_addr=(source, 0))


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the peer closes the connection (what is left unread is dropped)."""
    try:
        while await asyncio.wait_for(reader.read(65536), 10):
            pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True
