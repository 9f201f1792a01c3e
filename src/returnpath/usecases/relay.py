"""The relay's use cases, shared by every door (SMTP, HTTP, CLI).

`Relay.submit` is the one way a message enters returnpath: validate, give each recipient a
delivery with its own envelope sender, commit, and only then answer. When this process runs
delivery workers, the new deliveries are leased to them and handed over in memory, so the
common case needs no second trip through the database; if the process dies, the leases run
out (or `serve` releases them at start) and another worker takes them from the store.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from ..config import Settings
from ..core import credentials, ids, senders, throttle, tokens
from ..core.events import EventKind
from ..core.intake import origin_fields, received_header
from ..core.model import Accepted, Account, DeliveryJob, DeliveryView, Submission, Trace
from ..core.ports import JobSink, NewDelivery, NewMessage, Store, StoredEvent
from ..core.retry import expires_at
from ..core.senders import SendingDomain, from_domain, signing_domain
from ..dkim.signer import DkimSigner
from ..errors import AccountDisabled, AuthError, AuthThrottled, CredentialsChanged, NotFound, SenderError, StoreError
from .domains import signing_keys

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")

_THROTTLED = {
    "address": "too many failed logins from this address; try again later",
    "at once": "too many logins being checked at once from this address or for this username; try again later",
    "username": "too many failed logins for this username; try again later",
}


def envelope_sender(
    submission: Submission, delivery_id: str, settings: Settings, bounce_domain: str | None = None
) -> str:
    """The MAIL FROM for one delivery: our tracking address (at the sending domain's bounce
    domain, or the instance's), or the application's own."""
    if submission.trackbounces:
        return tokens.envelope_address(settings.secret_bytes, delivery_id, bounce_domain or settings.bounce_domain)
    return submission.envelope or submission.mail_from


# How long `current` takes an account as it last read it. Reading it for every message cost a
# fifth of the relay's throughput (bench/relay.py: 602 against 782-820 msgs/s at 2 KB); a
# change to an account (disabled, other sender domains) reaches open sessions within this.
ACCOUNT_FRESH = 1.0
# Likewise for an account's sending domains: a domain added or removed is seen within this.
DOMAINS_FRESH = 1.0


@dataclass(frozen=True, slots=True)
class Login:
    """An SMTP connection's login: the account, and the stored hash of the password it gave,
    so that a password rotated since ends the connections that logged in with the old one."""

    account: Account
    password_hash: str


class Relay:
    def __init__(
        self, store: Store, settings: Settings, *, clock: Callable[[], float] = time.time, sink: JobSink | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.sink = sink
        # Verified SMTP credentials, so that a client that logs in per message does not pay
        # for scrypt every time: sha256(username, password) -> account.
        self._verified: dict[bytes, Account] = {}
        # Checks being made, by client address and the key above: a connection pool opening
        # fifty connections at once gives the same credentials fifty times, and they wait for
        # one check (one reservation, core/throttle.py) instead of each making its own.
        self._checking: dict[tuple[str, bytes], asyncio.Task[bool]] = {}
        # Accounts as `current` last read them, and when: (time, account or None if removed).
        self._current: dict[str, tuple[float, Account | None]] = {}
        # The same for `current_login`, by SMTP username: (time, (account, password hash) or None).
        self._logins: dict[str, tuple[float, tuple[Account, str] | None]] = {}
        # Sending domains by account as last read, and when; signers by domain and selectors.
        self._domains: dict[str, tuple[float, list[SendingDomain]]] = {}
        self._signers: dict[tuple[str, tuple[str, ...]], DkimSigner] = {}

    # ---- authentication ----------------------------------------------------------------

    async def account_for_token(self, token: str) -> Account:
        account = await self.store.account_by_token(credentials.hash_token(token))
        if account is None:
            raise AuthError("invalid API token")
        if account.disabled:
            raise AccountDisabled(f"the account {account.name!r} is disabled")
        return account

    async def account_for_login(self, username: str, password: str, client: str | None = None) -> Login:
        """The login of SMTP credentials given from the address `client`.

        Failed attempts are counted in the store per client address and per username (see
        core/throttle.py): past the limits an attempt is refused with AuthThrottled before its
        password is checked, and every check is counted before it is made.
        """
        limits = self.settings.smtp.submission.auth_limits()
        address, login = throttle.client_address(client), throttle.username_of(username)
        if limits.active:
            # One read for both: two were a sixth of a worker's CPU on PostgreSQL when every
            # message comes on a new connection that logs in.
            why, found = await self.store.auth_lookup(address, login, username, self.clock(), limits)
            if why:
                raise AuthThrottled(_THROTTLED[why], at_once=why == "at once")
        else:
            found = await self.store.account_by_username(username)
        # The stored hash is part of the key, so a rotated password is not found here.
        key = hashlib.sha256(b"\0".join(s.encode() for s in (username, password, found[1] if found else ""))).digest()
        if key not in self._verified:
            checking = self._checking.get((address, key))
            if checking is None:
                checking = asyncio.create_task(self._check(address, login, password, found, limits))
                self._checking[address, key] = checking
                checking.add_done_callback(functools.partial(self._checked, (address, key)))
            # Shielded: a client that hangs up mid-check does not stop it, so its outcome (a
            # failure counted, or the reservation given back) is always recorded.
            if not await asyncio.shield(checking):
                raise AuthError("invalid username or password")
            assert found is not None  # only found accounts are verified
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = found[0]
        assert found is not None  # only found accounts are verified
        account = found[0]  # as stored now, not as cached
        self._current[account.id] = (self.clock(), account)  # what `current` knows is no older
        self._logins[account.smtp_username] = (self.clock(), found)
        if account.disabled:
            raise AccountDisabled(f"the account {account.name!r} is disabled")
        return Login(account, found[1])

    async def _check(
        self, address: str, login: str, password: str, found: tuple[Account, str] | None, limits: throttle.AuthLimits
    ) -> bool:
        """Whether `password` is right, counted in the store: reserved before, a failure or
        given back after (core/throttle.py). AuthThrottled when it may not be checked now."""
        if limits.active and (why := await self.store.reserve_auth(address, login, self.clock(), limits)):
            raise AuthThrottled(_THROTTLED[why], at_once=why == "at once")
        try:
            if found is None:
                # Spend the same time as a real check, so usernames cannot be probed by timing.
                await asyncio.to_thread(credentials.verify_password, password, _dummy_hash())
                right = False
            else:
                right = await asyncio.to_thread(credentials.verify_password, password, found[1])
        except BaseException:
            if limits.active:  # counted as a failure: nothing to show it was not one
                await self.store.fail_auth(address, login, self.clock(), limits)
            raise
        if limits.active and right:
            await self.store.release_auth(address, login, self.clock())
        elif limits.active:
            await self.store.fail_auth(address, login, self.clock(), limits)
        return right

    def _checked(self, key: tuple[str, bytes], task: asyncio.Task[bool]) -> None:
        del self._checking[key]
        if not task.cancelled():
            task.exception()  # retrieved here too, in case every caller has gone

    async def current(self, account: Account) -> Account:
        """The account as it is now, or at most ACCOUNT_FRESH ago (a connection may outlive a
        change); AccountDisabled when it has been disabled, AuthError when removed."""
        now = await self._fresh(self._current, account.id, ACCOUNT_FRESH, lambda: self.store.account(account.id))
        return _usable(account, now)

    async def current_login(self, login: Login) -> Login:
        """`current` for a connection that logged in over SMTP, read as often; CredentialsChanged
        when the account's SMTP password is no longer the one it logged in with (rotated)."""
        username = login.account.smtp_username
        found = await self._fresh(
            self._logins, username, ACCOUNT_FRESH, lambda: self.store.account_by_username(username)
        )
        if found is None or found[0].id != login.account.id:  # removed (its name free for another)
            return Login(_usable(login.account, None), login.password_hash)
        if found[1] != login.password_hash:
            raise CredentialsChanged(
                f"the SMTP password of account {login.account.name!r} was changed since this connection logged in"
            )
        return Login(_usable(login.account, found[0]), login.password_hash)

    async def _fresh(
        self, cache: dict[K, tuple[float, V]], key: K, fresh: float, read: Callable[[], Awaitable[V]]
    ) -> V:
        """`read()`'s value as `cache` holds it for `key`, read again when it is `fresh` seconds
        old or more (or the clock went back): what a connection checks at every message, the
        store is asked at most once in `fresh` seconds."""
        at = self.clock()
        seen = cache.get(key)
        if seen is None or not 0 <= at - seen[0] < fresh:
            seen = cache[key] = (at, await read())
        return seen[1]

    @staticmethod
    def check_sender(account: Account, address: str, field: str = "envelope") -> None:
        """Raise SenderError unless the account may send from `address` ("" is the null sender)."""
        if senders.allows(account.sender_domains, address):
            return
        shown = f"<{address}>" if address else "the null sender <>"
        raise SenderError(
            f"sender {shown} is not allowed for account {account.name!r}: "
            f"it may send from {', '.join(account.sender_domains)}",
            field,
        )

    # ---- submission --------------------------------------------------------------------

    def new_message(
        self,
        account_id: str,
        submission: Submission,
        now: float,
        trace: Trace | None = None,
        signing: tuple[SendingDomain, DkimSigner | None] | None = None,
    ) -> NewMessage:
        """A message with its deliveries, ids and envelope senders, ready to store. A submission
        (one with the `trace` of the door it came through) gets on top its Received line, then
        the Message-ID and Date it lacks; a returned message forwarded as is (no trace) does not.
        With `signing` (the From: domain's sending domain and its signer), the DKIM signatures
        go on top of all that, made once here and stored, so every attempt sends these bytes,
        and the envelope senders are at the domain's bounce domain. Without a signer (the
        domain's key cannot be read) the message is stored unsigned, marked to be signed by
        the delivery engine before it is sent (never unsigned)."""
        message_id = ids.new_id(now)
        if trace is not None:
            hostname = self.settings.hostname
            top = received_header(trace, hostname, message_id, now)
            top += origin_fields(submission.mime, hostname, message_id, now)
            submission = replace(submission, mime=top + submission.mime)
        bounce_domain = sign_domain = None
        if signing is not None:
            domain, signer = signing
            if signer is None:
                sign_domain = domain.domain
            else:
                # Signed here, in the event loop. Most of a signature's time is OpenSSL's RSA-2048
                # (0.75-0.9 ms here), during which `cryptography` releases the GIL, so signing
                # threads were tried (a pool of two per relay) and measured slower: a finished
                # signature waits for the GIL, which a busy loop hands over only after Python's
                # 5 ms switch interval (bench/dkim_threads.py), and each hand-over costs CPU.
                # Back to back on a quiet machine (`bench/relay.py --dkim --load lean:1,lean:50,
                # smtplib:10 --n 1500 --sizes 2048`, two runs each, load 1-2.7), signed/unsigned
                # was 0.69-0.71, 0.55-0.63 and 0.66-0.80 with the threads, 0.81-0.88, 0.59-0.79
                # and 0.80-0.94 in the loop, and the relay's CPU per signed message at `lean:1`
                # 7.9-8.0 ms against 6.5-7.0. With a worker per core there is no idle core for
                # such threads anyway.
                submission = replace(submission, mime=signer.sign(submission.mime, now) + submission.mime)
            bounce_domain = domain.bounce_domain
        deliveries = []
        for recipient in submission.recipients:
            delivery_id = ids.new_id(now)
            sender = envelope_sender(submission, delivery_id, self.settings, bounce_domain)
            deliveries.append(NewDelivery(delivery_id, recipient, sender))
        expiry = expires_at(now, self.settings.delivery.retry.policy(), submission.maxdelivertime)
        return NewMessage(account_id, message_id, submission, tuple(deliveries), now, expiry, sign_domain=sign_domain)

    async def submit(self, account: Account, submission: Submission, trace: Trace | None = None) -> Accepted:
        """Store a message for delivery; returns after the commit. `trace` says where it came
        from, for its Received line."""
        if account.disabled:
            raise AccountDisabled(f"the account {account.name!r} is disabled")
        self.check_sender(account, submission.mail_from, "from")
        if submission.envelope:
            self.check_sender(account, submission.envelope, "envelope")
        now = self.clock()
        signing = await self.signing(account, submission.mime) if trace is not None else None
        message = self.new_message(account.id, submission, now, trace, signing)
        owner = self.sink.owner if self.sink else None
        await self.store.submit(message, owner=owner, lease_until=now + self.settings.delivery.lease)
        if self.sink is not None:
            self.sink.enqueue(
                [
                    DeliveryJob(
                        delivery_id=d.id,
                        message_id=message.id,
                        account_id=account.id,
                        recipient=d.recipient,
                        envelope_sender=d.envelope_sender,
                        mime=message.submission.mime,
                        attempts=0,
                        created_at=now,
                        expires_at=message.expires_at,
                        tags=submission.tags,
                        dsn=submission.dsn,
                        owner=owner,
                        sign_domain=message.sign_domain,
                    )
                    for d in message.deliveries
                ]
            )
        return Accepted(message.id, tuple((d.recipient, d.id) for d in message.deliveries))

    async def signing(self, account: Account, mime: bytes) -> tuple[SendingDomain, DkimSigner | None] | None:
        """The sending domain of the message's From: address (or of a parent domain of it)
        among the account's, with its signer; None when it has none. The signer is None when
        the domain's keys cannot be read (said in the log): such a message is accepted and
        signed by the delivery engine once they can, never sent unsigned."""
        name = from_domain(mime)
        if name is None:
            return None
        domains = await self._fresh(self._domains, account.id, DOMAINS_FRESH, lambda: self.store.domains(account.id))
        domain = signing_domain(name, domains)
        if domain is None:
            return None
        key = (domain.domain, domain.selectors)
        signer = self._signers.get(key)
        if signer is None:
            try:
                signer = DkimSigner(domain.domain, await signing_keys(self.store, self.settings, domain))
            except StoreError as exc:
                log.error(
                    "cannot sign for %s (account %s): %s; accepted, to be signed before it is sent",
                    domain.domain,
                    account.id,
                    exc,
                )
                return domain, None
            self._signers[key] = signer
        return domain, signer

    # ---- reading -----------------------------------------------------------------------

    async def delivery(self, account: Account, delivery_id: str) -> DeliveryView:
        view = await self.store.delivery(account.id, delivery_id) if ids.is_id(delivery_id) else None
        if view is None:
            raise NotFound(f"no delivery {delivery_id!r} in this account")
        return view

    async def message_deliveries(self, account: Account, message_id: str) -> list[DeliveryView]:
        views = await self.store.message_deliveries(account.id, message_id) if ids.is_id(message_id) else []
        if not views:
            raise NotFound(f"no message {message_id!r} in this account")
        return views

    async def events(
        self,
        account: Account,
        *,
        kinds: Sequence[EventKind] = (),
        since: float | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[StoredEvent]:
        return await self.store.events(after=after, limit=limit, kinds=kinds, account_id=account.id, since=since)

    async def cursor_known(self, after: int) -> bool:
        """Whether an events cursor (`after`) can have come from this store: at most the highest
        event id it has given, in any account (ids are the store's). One beyond came from another
        store, or from before this one was restored from a backup: its holder would wait,
        unaware, for ids already given to the events recorded since. The events themselves may
        be gone, purged by [retention] events: a cursor at them is good, and its ids go on."""
        return after == 0 or after <= await self.store.newest_event_id()


@functools.cache
def _dummy_hash() -> str:
    return credentials.hash_password("not a password", salt=b"returnpath-dummy")


def _usable(account: Account, now: Account | None) -> Account:
    """`account` as it is `now`: AuthError when it was removed, AccountDisabled when disabled."""
    if now is None:
        raise AuthError(f"the account {account.name!r} no longer exists")
    if now.disabled:
        raise AccountDisabled(f"the account {account.name!r} is disabled")
    return now
