"""The inbound server of the bounce domain: where everything sent back arrives.

It accepts mail only for valid tracking addresses (`b<token>@<bounce domain>`, whose token
must carry our signature; the bounce domain is the instance's `bounce_domain` or that of a
sending domain, core/domains.py, read from the store at most every DOMAINS_FRESH seconds) and for postmaster@ and abuse@ of the bounce domain; anything else
is refused at RCPT with 550 5.1.1, so it is never an open relay and stores no junk. The null
sender is normal here. A message is committed raw and byte-exact, with its envelope, before
the 250 reply; recognising it happens later, from the store (returns/worker.py), so a crash
between the two loses nothing.

Returned mail must not crowd out what applications submit: when the returned mail kept
reaches `max_stored_returns`, or the database's disk has less than `reserve_free_space` free,
the server answers 452 4.3.1 at RCPT (and at the end of DATA) and stores nothing; senders
try again later, and submission goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import Envelope, Session

from ..config import Settings
from ..core import ids, senders, tokens
from ..core.intake import check_data
from ..core.limits import MessageMemory, RateLimit, client_address
from ..core.model import Returned
from ..core.ports import Store
from ..errors import MessageError, StoreError, StoreFull
from . import replies as R
from .server import ServerSMTP, serve_smtp

log = logging.getLogger(__name__)

NULL_SENDER = "<>"
DOMAINS_FRESH = 5.0  # a bounce domain added is accepted within this
ROLE_ACCOUNTS = ("postmaster", "abuse")


class InboundHandler:
    def __init__(self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.limits = settings.smtp.inbound
        self.domain = settings.bounce_domain.lower()
        self.domains = frozenset({self.domain})  # and the sending domains' bounce domains
        self._domains_at = float("-inf")
        self.clock = clock
        self.senders = RateLimit(self.limits.messages_per_minute_per_address)
        self._storing: set[asyncio.Task[None]] = set()
        self._warned_at = float("-inf")
        # whose disk keeps reserve_free_space: the SQLite file's; a PostgreSQL server's disk is
        # its own (it refuses writes when full: a StoreError, answered 451), so this node's folder
        self._database_folder = (
            settings.sqlite_path.parent if settings.store_backend == "sqlite" else settings.path(".")
        )

    def delivery_of(self, address: str) -> str | None:
        """The delivery id an envelope recipient's token names; "" for a role account; None
        for an address that is not ours."""
        local, at, domain = address.rpartition("@")
        if not at:
            local, domain = address, self.domain  # RFC 5321 4.5.1: a bare "postmaster"
        if domain.lower().rstrip(".") not in self.domains:
            return None
        if local.lower() in ROLE_ACCOUNTS:
            return ""
        return tokens.decode(self.settings.secret_bytes, local)

    async def handle_EHLO(
        self, server: ServerSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd's EHLO reply without AUTH (nobody logs in here) and without HELP."""
        session.host_name = hostname
        lines = [line[4:] for line in responses if not line[4:].startswith(("AUTH", "HELP"))]
        lines.append("PIPELINING")
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_AUTH(self, server: ServerSMTP, session: Session, envelope: Envelope, args: list[str]) -> str:
        """Nobody logs in here, and AUTH is not offered: say so (as Postfix does without SASL)
        rather than let aiosmtpd's built-in mechanisms answer 535 to any credentials."""
        return R.S503_AUTH_NOT_ENABLED

    async def handle_MAIL(
        self, server: ServerSMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if not self.senders.allow(client_address(session.peer), self.clock()):
            return R.S451_TOO_MANY_MESSAGES  # each MAIL counts, accepted or not: it is what costs us
        if problem := unstorable_sender(address):
            return R.S553_BAD_SENDER.format(problem)
        if not server.has_room(mail_options):
            return R.S452_NO_MEMORY
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return R.S250_SENDER_OK

    async def handle_RCPT(
        self, server: ServerSMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return R.S452_TOO_MANY_RECIPIENTS
        await self._refresh_domains()
        if self.delivery_of(address) is None:
            return R.S550_NO_SUCH_USER
        if not envelope.rcpt_tos and not await self._room(0, count_stored=True):
            return R.S452_NO_ROOM
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return R.S250_RECIPIENT_OK

    async def handle_DATA(self, server: ServerSMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            check_data(raw)  # the same smuggling defence as submission: refuse, never split
        except MessageError as exc:
            return R.S550_MESSAGE.format(R.one_line(str(exc)))
        deliveries = tuple(dict.fromkeys(d for r in envelope.rcpt_tos if (d := self.delivery_of(r))))
        now = self.clock()
        peer = session.peer[0] if isinstance(session.peer, tuple) and session.peer else None
        mailfrom = "" if envelope.mail_from in (NULL_SENDER, None) else str(envelope.mail_from)
        returned = Returned(ids.new_id(now), mailfrom, tuple(envelope.rcpt_tos), deliveries, peer, now, raw)
        if not await self._room(len(raw), count_stored=False):  # the store checks its limit itself
            return R.S452_NO_ROOM
        try:
            await self._store(returned)
        except StoreFull as exc:
            self._refusing(str(exc))
            return R.S452_NO_ROOM
        except StoreError as exc:
            log.warning("cannot store a returned message: %s", exc)
            return R.S451_STORE_FAILED
        return R.S250_RETURN_QUEUED.format(returned.id)

    async def _refresh_domains(self) -> None:
        """Read the sending domains' bounce domains again when the last read is stale. A store
        that does not answer leaves the set as it was: tokens stay checked by their MAC."""
        now = self.clock()
        if 0 <= now - self._domains_at < DOMAINS_FRESH:
            return
        self._domains_at = now
        try:
            # A removed domain's too, while mail sent before the removal can still bounce.
            since = self.clock() - senders.bounce_kept(self.settings.delivery.retry.lifetime)
            configured = await self.store.bounce_domains(since)
        except StoreError as exc:
            log.warning("cannot read the sending domains' bounce domains: %s", exc)
            return
        self.domains = frozenset({self.domain, *configured})

    async def _room(self, size: int, *, count_stored: bool) -> bool:
        """Whether `size` more bytes of returned mail may be stored: the disk keeps its reserve
        (one statvfs call) and, when `count_stored`, the returned mail kept stays under its limit."""
        folder = self._database_folder
        try:
            disk = os.statvfs(folder)
        except OSError as exc:
            log.warning("cannot see the free space of %s: %s", folder, exc)
        else:
            free = disk.f_bavail * disk.f_frsize
            if free - size < self.limits.reserve_free_space:
                return self._refusing(f"{free} bytes free on {folder}, below reserve_free_space")
        if count_stored and self.limits.max_stored_returns:
            try:
                stored = await self.store.stored_returns()
            except StoreError:
                return True  # the store is not answering: storing will say so
            if stored + size >= self.limits.max_stored_returns:
                return self._refusing(f"{stored} bytes of returned mail kept, at max_stored_returns")
        return True

    def _refusing(self, why: str) -> bool:
        """Say why returned mail is refused, once a minute rather than once per client."""
        now = self.clock()
        if now - self._warned_at >= 60:
            self._warned_at = now
            log.warning("refusing returned mail (452 4.3.1): %s", why)
        return False

    async def _store(self, returned: Returned) -> None:
        # Runs to the end even if the client hangs up: it will send again, and a duplicate
        # bounce is better than a lost one.
        limit = int(self.limits.max_stored_returns) or None
        task = asyncio.ensure_future(self.store.receive(returned, limit=limit))
        self._storing.add(task)
        task.add_done_callback(self._storing.discard)
        await asyncio.shield(task)

    async def handle_exception(self, error: Exception) -> str:
        log.error("inbound server error", exc_info=error)
        return R.S451_INTERNAL_ERROR


def unstorable_sender(address: str) -> str | None:
    """Why a MAIL FROM address cannot be kept with the returned mail, or None if it can.

    The sender is not checked further than this (returned mail comes from servers of every
    kind), but it is kept as text: bytes that are not UTF-8 (aiosmtpd hands them over as
    surrogates) cannot be written to the store, and a control character is no part of any
    address (a NUL cannot be stored in PostgreSQL text at all). Refusing such a sender at MAIL
    FROM, with a 5xx, beats failing to store the message at the end of DATA with a 451 that
    the sending server would retry for days.
    """
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:
        return "the sender address is not valid UTF-8"
    if any(c < " " or c == "\x7f" for c in address):
        return "the sender address contains control characters"
    return None


async def start_inbound_server(
    store: Store,
    settings: Settings,
    sock: socket.socket,
    *,
    workers: int = 1,
    memory: MessageMemory | None = None,
    **kw: Any,
) -> asyncio.Server:
    """Serve the bounce domain's SMTP on `sock`, a bound, listening socket shared by `workers`
    processes (and so their `max_connections`); `memory`: as start_submission_server's."""
    handler = InboundHandler(store, settings, **kw)
    return await serve_smtp(
        handler,
        settings,
        settings.smtp.inbound,
        sock,
        data_size_limit=settings.smtp.inbound_message_size,
        workers=workers,
        memory=memory,
    )
