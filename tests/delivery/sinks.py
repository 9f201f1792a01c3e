"""Sinks: real SMTP servers (aiosmtpd) on loopback that stand in for the recipients' servers.

A `Sink` listens on 127.0.0.1 on a port of its own, in a thread with its own event loop (so
that it serves both async tests and blocking end-to-end tests), and records every transaction
it accepts. It can be told to refuse, or to hang, at any step of the dialogue:

    with Sink() as sink:                      # or use the `sink` fixture
        sink.refuse("rcpt", "550 5.1.1 No such user")
        sink.hang("eom")
        ... deliver to sink.host, sink.port (or route "*" = sink.route) ...
        assert sink.transactions[0].rcpt_to == ["a@example.test"]

Steps: connect (the greeting), ehlo (EHLO and HELO alike), mail, rcpt, data (the DATA command),
eom (the reply to the end of data).

Recipients can choose what happens to them by their local part, as with KumoMTA's sink, so
one message to several recipients can meet several fates:

    rcpt-550@x            refused at RCPT with "550 5.0.0 ..."
    eom-451-4.2.2@x       refused at the end of data with "451 4.2.2 ..."
    data-554@x            refused at the DATA command
    hang-rcpt@x           no answer at RCPT (also hang-data, hang-eom)

Other test folders use the fixtures by importing them into their conftest.py:

    from tests.delivery.sinks import sink, tls_sink, sink_tls_context  # noqa: F401
"""

from __future__ import annotations

import asyncio
import re
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from returnpath.tls import make_self_signed

STEPS = ("connect", "ehlo", "mail", "rcpt", "data", "eom")
# A recipient's local part that says what should happen to it: step-code[-status] or hang-step.
_BY_LOCAL_PART = re.compile(
    r"^(?:(?P<step>rcpt|data|eom)-(?P<code>[45]\d\d)(?:-(?P<status>[245]\.\d{1,3}\.\d{1,3}))?"
    r"|hang-(?P<hang>rcpt|data|eom))$",
    re.I,
)
# aiosmtpd refuses ESMTP parameters it does not know; a sink that offers DSN takes these.
_DSN_PARAMS = ("RET", "ENVID", "NOTIFY", "ORCPT")

S250_OK = "250 2.0.0 OK"


@dataclass
class Transaction:
    """One message a sink accepted."""

    connection: int  # the number of the connection it came over (1, 2, ...)
    helo: str | None
    tls: bool
    mail_from: str
    mail_options: list[str]
    rcpt_to: list[str]
    rcpt_options: list[str]
    data: bytes
    # Wall-clock times (time.time(), the clock returnpath writes leases and attempts with) of
    # the MAIL command and of the 250 to the end of data: when the sender held the message.
    mail_at: float = 0.0
    received_at: float = 0.0


@dataclass
class _Connection:
    number: int
    transactions: int = 0
    tls: bool = False
    mail_at: float = 0.0  # of the transaction under way


@dataclass
class _Rules:
    refuse: dict[str, str] = field(default_factory=dict)
    hang: set[str] = field(default_factory=set)


