"""The outbound SMTP session: one connection to one of a destination's servers, over which
deliveries are sent one after another.

`Session.send(job)` makes one attempt at one delivery and returns its `Outcome`: accepted,
temporary or permanent, with the step of the dialogue where it ended (connect, ehlo,
starttls, mail, rcpt, data, eom), the reply code, the enhanced status code and the reply
text. It never raises for anything the remote server or the network does; exceptions of
aiosmtplib and of sockets are turned into outcomes here, at the boundary.

The dialogue follows RFC 5321 and what Postfix does by default: EHLO (HELO when EHLO is
refused), opportunistic STARTTLS without certificate checks (Postfix's `may` level), one
recipient per transaction (every delivery has its own envelope sender), per-step timeouts
(RFC 5321 section 4.5.3.2), and connection reuse up to `delivery.reuse_limit` messages.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import aiosmtplib
import idna
from aiosmtplib import SMTPResponse

from ..config import Settings
from ..core.model import DeliveryJob, Outcome, Step, Verdict

# Enhanced status code (RFC 3463) at the start of a reply's text: class.subject.detail.
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
# A line that starts with a dot gets another one (RFC 5321 section 4.5.2).
_LEADING_DOT = re.compile(rb"(?m)^\.")
BLOCK = 64 * 1024  # bytes of message data written between two waits for the socket to drain
QUIT_TIMEOUT = 5.0  # seconds; the reply to QUIT changes nothing, so do not wait long

# What the client was doing at each step, in Postfix's words, for outcomes without a reply.
_DOING = {
    Step.CONNECT: "receiving the initial server greeting",
    Step.EHLO: "performing the EHLO handshake",
    Step.STARTTLS: "performing the TLS handshake",
    Step.MAIL: "sending MAIL FROM",
    Step.RCPT: "sending RCPT TO",
    Step.DATA: "sending DATA command",
    Step.EOM: "sending the message or waiting for the reply to its end",
}


@dataclass(frozen=True, slots=True)
class Target:
    """One server address to try for a destination: the server's name, its IP address and port."""

    host: str
    address: str
    port: int

    @property
    def remote(self) -> str:
        """`host[address]:port`, as Postfix names the server it spoke to."""
        return f"{self.host}[{self.address}]:{self.port}"

    @property
    def server_name(self) -> str | None:
        """The name to send in TLS's SNI; None when the host is an IP address."""
        return None if _is_ip(self.host) else self.host


def enhanced_status(text: str) -> str | None:
    """The RFC 3463 status code that starts a reply's text ("5.1.1"), or None."""
    match = _ENHANCED.match(text.lstrip())
    return ".".join(match.groups()) if match else None


def verdict_of(code: int) -> Verdict:
    """5xx is permanent; everything else that is not success (4xx, garbage) is temporary."""
    return Verdict.PERMANENT if 500 <= code < 600 else Verdict.TEMPORARY


