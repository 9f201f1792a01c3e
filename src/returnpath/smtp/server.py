"""What returnpath's two SMTP servers (submission and inbound) share on top of aiosmtpd."""

from __future__ import annotations

import ipaddress
import logging
import ssl
from typing import Any, AnyStr

from aiosmtpd.smtp import SMTP, Session

from ..config import Settings
from ..errors import ConfigError
from . import replies as R

log = logging.getLogger(__name__)


class QuietSession(Session):
    """aiosmtpd's session, minus the deprecation warning it logs on every successful AUTH
    (its `login_data` property warns; a plain attribute does not)."""

    login_data: Any = None


class ServerSMTP(SMTP):
    """aiosmtpd's SMTP protocol (one instance per connection) with what our servers add:

    - a count of failed AUTH attempts on the connection, read by the submission handler;
    - replies that aiosmtpd writes itself get enhanced status codes (`replies.REWRITES`);
    - the timeout counts from the last byte received, not from the last command, so that a
      large message on a slow link is not cut off while it is still arriving.
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
