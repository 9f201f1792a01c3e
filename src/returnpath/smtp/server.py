"""What returnpath's two SMTP servers (submission and inbound) share on top of aiosmtpd."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import ssl
from typing import Any, AnyStr

from aiosmtpd.smtp import MISSING, SMTP, Session, _DataState, syntax

from ..config import Settings
from ..core.submission import has_long_line
from ..errors import ConfigError
from . import replies as R

log = logging.getLogger(__name__)

_END = b"\r\n.\r\n"  # the end of the data (RFC 5321 section 4.1.1.4), and nothing else
_END_TAIL = _END[2:]  # what of it is not the data's: the CRLF ends the data's last line
_END_PREFIXES = tuple(_END[:k] for k in range(len(_END) - 1, 0, -1))  # longest first


def _marker_overlap(tail: bytes) -> int:
    """The length of the longest end of `tail` that is the start of a marker (0 if none)."""
    for prefix in _END_PREFIXES:
        if tail.endswith(prefix):
            return len(prefix)
    return 0


class QuietSession(Session):
    """aiosmtpd's session, minus the deprecation warning it logs on every successful AUTH
    (its `login_data` property warns; a plain attribute does not)."""

    login_data: Any = None


class ServerSMTP(SMTP):
    """aiosmtpd's SMTP protocol (one instance per connection) with what our servers add:

    - a count of failed AUTH attempts on the connection, read by the submission handler;
    - replies that aiosmtpd writes itself get enhanced status codes (`replies.REWRITES`);
    - the timeout counts from the last byte received, not from the last command, so that a
      large message on a slow link is not cut off while it is still arriving;
    - DATA is read in blocks rather than line by line (`smtp_DATA` below), with the same
      replies and limits as aiosmtpd's.
    """

    def __init__(self, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.failed_logins = 0

    def _create_session(self) -> Session:
        return QuietSession(self.loop)

    def data_received(self, data: bytes) -> None:
        self._reset_timeout()
        super().data_received(data)

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            status = R.REWRITES.get(status, status)
        await super().push(status)

    # ---- DATA ---------------------------------------------------------------------------
    #
    # aiosmtpd reads the data a line at a time (a readuntil, a list append and a join per
    # line); this reads it in blocks up to the end-of-data marker, with the same outcome:
    # the same replies, the same size and line-length limits, the same envelope, the same
    # handler hook. Only <CRLF>.<CRLF> ends the data (the data begins as if after a CRLF, so
    # `.<CRLF>` at once is an empty message); a bare LF or CR anywhere stays in the data,
    # where check_data refuses it.

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

        await self.push("354 End data with <CR><LF>.<CR><LF>")
        try:
            stuffed, state = await self._read_data()
        except asyncio.CancelledError:
            # The connection got reset during the DATA command (aiosmtpd cancels the
            # handler on EOF and on connection loss): nothing is stored.
            log.info("Connection lost during DATA")
            self._writer.close()
            raise
        except asyncio.IncompleteReadError:
            # The end of the stream before the end of the data (should EOF ever arrive
            # without aiosmtpd's cancellation): nothing is stored either.
            log.info("Connection lost during DATA")
            self._writer.close()
            return

        if state is not _DataState.NOMINAL:
            if state is _DataState.TOO_LONG:
                await self.push("500 Line too long (see RFC5321 4.5.3.1.6)")
            else:
                await self.push("552 Error: Too much mail data")
            self._set_post_data_state()
            return

        # RFC 5321 section 4.5.2: a line that starts with a period loses that period.
        if b"\r\n." in stuffed:
            stuffed = stuffed.replace(b"\r\n.", b"\r\n")
        original_content = stuffed[1:] if stuffed[:1] == b"." else stuffed

        content: str | bytes
        if self._decode_data:
            if self.enable_SMTPUTF8:
                content = original_content.decode("utf-8", errors="surrogateescape")
            else:
                try:
                    content = original_content.decode("ascii", errors="strict")
                except UnicodeDecodeError:
                    await self.push("500 Error: strict ASCII mode")
                    return
        else:
            content = original_content
        self.envelope.content = content
        self.envelope.original_content = original_content

        if "DATA" in self._handle_hooks:
            status = await self._call_handler_hook("DATA")
        else:
            status = MISSING
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def _read_data(self) -> tuple[bytes, _DataState]:
        """Read the data after the 354 up to and including <CRLF>.<CRLF>, and no further (a
        pipelining client may send its next command right behind it).

        Returns the data as sent (dot-stuffed, ending in the CRLF of its last line, without
        the final `.<CRLF>`) and whether it kept within the limits. Data past the size limit
        is read to the end but not kept (aiosmtpd's reply comes only after the end, as RFC
        5321 section 4.2.5 implies), so memory stays bounded by the limit.
        """
        reader = self._reader
        limit = self.data_size_limit
        keep = limit + len(_END_TAIL) if limit else 0  # consumed bytes beyond this: too big
        state = _DataState.NOMINAL
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
            if state is _DataState.NOMINAL:
                if keep and size > keep:
                    # The data is over the limit whatever follows: say so at the end, drop it
                    # now. A line that was too long before the limit is what aiosmtpd would name.
                    parts.append(piece)
                    seen = b"".join(parts)[:limit]
                    too_long = has_long_line(seen, self.line_length_limit - 2)
                    state = _DataState.TOO_LONG if too_long else _DataState.TOO_MUCH
                    parts = []
                else:
                    parts.append(piece)
            if done:
                break
        if state is not _DataState.NOMINAL:
            return b"", state
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        data = data[: -len(_END_TAIL)]
        if has_long_line(data, self.line_length_limit - 2):
            return b"", _DataState.TOO_LONG
        return data, state

    def hang_up(self) -> None:
        """Close the connection (after the last reply has been pushed)."""
        if self.transport is not None:
            self.transport.close()


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


def load_tls_context(settings: Settings) -> ssl.SSLContext | None:
    """The STARTTLS context from the configured certificate and key; None if either is missing."""
    cert = settings.path(settings.smtp.submission.tls_cert)
    key = settings.path(settings.smtp.submission.tls_key)
    if not (cert.is_file() and key.is_file()):
        log.warning("no STARTTLS: %s or %s does not exist", cert, key)
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the STARTTLS certificate {cert} and key {key}: {exc}") from None
    return context
