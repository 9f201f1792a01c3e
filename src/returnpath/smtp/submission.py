"""The submission server: applications hand their mail to returnpath over SMTP.

aiosmtpd speaks the protocol. `SubmissionHandler` is what the server does at each step
(authenticate, check the sender and recipients, turn the data into a `Submission` and store it
through `Relay.submit`); `ServerSMTP` is aiosmtpd's SMTP class with the few changes the
handler cannot make from outside; `start_submission_server` serves both on a listening socket
that the worker processes of `serve` share.

A message is accepted only when it has been committed: the 250 reply to the end of DATA comes
after `Relay.submit` returns, and names the delivery id of every recipient.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
import socket
from base64 import b64decode
from typing import Any, cast

from aiosmtpd.smtp import MISSING, AuthResult, Envelope, Session

from ..config import Settings
from ..core.intake import build, check_data, split_option_headers, validate_address, validate_recipient
from ..core.limits import MessageMemory
from ..core.model import Accepted, Account, Submission, Trace
from ..errors import (
    AccountDisabled,
    AddressError,
    AuthError,
    AuthThrottled,
    CredentialsChanged,
    MessageError,
    OptionError,
    SenderError,
    StoreError,
)
from ..usecases.relay import Login, Relay
from . import replies as R
from .server import ServerSMTP, is_loopback_peer, serve_smtp

log = logging.getLogger(__name__)

# Before the reply to each failed AUTH on a connection the server waits AUTH_DELAY seconds,
# doubled after every failure up to MAX_AUTH_DELAY: slow for a password guesser, unnoticed by
# an application with the right password.
AUTH_DELAY = 0.5
MAX_AUTH_DELAY = 8.0

NULL_SENDER = "<>"  # what aiosmtpd hands the MAIL hook for `MAIL FROM:<>`

# The X-Returnpath-* header fields a message may carry, by their name without the prefix;
# they are the options of the HTTP API, under the same (SMTPeter's) names.
OPTION_HEADERS = ("tags", "trackbounces", "envelope", "maxdelivertime", "dsn")


class SubmissionHandler:
    """The submission server's decisions, as aiosmtpd hooks: `handle_*` for commands,
    `auth_*` for the AUTH mechanisms (async, so checking a password never blocks the loop).

    aiosmtpd takes every attribute named `handle_*` or `auth_*` for a hook or a mechanism, so
    nothing else here may start with those words.
    """

    def __init__(self, relay: Relay, settings: Settings, *, auth_delay: float = AUTH_DELAY) -> None:
        self.relay = relay
        self.settings = settings
        self.limits = settings.smtp.submission
        self.failure_delay = auth_delay
        self._submitting: set[asyncio.Task[Accepted]] = set()

    # ---- EHLO and AUTH -------------------------------------------------------------------

    async def handle_EHLO(
        self, server: ServerSMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        """Adjust aiosmtpd's EHLO reply: add what it does not say, drop AUTH where not allowed."""
        session.host_name = hostname  # aiosmtpd leaves this to a handler that takes over EHLO
        greeting, *keywords = [line[4:] for line in responses]
        if not self.may_authenticate(session):
            keywords = [k for k in keywords if not k.startswith("AUTH ")]
        keywords = [k for k in keywords if k != "HELP"]  # no EHLO keyword; HELP the command stays
        # aiosmtpd reads commands one after another from a stream and answers in order, which
        # is all PIPELINING (RFC 2920) asks of a server. ENHANCEDSTATUSCODES is not offered:
        # every refusal carries a code, but some of aiosmtpd's 2xx replies (NOOP, QUIT) do not.
        keywords.append("PIPELINING")
        lines = [greeting, *keywords]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    def may_authenticate(self, session: Session) -> bool:
        """Whether AUTH may be used on this connection now (TLS, or the cleartext policy)."""
        if session.ssl is not None:
            return True
        policy = self.limits.auth_over_cleartext
        return policy == "always" or (policy == "loopback" and is_loopback_peer(session.peer))

    async def handle_AUTH(self, server: ServerSMTP, session: Session, envelope: Envelope, args: list[str]) -> Any:
        if not self.may_authenticate(session):
            return R.S538_ENCRYPTION_REQUIRED
        return MISSING  # go on to the mechanism

    async def auth_PLAIN(self, server: ServerSMTP, args: list[str]) -> AuthResult:
        """AUTH PLAIN (RFC 4616): `authzid NUL authcid NUL password`, with the command or after 334."""
        blob = await _client_response(server, args, "")
        if blob is None:
            return AuthResult(success=False, handled=True)
        parts = blob.split(b"\0")
        if len(parts) != 3:
            await server.push(R.S501_BAD_PLAIN)
            return AuthResult(success=False, handled=True)
        authzid, login, password = parts
        if authzid and authzid != login:
            # Nobody may act for another account: a different authorization identity fails.
            return await self._refuse(server, login)
        return await self._verify(server, login, password)

    async def auth_LOGIN(self, server: ServerSMTP, args: list[str]) -> AuthResult:
        """AUTH LOGIN (the old, undocumented-but-universal one): username, then password."""
        login = await _client_response(server, args, "Username:")
        if login is None:
            return AuthResult(success=False, handled=True)
        password = await server.challenge_auth("Password:")
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        assert isinstance(password, bytes)
        return await self._verify(server, login, password)

    async def _verify(self, server: ServerSMTP, login: bytes, password: bytes) -> AuthResult:
        peer = server.session.peer if server.session else None
        try:
            verified = await self.relay.account_for_login(
                login.decode("utf-8", "replace"),
                password.decode("utf-8", "replace"),
                peer[0] if isinstance(peer, tuple) else None,
            )
        except AuthThrottled as exc:
            return await self._refuse(server, login, R.S454_AUTH_AT_ONCE if exc.at_once else R.S454_AUTH_THROTTLED)
        except AccountDisabled:
            await server.push(R.S535_ACCOUNT_DISABLED)
            return AuthResult(success=False, handled=True)
        except AuthError:
            return await self._refuse(server, login)
        except StoreError as exc:
            log.warning("cannot check credentials: %s", exc)
            await server.push(R.S454_AUTH_UNAVAILABLE)
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True, auth_data=verified)

    async def _refuse(self, server: ServerSMTP, login: bytes, reply: str = R.S535_AUTH_INVALID) -> AuthResult:
        """Reply 535 (or `reply`) after a delay that grows with each failure on the connection;
        hang up after too many."""
        server.failed_logins += 1
        failures = server.failed_logins
        log.info(
            "failed AUTH #%d from %s as %r",
            failures,
            server.session and server.session.peer,
            login.decode("utf-8", "replace")[:64],
        )
        await asyncio.sleep(min(self.failure_delay * 2 ** (failures - 1), MAX_AUTH_DELAY))
        await server.push(reply)
        if failures >= self.limits.auth_failures_before_disconnect:
            await server.push(R.S421_TOO_MANY_AUTH_FAILURES)
            server.hang_up()
        return AuthResult(success=False, handled=True)

    # ---- the envelope --------------------------------------------------------------------

    async def handle_MAIL(
        self, server: ServerSMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if not session.authenticated:
            return R.S530_AUTH_REQUIRED  # never an open relay
        if address != NULL_SENDER and (refusal := _address_refusal(address, "sender", envelope)):
            return refusal
        if not server.has_room(mail_options):
            return R.S452_NO_MEMORY
        login = cast(Login, session.auth_data)  # what _verify gave aiosmtpd
        try:
            # As the account is now: it may have been disabled, bound to other sender domains
            # or given a new password since this connection logged in.
            login = await self.relay.current_login(login)
            self.relay.check_sender(login.account, "" if address == NULL_SENDER else address)
        except CredentialsChanged:
            return R.S421_CREDENTIALS_CHANGED.format(server.hostname)  # and closed: see ServerSMTP.push
        except (AuthError, SenderError) as exc:
            return R.S550_NOT_AUTHORIZED.format(R.one_line(str(exc)))
        except StoreError as exc:
            log.warning("cannot read account %s: %s", login.account.id, exc)
            return R.S451_STORE_FAILED
        cast(Any, session).auth_data = login  # (aiosmtpd declares it None)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return R.S250_SENDER_OK

    async def handle_RCPT(
        self, server: ServerSMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not session.authenticated:  # aiosmtpd wants MAIL first, but say why if it ever gets here
            return R.S530_AUTH_REQUIRED
        if len(envelope.rcpt_tos) >= self.limits.max_recipients:
            return R.S452_TOO_MANY_RECIPIENTS
        if refusal := _address_refusal(address, "recipient", envelope):
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return R.S250_RECIPIENT_OK

    # ---- the message ---------------------------------------------------------------------

    async def handle_DATA(self, server: ServerSMTP, session: Session, envelope: Envelope) -> str:
        """The end of DATA: make a Submission, store it, and only then say OK."""
        account = cast(Login, session.auth_data).account  # as handle_MAIL last read it
        try:
            submission = self.submission(envelope)
        except AddressError as exc:
            return R.S553_ADDRESS.format(R.one_line(str(exc)))
        except OptionError as exc:
            return R.S501_OPTION.format(R.one_line(str(exc)))
        except MessageError as exc:
            return R.S550_MESSAGE.format(R.one_line(str(exc)))
        try:
            accepted = await self._submit(account, submission, self.trace(session))
        except (AccountDisabled, SenderError) as exc:  # an X-Returnpath-Envelope of another domain
            return R.S550_NOT_AUTHORIZED.format(R.one_line(str(exc)))
        except StoreError as exc:
            log.warning("cannot store a message of account %s: %s", account.id, exc)
            return R.S451_STORE_FAILED
        log.debug(
            "accepted %s for %d recipient(s) of account %s", accepted.message_id, len(accepted.deliveries), account.id
        )
        return queued_reply(accepted)

    def submission(self, envelope: Envelope) -> Submission:
        """The envelope and data as a validated Submission; raises InputError subclasses."""
        raw = envelope.original_content or b""
        check_data(raw)  # before anything reads lines out of it: bare LF or CR is refused, never split
        mime, headers = split_option_headers(raw)
        options: dict[str, Any] = dict(headers)
        unknown = sorted(set(options) - set(OPTION_HEADERS))
        if unknown:
            raise OptionError(
                f"unknown option header X-Returnpath-{unknown[0].capitalize()}; known: "
                + ", ".join(f"X-Returnpath-{name.capitalize()}" for name in OPTION_HEADERS)
            )
        # MAIL FROM is the application's sender, not its own bounce address: returned mail is
        # forwarded only to an `envelope` it asked for (X-Returnpath-Envelope).
        mail_from = "" if envelope.mail_from == NULL_SENDER else envelope.mail_from or ""
        return build(
            mail_from,
            envelope.rcpt_tos,
            mime,
            options,
            max_recipients=self.limits.max_recipients,
            max_size=self.limits.max_message_size,
            now=self.relay.clock(),
        )

    @staticmethod
    def trace(session: Session) -> Trace:
        """Where the message came from, for its Received line: ESMTPA, or ESMTPSA over TLS
        (RFC 3848); every submission here is authenticated."""
        protocol = ("ESMTPSA" if session.ssl else "ESMTPA") if session.extended_smtp else "SMTPA"
        peer = session.peer[0] if isinstance(session.peer, tuple) else None
        return Trace(protocol, peer, session.host_name or None)

    async def _submit(self, account: Account, submission: Submission, trace: Trace) -> Accepted:
        # A client that hangs up while we store cancels this handler. The store would commit
        # anyway, but the new deliveries, leased to this process, would then never reach its
        # delivery engine and wait for the lease to run out. So the store runs to the end.
        task = asyncio.ensure_future(self.relay.submit(account, submission, trace))
        self._submitting.add(task)
        task.add_done_callback(self._submitting.discard)
        return await asyncio.shield(task)

    async def handle_exception(self, error: Exception) -> str:
        log.error("submission server error", exc_info=error)
        return R.S451_INTERNAL_ERROR


def queued_reply(accepted: Accepted) -> str:
    """The 250 reply to the end of DATA, naming every recipient's delivery id.

    Several recipients give a multi-line reply (aiosmtpd writes a reply with CRLFs in it as is).
    """
    if len(accepted.deliveries) == 1:
        ((_, delivery_id),) = accepted.deliveries
        return R.S250_QUEUED_ONE.format(message_id=accepted.message_id, delivery_id=delivery_id)
    lines = [
        R.S250_QUEUED_LINE.format(recipient=recipient, delivery_id=delivery_id)
        for recipient, delivery_id in accepted.deliveries
    ]
    return "\r\n".join([*lines, R.S250_QUEUED_LAST.format(message_id=accepted.message_id)])


def _address_refusal(address: str, what: str, envelope: Envelope) -> str | None:
    """The reply refusing an address in MAIL or RCPT, or None when it is fine."""
    try:
        address.encode("utf-8")
    except UnicodeEncodeError:  # aiosmtpd keeps bytes that are not UTF-8 as surrogates
        return R.S553_ADDRESS.format(f"{what} is not valid UTF-8")
    if not address.isascii() and not envelope.smtp_utf8:
        return R.S553_NON_ASCII_ADDRESS.format(R.one_line(address))
    try:
        if what == "recipient":
            validate_recipient(address)
        else:
            validate_address(address, what)
    except AddressError as exc:
        return R.S553_ADDRESS.format(R.one_line(str(exc)))
    return None


async def _client_response(server: ServerSMTP, args: list[str], challenge: str) -> bytes | None:
    """The client's first AUTH response: given with the command, or asked for with a 334.

    None when the client gave up (`*`) or sent bad base64; the reply has then been sent.
    """
    if len(args) == 1:
        blob = await server.challenge_auth(challenge)
        return blob if isinstance(blob, bytes) else None
    if args[1] == "=":  # an empty initial response (RFC 4954 section 4), which base64 cannot write
        return b""
    try:
        return b64decode(args[1], validate=True)
    except binascii.Error:
        await server.push(R.S501_BAD_BASE64)
        return None


async def start_submission_server(
    relay: Relay,
    settings: Settings,
    sock: socket.socket,
    *,
    auth_delay: float = AUTH_DELAY,
    workers: int = 1,
    memory: MessageMemory | None = None,
) -> asyncio.Server:
    """Serve SMTP submission on `sock`, a bound, listening socket (shared by the worker processes).

    `auth_delay` is the wait before the first failed-AUTH reply (tests make it small);
    `workers` the number of processes sharing the socket (and `max_connections`); `memory` the
    process's message_memory, shared with its other servers (server.serve_smtp).
    Close the returned server to stop accepting connections.
    """
    handler = SubmissionHandler(relay, settings, auth_delay=auth_delay)
    limits = settings.smtp.submission
    return await serve_smtp(
        handler, settings, limits, sock, data_size_limit=int(limits.max_message_size), workers=workers, memory=memory
    )