@functools.cache
def unverified_tls_context() -> ssl.SSLContext:
    """TLS for opportunistic STARTTLS: encrypt, but do not check the certificate.

    Most mail servers have self-signed or mismatched certificates; refusing them would only
    push the mail back to plaintext (RFC 7435, opportunistic security).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Session:
    """One outbound SMTP connection to the first of `targets` that answers, reused for many sends."""

    def __init__(
        self, targets: Sequence[Target], settings: Settings, *, tls_context: ssl.SSLContext | None = None
    ) -> None:
        self.targets = tuple(targets)
        self.helo_name = settings.delivery.helo_name or settings.hostname
        self.timeouts = settings.delivery.timeouts
        self.reuse_limit = max(1, settings.delivery.reuse_limit)
        self.use_tls = settings.delivery.tls == "opportunistic"
        self._tls_context = tls_context
        self._smtp: aiosmtplib.SMTP | None = None
        # The plain TCP transport under the connection. A failed TLS handshake can leave it
        # open behind aiosmtplib's back, so abort() closes it itself.
        self._tcp: asyncio.BaseTransport | None = None
        self._target: Target | None = None
        self._plaintext: set[Target] = set()  # where STARTTLS failed: plaintext from now on
        self._in_transaction = False  # a transaction ended early: RSET before the next MAIL
        self._recipient = ""  # the RCPT TO of the transaction under way, as _mail chose its form
        self._lost = False  # the last failure was the server closing the connection
        self.sent = 0  # messages accepted over the current connection
        self.connections = 0  # connections opened by this session

    # ---- the public face -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    @property
    def remote(self) -> str | None:
        """The server of the current (or last) connection, `host[address]:port`."""
        return self._target.remote if self._target else None

    @property
    def tls(self) -> bool:
        """Whether the current connection is encrypted."""
        smtp = self._smtp
        return smtp is not None and smtp.is_connected and smtp.get_transport_info("sslcontext") is not None

    @property
    def extensions(self) -> dict[str, str]:
        """The ESMTP extensions the server offered (lowercase names), as last seen."""
        return dict(self._smtp.esmtp_extensions) if self._smtp else {}

    async def connect(self) -> Outcome | None:
        """Connect to the first target that answers, up to being ready for MAIL.

        Returns None when connected, or the outcome of the last target tried.
        """
        if self.connected:
            return None
        self.abort()
        outcome: Outcome | None = None
        for target in self.targets:
            outcome = await self._open(target)
            if outcome is None:
                return None
        return outcome or Outcome(Verdict.TEMPORARY, Step.CONNECT, None, "4.4.3", "no server to connect to")

    async def send(self, job: DeliveryJob) -> Outcome:
        """Make one attempt at one delivery over this session's connection (opened when needed)."""
        if self.connected and self.sent >= self.reuse_limit:
            await self.close()
        if self.connected:
            outcome = await self._transaction(job)
            if not self._stale(outcome):
                return outcome
            # The server closed the connection we kept open between messages, or said 421
            # to MAIL (both common for idle connections). Not the delivery's fault: try it
            # once more on a fresh connection, and do not count the first try.
            self.abort()
        return await self.connect() or await self._transaction(job)

    async def close(self) -> None:
        """Say QUIT and close the connection."""
        smtp = self._smtp
        if smtp is None:
            return
        try:
            if smtp.is_connected:
                await smtp.quit(timeout=QUIT_TIMEOUT)
        except (aiosmtplib.SMTPException, OSError):
            pass  # closing anyway
        finally:
            self.abort()

    def abort(self) -> None:
        """Close the connection at once, without QUIT (it is broken, or we are cancelled)."""
        smtp, self._smtp = self._smtp, None
        tcp, self._tcp = self._tcp, None
        if smtp is not None:
            smtp.close()
        if tcp is not None and not tcp.is_closing():
            tcp.close()

    # ---- opening a connection ------------------------------------------------------------

    async def _open(self, target: Target) -> Outcome | None:
        """Connect to one target: TCP, greeting, EHLO, and STARTTLS when offered."""
        outcome = await self._dial(target) or await self._hello()
        if outcome is None and self._wants_tls(target):
            outcome = await self._starttls(target)
            if outcome is not None and outcome.step is Step.STARTTLS:
                # The TLS handshake failed and the connection is unusable. Like Postfix at
                # level `may`, deliver in plaintext instead: reconnect once, and do not try
                # TLS with this server again in this session.
                self._plaintext.add(target)
                self.abort()
                outcome = await self._dial(target) or await self._hello()
        if outcome is not None:
            self.abort()
        return outcome

    async def _dial(self, target: Target) -> Outcome | None:
        """Open the TCP connection (connect timeout) and read the greeting (greeting timeout)."""
        self._target = target
        self.sent = 0
        self._in_transaction = False
        try:
            sock = await asyncio.wait_for(_tcp_connect(target), self.timeouts.connect)
        except TimeoutError:
            return self._no_reply(
                Step.CONNECT, "4.4.1", f"connect to {target.remote}: timed out after {self.timeouts.connect:g}s"
            )
        except OSError as exc:
            return self._no_reply(Step.CONNECT, "4.4.1", f"connect to {target.remote}: {_reason(exc)}")
        self.connections += 1
        self._smtp = aiosmtplib.SMTP(sock=sock, local_hostname=self.helo_name, timeout=None, start_tls=False)
        reply = await self._call(Step.CONNECT, self._smtp.connect(timeout=self.timeouts.greeting))
        if self._smtp is not None and self._smtp.protocol is not None:
            self._tcp = self._smtp.protocol.transport
        return reply if isinstance(reply, Outcome) else None

    async def _hello(self) -> Outcome | None:
        """EHLO; HELO when the server refuses EHLO with 5xx (an old server, RFC 5321 4.1.4)."""
        smtp = self._live()
        reply = await self._call(Step.EHLO, smtp.ehlo(hostname=self.helo_name, timeout=self.timeouts.ehlo))
        if isinstance(reply, Outcome) and reply.verdict is Verdict.PERMANENT and smtp.is_connected:
            reply = await self._call(Step.EHLO, smtp.helo(hostname=self.helo_name, timeout=self.timeouts.ehlo))
        return reply if isinstance(reply, Outcome) else None

    def _wants_tls(self, target: Target) -> bool:
        smtp = self._live()
        return (
            self.use_tls
            and target not in self._plaintext
            and smtp.supports_extension("starttls")
            and smtp.is_connected
            and smtp.get_transport_info("sslcontext") is None
        )

    async def _starttls(self, target: Target) -> Outcome | None:
        """STARTTLS, then EHLO again. A refusal of the command itself leaves us in plaintext."""
        smtp = self._live()
        context = self._tls_context or unverified_tls_context()
        reply = await self._call(
            Step.STARTTLS,
            smtp.starttls(tls_context=context, server_hostname=target.server_name, timeout=self.timeouts.ehlo),
        )
        if isinstance(reply, Outcome):
            if reply.code is not None and smtp.is_connected:
                return None  # e.g. "454 TLS not available": carry on in plaintext
            return reply
        return await self._hello()

    # ---- one transaction -----------------------------------------------------------------

    async def _transaction(self, job: DeliveryJob) -> Outcome:
        """The steps of one delivery over an open connection."""
        self._lost = False
        return (
            await self._reset()
            or await self._mail(job)
            or await self._rcpt(job)
            or await self._data()
            or await self._message(job)
        )

    async def _reset(self) -> Outcome | None:
        """RSET after a transaction that ended early, so that the next MAIL starts clean."""
        if not self._in_transaction:
            return None
        reply = await self._call(Step.MAIL, self._live().rset(timeout=self.timeouts.mail))
        self._in_transaction = False
        return reply if isinstance(reply, Outcome) else None

    async def _mail(self, job: DeliveryJob) -> Outcome | None:
        smtp = self._live()
        self._recipient = job.recipient
        utf8 = not (job.envelope_sender.isascii() and job.recipient.isascii())
        if utf8 and not smtp.supports_extension("smtputf8") and job.envelope_sender.isascii():
            # Only the domain is not ASCII: its A-label names the same mailbox (RFC 5890
            # section 2.3.2.1), and a server without SMTPUTF8 takes it, as Postfix's client
            # sends it (SMTPUTF8_README, "Compatibility with pre-SMTPUTF8 environments").
            ascii_address = a_label_address(job.recipient)
            if ascii_address is not None:
                self._recipient, utf8 = ascii_address, False
        if utf8 and not smtp.supports_extension("smtputf8"):
            return self._no_reply(
                Step.MAIL,
                "5.6.7",
                f"SMTPUTF8 is required, but was not offered by {self.remote}",
                verdict=Verdict.PERMANENT,
            )
        limit = smtp.esmtp_extensions.get("size", "")
        if limit.isdigit() and int(limit) and len(job.mime) > int(limit):
            return self._no_reply(
                Step.MAIL,
                "5.3.4",
                f"message size {len(job.mime)} exceeds the limit {limit} of {self.remote}",
                verdict=Verdict.PERMANENT,
            )
        self._in_transaction = True
        reply = await self._call(
            Step.MAIL,
            smtp.mail(
                job.envelope_sender,
                options=self._mail_options(job, utf8),
                encoding="utf-8" if utf8 else "ascii",
                timeout=self.timeouts.mail,
            ),
        )
        return reply if isinstance(reply, Outcome) else None

    def _mail_options(self, job: DeliveryJob, utf8: bool) -> list[str]:
        smtp = self._live()
        options = []
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(job.mime)}")
        if smtp.supports_extension("8bitmime") and not job.mime.isascii():
            options.append("BODY=8BITMIME")
        if utf8:
            options.append("SMTPUTF8")
        if job.dsn and smtp.supports_extension("dsn"):
            if job.dsn.ret:
                options.append(f"RET={job.dsn.ret}")
            if job.dsn.envid:
                options.append(f"ENVID={xtext(job.dsn.envid)}")
        return options

    async def _rcpt(self, job: DeliveryJob) -> Outcome | None:
        smtp = self._live()
        options = []
        if job.dsn and smtp.supports_extension("dsn"):
            if job.dsn.notify:
                options.append("NOTIFY=" + ",".join(job.dsn.notify))
            if job.dsn.orcpt:
                addr_type, sep, address = job.dsn.orcpt.partition(";")
                options.append(f"ORCPT={addr_type};{xtext(address)}" if sep else f"ORCPT=rfc822;{xtext(job.dsn.orcpt)}")
        recipient = self._recipient  # as _mail chose it: the A-label form for a server without SMTPUTF8
        encoding = "ascii" if recipient.isascii() else "utf-8"
        reply = await self._call(
            Step.RCPT, smtp.rcpt(recipient, options=options, encoding=encoding, timeout=self.timeouts.rcpt)
        )
        return reply if isinstance(reply, Outcome) else None

    async def _data(self) -> Outcome | None:
        # The DATA command by itself, so that a refusal of it is told apart from a refusal
        # of the message (aiosmtplib's data() does both and raises the same error for each).
        reply = await self._call(Step.DATA, self._live().execute_command(b"DATA", timeout=self.timeouts.data))
        if isinstance(reply, Outcome):
            return reply
        if reply.code != 354:
            return self._refused(Step.DATA, reply.code, reply.message)
        return None

    async def _message(self, job: DeliveryJob) -> Outcome:
        """Send the message and the end of data; the server's reply is the attempt's outcome."""
        reply = await self._call(Step.EOM, self._transmit(_payload(job.mime)))
        if isinstance(reply, Outcome):
            return reply
        self._in_transaction = False  # a reply to the end of data ends the transaction
        if not 200 <= reply.code < 300:
            return self._refused(Step.EOM, reply.code, reply.message)
        self.sent += 1
        text = _storable(reply.message)
        return Outcome(Verdict.ACCEPTED, Step.EOM, reply.code, enhanced_status(text), text, self.remote)

    async def _transmit(self, payload: bytes) -> SMTPResponse:
        """Write the message in blocks, each within the block timeout; then read the reply.

        RFC 5321 4.5.3.2.5 times each block sent, and 4.5.3.2.6 the reply to the end of data.
        """
        protocol = self._live().protocol
        if protocol is None or protocol.transport is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost")
        transport = protocol.transport
        last = (len(payload) - 1) // BLOCK * BLOCK  # where the last block starts
        for start in range(0, last, BLOCK):
            protocol.write(payload[start : start + BLOCK])
            try:
                # Each block must leave within the block timeout; waiting for it keeps a
                # stalled server from filling our memory with the rest.
                await asyncio.wait_for(_sent(transport), self.timeouts.block)
            except TimeoutError:
                self.abort()
                raise aiosmtplib.SMTPTimeoutError("block timeout") from None
        # The last block and the reply with nothing in between, so that no reply can arrive
        # before aiosmtplib is listening for it.
        protocol.write(payload[last:])
        try:
            return await protocol.read_response(timeout=self.timeouts.eom)
        except (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected):
            self.abort()
            raise

    # ---- replies and failures to outcomes ------------------------------------------------

    async def _call(self, step: Step, command: Awaitable[SMTPResponse]) -> SMTPResponse | Outcome:
        """Run one command; turn a refusal or a network failure into the outcome it means."""
        try:
            return await command
        except aiosmtplib.SMTPResponseException as exc:
            return self._refused(step, exc.code, exc.message)
        except TimeoutError:
            self.abort()
            return self._no_reply(step, "4.4.2", f"conversation with {self.remote} timed out while {_DOING[step]}")
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError covers ssl.SSLError
            # Lost connection, reset, TLS failure, ...: aiosmtplib has closed the connection.
            self._lost = isinstance(exc, (aiosmtplib.SMTPServerDisconnected, ConnectionError))
            self.abort()
            return self._no_reply(step, "4.4.2", f"lost connection with {self.remote} while {_DOING[step]}: {exc}")
        except ValueError as exc:
            # aiosmtplib refuses to send a command with control characters: a bad address
            # got this far. Sending it again will not help.
            return self._no_reply(step, "5.1.3", f"cannot send this command: {exc}", verdict=Verdict.PERMANENT)

    def _refused(self, step: Step, code: int, text: str) -> Outcome:
        if code == 421 or not self.connected:
            self.abort()  # the server is closing the connection (RFC 5321 3.8)
        text = _storable(text)
        return Outcome(verdict_of(code), step, code if code > 0 else None, enhanced_status(text), text, self.remote)

    def _no_reply(self, step: Step, status: str, text: str, *, verdict: Verdict = Verdict.TEMPORARY) -> Outcome:
        """An outcome without a reply from the server. The status follows Postfix's choices:
        4.4.1 no answer from host, 4.4.2 bad connection."""
        return Outcome(verdict, step, None, status, _storable(text), self.remote)

    def _stale(self, outcome: Outcome) -> bool:
        """Whether a reused connection turned out to be closed before the transaction began."""
        return outcome.step is Step.MAIL and (self._lost or outcome.code == 421)

    def _live(self) -> aiosmtplib.SMTP:
        if self._smtp is None:
            raise aiosmtplib.SMTPServerDisconnected("not connected")
        return self._smtp


