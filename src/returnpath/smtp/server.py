"""What returnpath's two SMTP servers (submission and inbound) share on top of aiosmtpd."""

from __future__ import annotations

import asyncio
import binascii
import enum
import ipaddress
import logging
import re
import socket
import ssl
import weakref
from base64 import b64decode, b64encode
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Envelope, TLSSetupException, syntax

from ..config import Settings, SmtpServerSettings
from ..core.intake import has_long_line
from ..core.limits import ConnectionLimit, Held, MessageMemory, Refusal, client_address
from ..errors import ConfigError
from . import replies as R
from .upstream import stream_reader

log = logging.getLogger(__name__)

# NOOP, RSET, VRFY and HELP between two messages: past this many the connection is closed, so a
# client cannot hold one open forever by sending a NOOP before each command deadline. Postfix's
# smtpd_junk_command_limit, whose default this is; the count starts again with each message
# transferred, whether it is then taken or refused.
JUNK_COMMAND_LIMIT = 100

_END = b"\r\n.\r\n"  # the end of the data (RFC 5321 section 4.1.1.4), and nothing else
_END_TAIL = _END[2:]  # what of it is not the data's: the CRLF ends the data's last line
_END_PREFIXES = tuple(_END[:k] for k in range(len(_END) - 1, 0, -1))  # longest first


def _marker_overlap(tail: bytes) -> int:
    """The length of the longest end of `tail` that is the start of a marker (0 if none)."""
    for prefix in _END_PREFIXES:
        if tail.endswith(prefix):
            return len(prefix)
    return 0


class _LoginDataWarning(logging.Filter):
    """aiosmtpd logs a deprecation warning on every successful AUTH (it sets its deprecated
    `Session.login_data`); nothing here uses login_data, so the warning says nothing to us."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


class _EscapeControls(logging.Filter):
    """aiosmtpd logs some client text as it came (`unrecognised: <command>`, a WARNING): an ESC
    or CR in it would reach the terminal of whoever reads the log, which can repaint the screen
    or forge what a line says (CWE-150). Control characters in its string arguments are
    written as \\xNN instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and _CONTROL.search(a) for a in record.args):
            record.args = tuple(_CONTROL.sub(_escape, a) if isinstance(a, str) else a for a in record.args)
        return True


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


logging.getLogger("mail.log").addFilter(_LoginDataWarning())
logging.getLogger("mail.log").addFilter(_EscapeControls())


class DataState(enum.Enum):
    """How the data of one DATA command ended up: within the limits or past one of them."""

    NOMINAL = "nominal"
    TOO_LONG = "too long"  # a line over the line length limit
    TOO_MUCH = "too much"  # more than data_size_limit
    NO_ROOM = "no room"  # more than the process's message_memory has left (core/limits.py)