class Sink:
    """An SMTP server that records what it accepts and refuses what it is told to."""

    def __init__(
        self,
        *,
        tls_context: ssl.SSLContext | None = None,
        dsn: bool = False,
        smtputf8: bool = True,
        size_limit: int = 32 * 1024 * 1024,
        hostname: str = "sink.test",
        drop_after: int | None = None,
        slow: float = 0.0,
        broken_tls: bool = False,
        esmtp: bool = True,
        port: int = 0,
    ) -> None:
        self.tls_context = tls_context
        self.dsn = dsn  # offer DSN (RFC 3461) and take its parameters
        self.smtputf8 = smtputf8
        self.size_limit = size_limit
        self.hostname = hostname
        self.drop_after = drop_after  # close a connection after this many messages on it
        self.slow = slow  # seconds to wait before answering the end of data
        self.broken_tls = broken_tls  # answer STARTTLS with 220, then garbage instead of TLS
        self.esmtp = esmtp  # False: an old server that answers EHLO with 502 and takes HELO only
        self.host = "127.0.0.1"
        self.port = port  # 0: any free port
        self.transactions: list[Transaction] = []
        self.connections = 0  # connections accepted so far
        self.concurrent = 0  # connections open now
        self.max_concurrent = 0
        self.rules = _Rules()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._protocols: set[_SinkSMTP] = set()

    # ---- telling it what to do ------------------------------------------------------------

    @property
    def route(self) -> str:
        """`host:port`, as `[delivery.routes]` takes it."""
        return f"{self.host}:{self.port}"

    def refuse(self, step: str, reply: str) -> None:
        """Answer `step` with `reply` (e.g. "451 4.3.0 Try later") from now on."""
        assert step in STEPS, step
        self.rules.refuse[step] = reply

    def hang(self, step: str) -> None:
        """Never answer `step` from now on."""
        assert step in STEPS, step
        self.rules.hang.add(step)

    def accept(self) -> None:
        """Forget refusals and hangs: accept everything again."""
        self.rules = _Rules()

    def recipients(self) -> list[str]:
        return [r for t in self.transactions for r in t.rcpt_to]

    def wait(self, count: int, timeout: float = 10.0) -> list[Transaction]:
        """Block until at least `count` transactions were accepted (for blocking tests)."""
        deadline = time.monotonic() + timeout
        while len(self.transactions) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the sink got {len(self.transactions)} messages, not {count}")
            time.sleep(0.02)
        return self.transactions

    async def until(self, count: int, timeout: float = 10.0) -> list[Transaction]:
        """Wait until at least `count` transactions were accepted (for async tests)."""
        deadline = time.monotonic() + timeout
        while len(self.transactions) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the sink got {len(self.transactions)} messages, not {count}")
            await asyncio.sleep(0.02)
        return self.transactions

    # ---- running --------------------------------------------------------------------------

    def start(self) -> Sink:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"sink-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the sink did not start")
        return self

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, ready: threading.Event) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._server = loop.run_until_complete(loop.create_server(lambda: _SinkSMTP(self, loop), self.host, self.port))
        self.port = self._server.sockets[0].getsockname()[1]
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for protocol in list(self._protocols):
            protocol.close()
        await self._server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # let the transports' connection_lost callbacks run

    # ---- deciding, for the server ---------------------------------------------------------

    def _decide(self, step: str, recipients: Sequence[str] = ()) -> tuple[str | None, bool]:
        """The reply to give at `step` (None: go on) and whether to hang instead."""
        if step in self.rules.hang:
            return None, True
        for recipient in recipients:
            match = _BY_LOCAL_PART.match(recipient.rpartition("@")[0])
            if not match:
                continue
            if match["hang"] and match["hang"].lower() == step:
                return None, True
            if match["step"] and match["step"].lower() == step:
                code = match["code"]
                status = match["status"] or f"{code[0]}.0.0"
                return f"{code} {status} {step} refused for {recipient} by the sink", False
        return self.rules.refuse.get(step), False

    def _opened(self, protocol: _SinkSMTP) -> int:
        with self._lock:
            self._protocols.add(protocol)
            self.connections += 1
            self.concurrent += 1
            self.max_concurrent = max(self.max_concurrent, self.concurrent)
            return self.connections

    def _closed(self, protocol: _SinkSMTP) -> None:
        with self._lock:
            if protocol in self._protocols:
                self._protocols.discard(protocol)
                self.concurrent -= 1