def a_label_address(address: str) -> str | None:
    """`address` with its domain in A-labels (`jo@bücher.example` -> `jo@xn--bcher-kva.example`),
    by IDNA 2008 with UTS #46's mapping (the `idna` package; Python's own codec is IDNA 2003,
    which turns a German ß into ss and so names another domain); None when the local part is not
    ASCII (no ASCII form names that mailbox) or the domain is no valid IDN."""
    local, at, domain = address.rpartition("@")
    if not at or not local.isascii():
        return None
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        return None


def xtext(value: str) -> str:
    """RFC 3461 xtext: `+` followed by two hex digits for `+`, `=` and anything not printable."""
    return "".join(c if "!" <= c <= "~" and c not in "+=" else "".join(f"+{b:02X}" for b in c.encode()) for c in value)


def _payload(mime: bytes) -> bytes:
    """The message as sent after DATA: dot-stuffed, ending with CRLF, then the lone dot.

    Submission stores only messages with CRLF line ends (bare CR and LF are refused there).
    """
    # Most messages have no line starting with a dot: skip the regular expression for them.
    data = _LEADING_DOT.sub(b"..", mime) if mime.startswith(b".") or b"\n." in mime else mime
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _reason(exc: OSError) -> str:
    """ "Connection refused" rather than asyncio's "Connect call failed ('192.0.2.1', 25)"."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def _tcp_connect(target: Target) -> socket.socket:
    """A connected, non-blocking TCP socket to the target's address."""
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (target.address, target.port))
    except BaseException:
        sock.close()
        raise
    return sock


async def _sent(transport: asyncio.BaseTransport) -> None:
    """Return once the transport's write buffer is down to its low-water mark (a block or less
    waiting), as asyncio's own flow control would resume writing; raise if the connection closes.

    asyncio tells only the protocol (aiosmtplib's, whose waiter is private) when writing may
    resume, so this asks the transport, on a short and growing interval.
    """
    assert isinstance(transport, asyncio.WriteTransport)
    low, _ = transport.get_write_buffer_limits()
    pause = 0.001
    while transport.get_write_buffer_size() > max(low, BLOCK):
        if transport.is_closing():
            raise aiosmtplib.SMTPServerDisconnected("connection lost while sending the message")
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.05)


def _storable(text: str) -> str:
    """A reply's text as the attempt keeps it: a NUL (which a remote server may send) as
    U+FFFD. PostgreSQL's text cannot hold a NUL: an attempt with one could not be recorded,
    and a delivery the server accepted would be sent again when its lease ran out."""
    return text.replace("\x00", "\ufffd")