class ServerSMTP(SMTP):
    """aiosmtpd's SMTP protocol (one instance per connection) with what our servers add:

    - a count of failed AUTH attempts on the connection, read by the submission handler;
    - refusals that aiosmtpd writes itself get enhanced status codes (`replies.with_enhanced_code`);
    - deadlines that no trickle of bytes extends (RFC 5321 section 4.5.3.2): each command line
      must arrive whole within `command_timeout` of the previous one (or of the greeting), and
      the whole message data within `data_timeout` of the 354; past one, the client is told
      421 4.4.2 and disconnected. (aiosmtpd's own `timeout`, restarted by each command, is
      only a backstop here, longer than both.)
    - a limit on connections in total and per client address (`limits`): over it, 421 4.7.0
      instead of the greeting, and the connection is closed;
    - a limit on the message data all connections of the process hold at once (`memory`,
      shared with the other server and the HTTP API): a message that would go over it is read
      to its end, not kept, and refused with 452 4.3.1, to be sent again later;
    - at most JUNK_COMMAND_LIMIT commands that send no mail (NOOP, RSET, VRFY, HELP) between
      two messages, then 421 4.7.0 and the connection is closed;
    - DATA is read in blocks rather than line by line (`smtp_DATA` below), with the same
      replies and limits as aiosmtpd's: some 1.6 times faster for 2 KB messages, 7 times for
      1 MB ones (bench/data_reader.py).
    """

    def __init__(
        self,
        handler: Any,
        *,
        limits: ConnectionLimit | None = None,
        memory: MessageMemory | None = None,
        command_timeout: float = 300.0,
        data_timeout: float = 600.0,
        sessions: set[ServerSMTP] | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("decode_data"):
            raise ValueError("ServerSMTP hands the data over as bytes: decode_data must be False")
        kwargs.setdefault("timeout", command_timeout + data_timeout)
        super().__init__(handler, **kwargs)
        self.failed_logins = 0
        self.limits = limits
        self.memory = memory if memory is not None else MessageMemory(0)
        self.command_timeout = command_timeout
        self.data_timeout = data_timeout
        self.client: str | None = None  # the client's address, while `limits` counts it
        self.refused = False  # refused at connection: aiosmtpd never saw it
        self.reading_data = False
        self.deadline: asyncio.TimerHandle | None = None
        self.junk = 0  # commands that sent no mail since the last message
        self.half_closed = False  # the client has sent its last byte (eof_received)
        self.sessions = sessions  # the server's open connections, this one among them while open
        self.shutting_down = False  # the worker stops: close once no message is under way

    # ---- the connection and its deadlines -------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is not None:
            super().connection_made(transport)  # the TLS layer after STARTTLS: same connection
            return
        if self.limits is not None:
            address = client_address(transport.get_extra_info("peername"))
            refusal = self.limits.open(address)
            if refusal is not None:
                log.info("refused a connection from %s: %s", address, refusal.value)
                self.refused = True
                reply = R.S421_TOO_MANY_CONNECTIONS if refusal is Refusal.TOTAL else R.S421_TOO_MANY_FROM_ADDRESS
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(reply.format(self.hostname).encode() + b"\r\n")
                transport.close()
                return
            self.client = address
        super().connection_made(transport)
        if self.sessions is not None:
            self.sessions.add(self)
        self.arm(self.command_timeout, "command line")

    def connection_lost(self, error: Exception | None) -> None:
        if self.refused:
            return  # aiosmtpd never started on it
        self.disarm()
        if self.sessions is not None:
            self.sessions.discard(self)
        if self.limits is not None:
            self.limits.close(self.client)
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self.refused:
            return False
        if self.session is None or self.session.ssl is not None:
            return super().eof_received()  # over TLS, aiosmtpd's way: a TLS stream cannot stay half open
        # The client has sent all it will but may still read: a whole session pipelined, then a
        # half-close (`nc -N`, scripts). aiosmtpd would cancel the session at once and drop the
        # commands already received, the message with them; Postfix answers each. So the stream
        # ends here instead, the commands in it are answered in turn, and reading past its end
        # closes the connection (handle_exception).
        log.info("EOF from %s", self.session.peer)
        self.half_closed = True
        return asyncio.StreamReaderProtocol.eof_received(self)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if not self.reading_data and b"\n" in data:
            self.arm(self.command_timeout, "command line")  # a command line is complete: the next one's turn
        super().data_received(data)

    def arm(self, seconds: float, what: str) -> None:
        """Start the deadline of what the client must send next (replacing the previous one)."""
        self.disarm()
        if self.transport is not None:  # (None once the connection is lost)
            self.deadline = self.loop.call_later(seconds, self.timed_out, what)

    def disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def timed_out(self, what: str) -> None:
        log.info("%s timeout for %s; closing", what, self.session and self.session.peer)
        self.deadline = None
        self.close_with(R.S421_TIMEOUT.format(self.hostname, what))

    def close_with(self, reply: str) -> None:
        """Write `reply` (a 421) straight to the connection and close it, whatever the session
        is waiting for: for when the server, not the client, ends the dialogue."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            assert isinstance(transport, asyncio.WriteTransport)
            transport.write(reply.encode() + b"\r\n")
            transport.close()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            status = R.with_enhanced_code(status)
        await super().push(status)
        if status[:4] in ("421 ", b"421 "):
            self.hang_up()  # RFC 5321 3.8: a 421 reply is the server closing the channel
        elif (
            self.shutting_down
            and status[3:4] in (" ", b" ")
            and status[:1] not in ("3", b"3")
            and self.between_messages
        ):
            self.say_goodbye()  # the last reply of a command, and no message under way: now

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):
            # The client said STARTTLS, then sent no TLS handshake aiosmtpd could complete (plain
            # text, an old protocol version, a reset): its doing, not ours, so no traceback.
            # aiosmtpd closes the connection and ignores the reply.
            log.info("TLS handshake with %s failed: %s", self.session and self.session.peer, error.__cause__)
            return R.S421_TLS_FAILED.format(self.hostname)
        if isinstance(error, asyncio.IncompleteReadError) and self.half_closed:
            # Everything the client sent before its half-close is answered: the session is over.
            # (The reply may not go out: the connection is closing. Nobody waits for it.)
            self.hang_up()
            return R.S221_CLOSING.format(self.hostname)
        return await super().handle_exception(error)

    # ---- STARTTLS and AUTH ---------------------------------------------------------------

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        # aiosmtpd 1.4.6 answers 220 to a STARTTLS on a connection that is TLS already, then
        # starts a second handshake inside the first, which breaks the connection. RFC 3207
        # section 4.2 has the server offer STARTTLS no more once TLS is on; Postfix refuses
        # the command as this does.
        if self.session is not None and self.session.ssl is not None:
            await self.push(R.S503_TLS_ACTIVE)
            return
        await super().smtp_STARTTLS(arg)

    async def challenge_auth(
        self, challenge: str | bytes, encode_to_b64: bool = True, log_client_response: bool = False
    ) -> Any:
        """Send a 334 challenge and return the client's decoded answer, or MISSING when the
        client gave up (`*`), sent bad base64 or a line too long (the reply has then been sent).

        aiosmtpd's challenge_auth (1.4.6) with one change: an answer over the line length limit
        is read to its end and refused with 500 5.5.6 (RFC 4954 section 4). aiosmtpd's readline
        raises instead, which became a traceback, a 451, and a 500 for the rest of the line,
        read as a command: two replies to one line. `log_client_response` is never honoured
        here (it would log passwords).
        """
        if isinstance(challenge, str):
            challenge = challenge.encode()
        await self.push(b"334 " + (b64encode(challenge) if encode_to_b64 else challenge))
        line = await self.read_line()
        if line is None:
            await self.push(R.S500_AUTH_LINE_TOO_LONG)
            return MISSING
        blob = line.strip()
        if blob == b"*":  # RFC 4954 section 4: the client cancels the exchange
            await self.push("501 5.7.0 Auth aborted")
            return MISSING
        try:
            return b64decode(blob, validate=True)
        except binascii.Error:
            await self.push("501 5.5.2 Can't decode base64")
            return MISSING

    async def read_line(self) -> bytes | None:
        """The client's next line; None if it was over the line length limit (then it has
        been read to its end and dropped, as aiosmtpd does with an over-long command)."""
        reader = stream_reader(self)
        try:
            return await reader.readuntil()
        except asyncio.LimitOverrunError as error:
            await reader.read(error.consumed)
        while True:
            try:
                await reader.readuntil()
                return None
            except asyncio.LimitOverrunError as error:
                await reader.read(error.consumed)

    # ---- commands that send no mail ------------------------------------------------------

    async def too_much_junk(self) -> bool:
        """Count a command that sends no mail; past the limit, say so and close."""
        self.junk += 1
        if self.junk <= JUNK_COMMAND_LIMIT:
            return False
        log.info("too many commands without mail from %s; closing", self.session and self.session.peer)
        await super().push(R.S421_TOO_MANY_JUNK.format(self.hostname))
        self.hang_up()
        return True

    @syntax("NOOP [ignored]")
    async def smtp_NOOP(self, arg: str) -> None:
        if not await self.too_much_junk():
            await super().smtp_NOOP(arg)

    @syntax("RSET")
    async def smtp_RSET(self, arg: str) -> None:
        if not await self.too_much_junk():
            await super().smtp_RSET(arg)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:
        if not await self.too_much_junk():
            await super().smtp_VRFY(arg)

    @syntax("HELP [command]")
    async def smtp_HELP(self, arg: str) -> None:
        if not await self.too_much_junk():
            await super().smtp_HELP(arg)

    # ---- DATA ---------------------------------------------------------------------------
    #
    # aiosmtpd reads the data a line at a time (a readuntil, a list append and a join per
    # line); this reads it in blocks up to the end-of-data marker, with the same outcome:
    # the same replies, the same size and line-length limits, the same envelope, the same
    # handler hook. Only <CRLF>.<CRLF> ends the data (the data begins as if after a CRLF, so
    # `.<CRLF>` at once is an empty message); a bare LF or CR anywhere stays in the data,
    # where check_data refuses it. It is aiosmtpd's smtp_DATA (1.4.6) on the public surface
    # but for the stream reader (upstream.py); tests/smtp/test_data_reader.py compares the
    # two on the same bytes, and test_upstream.py notices when aiosmtpd's changes.

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return

        with self.memory.hold() as held:  # given back when the message is stored or refused
            await self._data(held)

    async def _data(self, held: Held) -> None:
        """DATA from its 354 on, the message's bytes counted in `held`."""
        assert self.envelope is not None
        self.reading_data = True
        self.arm(self.data_timeout, "message data")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            stuffed, state = await self._read_data(held)
        except asyncio.CancelledError:
            # The connection got reset during the DATA command (aiosmtpd cancels the
            # handler on EOF and on connection loss): nothing is stored.
            log.info("Connection lost during DATA")
            self.hang_up()
            raise
        except asyncio.IncompleteReadError:
            # The end of the stream before the end of the data (should EOF ever arrive
            # without aiosmtpd's cancellation): nothing is stored either.
            log.info("Connection lost during DATA")
            self.hang_up()
            return
        finally:
            self.reading_data = False
        self.disarm()  # the client now waits for us; its next deadline starts with our reply
        self.junk = 0  # a message came (taken or not): the client does what it connected for

        try:
            if state is not DataState.NOMINAL:
                if state is DataState.TOO_LONG:
                    await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
                elif state is DataState.NO_ROOM:
                    log.warning(
                        "refused a message of %s: message_memory (%d bytes) is held by messages being received",
                        self.session and self.session.peer,
                        self.memory.limit,
                    )
                    await self.push(R.S452_NO_MEMORY)
                else:
                    await self.push("552 Error: Too much mail data")
                self.envelope = Envelope()
                return

            # RFC 5321 section 4.5.2: a line that starts with a period loses that period.
            if b"\r\n." in stuffed:
                stuffed = stuffed.replace(b"\r\n.", b"\r\n")
            original_content = stuffed[1:] if stuffed[:1] == b"." else stuffed
            self.envelope.content = original_content
            self.envelope.original_content = original_content

            hook = getattr(self.event_handler, "handle_DATA", None)
            status = MISSING if hook is None else await hook(self, self.session, self.envelope)
            self.envelope = Envelope()
            await self.push("250 OK" if status is MISSING else status)
        finally:
            self.arm(self.command_timeout, "command line")

    async def _read_data(self, held: Held) -> tuple[bytes, DataState]:
        """Read the data after the 354 up to and including <CRLF>.<CRLF>, and no further (a
        pipelining client may send its next command right behind it).

        Returns the data as sent (dot-stuffed, ending in the CRLF of its last line, without
        the final `.<CRLF>`) and whether it kept within the limits. Data past the size limit
        is read to the end but not kept (aiosmtpd's reply comes only after the end, as RFC
        5321 section 4.2.5 implies), so memory stays bounded by the limit. So is data that would
        take `held` over the process's message_memory: its state is then NO_ROOM.
        """
        reader = stream_reader(self)
        limit = self.data_size_limit
        keep = limit + len(_END_TAIL) if limit else 0  # consumed bytes beyond this: too big
        state = DataState.NOMINAL
        parts: list[bytes] = []
        size = 0  # bytes consumed after the 354, the final `.<CRLF>` included
        # The last few bytes consumed, after a virtual CRLF: the data starts at a line start.
        tail = b"\r\n"
        while True:
            overlap = _marker_overlap(tail)
            if overlap:
                # The bytes read so far end with the start of a marker, so a block read
                # could run past its end: read just enough to complete it, or to rule it out.
                piece = await reader.readexactly(len(_END) - overlap)
                done = (tail + piece).endswith(_END)
            else:
                # No marker begins in what was read, so the first one in the stream ends the
                # data; readuntil takes nothing past it. Its limit (aiosmtpd's line length
                # limit) only bounds how much it returns at a time.
                try:
                    piece = await reader.readuntil(_END)
                    done = True
                except asyncio.LimitOverrunError as exc:
                    piece = await reader.read(exc.consumed)
                    done = False
            size += len(piece)
            tail = (tail + piece[-4:])[-4:]
            if state is DataState.NOMINAL:
                if keep and size > keep:
                    # The data is over the limit whatever follows: say so at the end, drop it
                    # now. A line that was too long before the limit is what aiosmtpd would name.
                    parts.append(piece)
                    seen = b"".join(parts)[:limit]
                    too_long = has_long_line(seen, self.line_length_limit - 2)
                    state = DataState.TOO_LONG if too_long else DataState.TOO_MUCH
                    parts = []
                elif not held.take(len(piece)):
                    state, parts = DataState.NO_ROOM, []  # (what it held is given back)
                else:
                    parts.append(piece)
            if done:
                break
        if state is not DataState.NOMINAL:
            return b"", state
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        data = data[: -len(_END_TAIL)]
        if has_long_line(data, self.line_length_limit - 2):
            return b"", DataState.TOO_LONG
        return data, state

    def has_room(self, mail_options: list[str]) -> bool:
        """Whether the message a MAIL command announces, by its SIZE (RFC 1870), fits in what
        the process's message_memory has free now: if not, it is refused before it is sent,
        with 452 (RFC 1870 section 6.1: "insufficient system storage", temporary)."""
        for option in mail_options:
            name, _, value = option.partition("=")
            if name.upper() == "SIZE" and value.isascii() and value.isdigit():
                return self.memory.fits(int(value))
        return True

    def hang_up(self) -> None:
        """Close the connection (after the last reply has been pushed)."""
        if self.transport is not None:
            self.transport.close()

    # ---- stopping -------------------------------------------------------------------------

    @property
    def between_messages(self) -> bool:
        """Whether no message is under way: no MAIL taken since the last message's reply (or
        RSET), no data being read. A message whose data is being stored is under way: its
        reply must come, or the client sends it again and it goes out twice."""
        return not self.reading_data and (self.envelope is None or self.envelope.mail_from is None)

    def say_goodbye(self) -> None:
        """421 4.3.2 and close (the worker stops)."""
        self.close_with(R.S421_SHUTTING_DOWN.format(self.hostname))