class _SinkSMTP(SMTP):
    """aiosmtpd's server with the few places a handler hook cannot reach: the greeting, the
    DATA command before its 354, and the DSN parameters."""

    def __init__(self, sink: Sink, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(
            _Handler(sink),
            hostname=sink.hostname,
            ident="returnpath test sink",
            tls_context=sink.tls_context,
            enable_SMTPUTF8=sink.smtputf8,
            data_size_limit=sink.size_limit,
            loop=loop,
        )
        self.sink = sink
        self.connection = _Connection(0)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.connection.number == 0:  # not again for the TLS transport after STARTTLS
            self.connection = _Connection(self.sink._opened(self))
        else:
            self.connection.tls = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.sink._closed(self)
        super().connection_lost(error)

    async def _handle_client(self) -> None:
        reply, hang = self.sink._decide("connect")
        if hang:
            await asyncio.Future()  # cancelled when the connection closes
        if reply:
            await self.push(reply)
            self.close()
            return
        await super()._handle_client()

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope is not None and self.envelope.rcpt_tos:
            reply, hang = self.sink._decide("data", self.envelope.rcpt_tos)
            if hang:
                await asyncio.Future()
            if reply:
                await self.push(reply)
                return
        await super().smtp_DATA(arg)
        drop_after = self.sink.drop_after
        if drop_after and self.connection.transactions >= drop_after:
            self.close()  # right after the reply, as a server does at its idle timeout

    async def smtp_STARTTLS(self, arg: str) -> None:
        if self.sink.broken_tls:
            await self.push("220 Ready to start TLS")
            self._writer.write(b"this is not a TLS handshake\r\n")
            self.close()
            return
        await super().smtp_STARTTLS(arg)

    def _getparams(self, params: Any) -> Any:
        result = super()._getparams(params)
        if result is not None and self.sink.dsn:
            for name in _DSN_PARAMS:
                result.pop(name, None)
        return result


class _Handler:
    """The aiosmtpd hooks: refuse or hang where told, else record."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    async def _hold(self, step: str, recipients: Sequence[str] = ()) -> str | None:
        reply, hang = self.sink._decide(step, recipients)
        if hang:
            await asyncio.Future()  # cancelled when the connection closes
        return reply

    async def handle_EHLO(
        self, server: _SinkSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        if refusal := await self._hold("ehlo"):
            return [refusal]
        if not self.sink.esmtp:
            return ["502 5.5.1 EHLO not implemented"]
        session.host_name = hostname
        if self.sink.dsn:
            responses.insert(-1, "250-DSN")
        return responses

    async def handle_HELO(self, server: _SinkSMTP, session: Session, envelope: Envelope, hostname: str) -> str:
        if refusal := await self._hold("ehlo"):
            return refusal
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(
        self, server: _SinkSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if refusal := await self._hold("mail"):
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        server.connection.mail_at = time.time()
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self, server: _SinkSMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if refusal := await self._hold("rcpt", [address]):
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server: _SinkSMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.slow:
            await asyncio.sleep(self.sink.slow)
        if refusal := await self._hold("eom", list(envelope.rcpt_tos)):
            return refusal
        connection = server.connection
        connection.transactions += 1
        content = envelope.original_content  # bytes as received (the server does not decode)
        assert content is None or isinstance(content, bytes)
        self.sink.transactions.append(
            Transaction(
                connection=connection.number,
                helo=session.host_name,
                tls=connection.tls,
                mail_from=envelope.mail_from or "",
                mail_options=list(envelope.mail_options),
                rcpt_to=list(envelope.rcpt_tos),
                rcpt_options=list(envelope.rcpt_options),
                data=bytes(content or b""),
                mail_at=connection.mail_at,
                received_at=time.time(),
            )
        )
        return f"{S250_OK} queued as {len(self.sink.transactions)}"


# ---- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sink_tls_context(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server TLS context with a self-signed certificate, for sinks that offer STARTTLS."""
    folder: Path = tmp_path_factory.mktemp("sink-tls")
    make_self_signed(folder / "cert.pem", folder / "key.pem", "sink.test")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def sink() -> Iterator[Sink]:
    """A running sink that accepts everything until told otherwise."""
    with Sink() as running:
        yield running


@pytest.fixture(scope="module")
def module_sink() -> Iterator[Sink]:
    """A sink shared by a module's tests, for a server the module shares too."""
    with Sink() as running:
        yield running


@pytest.fixture
def tls_sink(sink_tls_context: ssl.SSLContext) -> Iterator[Sink]:
    """A running sink that offers STARTTLS with a self-signed certificate."""
    with Sink(tls_context=sink_tls_context) as running:
        yield running