# The open connections of each server serve_smtp made (shut_down reads them).
_SESSIONS: weakref.WeakKeyDictionary[asyncio.Server, set[ServerSMTP]] = weakref.WeakKeyDictionary()


async def shut_down(server: asyncio.Server, grace: float) -> None:
    """Stop a server of serve_smtp's as a worker stops: take no new connection; say 421 4.3.2
    and close each connection at once where no message is under way, and where one is, after
    that message's reply (so that a message being stored is answered, and not sent again by
    its client); close what is left after `grace` seconds, with the same 421."""
    server.close()
    sessions = _SESSIONS.get(server, set())
    for session in list(sessions):
        session.shutting_down = True
        if session.between_messages:
            session.say_goodbye()
    deadline = asyncio.get_running_loop().time() + grace
    while sessions and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    for session in list(sessions):
        log.info("closing %s with its message unfinished: the worker stops", session.session and session.session.peer)
        session.say_goodbye()


def is_loopback_peer(peer: Any) -> bool:
    """Whether a peer address (as asyncio gives it) is on 127.0.0.0/8 or ::1."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False
    try:
        ip = ipaddress.ip_address(peer[0].partition("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket shows IPv4 clients as ::ffff:a.b.c.d
    return ip.is_loopback


async def serve_smtp(
    handler: Any,
    settings: Settings,
    server: SmtpServerSettings,
    sock: socket.socket,
    *,
    data_size_limit: int,
    workers: int = 1,
    memory: MessageMemory | None = None,
) -> asyncio.Server:
    """Serve `handler` (the submission or the inbound handler) with ServerSMTP on `sock`, a
    bound, listening socket shared by `workers` processes, with `server`'s deadlines and this
    process's share of its connection limits, and `memory`, the process's message_memory (one
    of its own when not given). Close the returned server to stop accepting."""
    loop = asyncio.get_running_loop()
    tls = load_tls_context(settings, warn=False)  # the supervisor's preflight said it, once
    connections = connection_limit(server.max_connections, server.max_connections_per_address, workers)
    if memory is None:
        memory = MessageMemory(int(settings.message_memory))

    sessions: set[ServerSMTP] = set()

    def connection() -> ServerSMTP:
        return ServerSMTP(
            handler,
            sessions=sessions,
            hostname=settings.hostname,
            ident="ESMTP returnpath",
            loop=loop,
            data_size_limit=data_size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls,
            limits=connections,
            memory=memory,
            command_timeout=float(server.command_timeout),
            data_timeout=float(server.data_timeout),
            # The handlers decide where AUTH is allowed (auth_over_cleartext) and that MAIL
            # needs it; aiosmtpd's own switches know neither loopback nor our replies.
            auth_require_tls=False,
            auth_required=False,
        )

    listening = await loop.create_server(connection, sock=sock)
    _SESSIONS[listening] = sessions
    return listening


def connection_limit(max_connections: int, per_address: int, workers: int) -> ConnectionLimit:
    """One worker process's share of a server's connection limits: the total divided among the
    workers (the kernel spreads connections over them), the per-address limit as it is."""
    return ConnectionLimit(total=-(-max_connections // max(1, workers)), per_address=per_address)


def load_tls_context(settings: Settings, *, warn: bool = True) -> ssl.SSLContext | None:
    """The STARTTLS context from the configured certificate and key; None if either is missing
    (said in a warning, unless `warn` is false: each worker's two servers load it again)."""
    cert = settings.path(settings.smtp.submission.tls_cert)
    key = settings.path(settings.smtp.submission.tls_key)
    if not (cert.is_file() and key.is_file()):
        if warn:
            log.warning("no STARTTLS: %s or %s does not exist", cert, key)
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the STARTTLS certificate {cert} and key {key}: {exc}") from None
    return context
