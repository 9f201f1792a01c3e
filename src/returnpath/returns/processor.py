"""The returned-mail worker of one process.

It claims returned messages the inbound server stored (leased, like deliveries, so that any
worker may take over from one that died), and for each runs the pipeline:

    recognise  the raw bytes -> a BounceVerdict (pure; bounces/)
    link       the deliveries its tokens name, with their messages' options
    route      verdict + deliveries -> events, failed deliveries, copies to forward (pure)
    forward    a copy for each application that gave its own envelope, null sender, within
               the account's `[smtp.inbound] max_forwards_per_hour`
    record     all of it and "processed", in one transaction
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace

from ..bounces import recognise
from ..bounces.verdict import BounceVerdict
from ..config import Settings
from ..core import tokens
from ..core.events import Event, EventKind
from ..core.model import DeliveryView, Returned, Submission
from ..core.ports import NewMessage, Store
from ..core.returns import route
from ..polling import Outage, woken
from ..usecases.relay import Relay

log = logging.getLogger("returnpath.returns")

BATCH = 50
BIG = 1024 * 1024  # messages larger than this are recognised in a thread, not on the event loop
FORWARD_WINDOW = 3600.0  # max_forwards_per_hour counts the forwards of an account in this window
TOKEN_SCAN = 1024 * 1024  # how much of a message is searched for tracking addresses


class ReturnsWorker:
    def __init__(
        self, store: Store, relay: Relay, settings: Settings, *, owner: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.relay = relay
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self._task: asyncio.Task[None] | None = None
        self._rationed: dict[str, float] = {}  # account -> when it was last said that forwards wait
        self._arrived = asyncio.Event()  # the store says returned mail was received or released

    async def start(self) -> None:
        self.store.wakeups.subscribe("returns", self._arrived.set)
        self._task = asyncio.create_task(self._run(), name="returned-mail worker")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        """A batch every `poll_interval`, at once after a full one, and sooner when the store
        wakes the worker (core.ports.Wakeups; those that come meanwhile make one claim)."""
        interval = self.settings.delivery.poll_interval
        outage = Outage(log, "processing returned messages")
        while True:
            self._arrived.clear()
            done = 0
            with outage:
                done = await self.work_once()
            if done < BATCH:
                await woken(self._arrived, interval)

    async def work_once(self) -> int:
        """Claim and process one batch; returns how many messages it processed."""
        now = self.clock()
        batch = await self.store.claim_returns(self.owner, now, now + self.settings.delivery.lease, BATCH)
        for returned in batch:
            await self.process(returned)
        return len(batch)

    async def process(self, returned: Returned) -> None:
        if not returned.deliveries:
            returned = replace(returned, deliveries=self._tokens_inside(returned.raw))
        views = await self.store.views(returned.deliveries)
        # The delivery a message answers says whom the mail was for: evidence for a notice
        # that names its recipient only in its text, mangled, or not at all.
        known = {view.recipient for view in views.values()}
        verdict = await self._recognise(returned.raw, known.pop() if len(known) == 1 else None)
        now = self.clock()
        outcome = route(returned, verdict, views, now)
        forwards = await self._forwards(outcome.forward, returned, now)
        events = _note_forwards(outcome.events, forwards)
        messages = list(forwards.values())
        await self.store.finish_return(returned.id, verdict.kind.value, events, outcome.failed, messages, now)
        log.debug("returned message %s: %s, %d event(s)", returned.id, verdict.kind.value, len(events))

    async def _forwards(self, views: tuple[DeliveryView, ...], returned: Returned, now: float) -> dict[str, NewMessage]:
        """The copies to forward, by the delivery they answer: as many as each account's
        hourly allowance still has room for (anybody can send to a tracking address, so the
        copies an application gets are rationed)."""
        allowance = self.settings.smtp.inbound.max_forwards_per_hour
        used: dict[str, int] = {}
        copies: dict[str, NewMessage] = {}
        for view in views:
            if view.account_id not in used:
                used[view.account_id] = await self.store.forwards_since(view.account_id, now - FORWARD_WINDOW)
            if used[view.account_id] >= allowance:
                if now - self._rationed.get(view.account_id, float("-inf")) >= 60:  # once a minute, not per message
                    self._rationed[view.account_id] = now
                    log.warning(
                        "not forwarding returned mail of account %s to %s: %d forwards in the last hour",
                        view.account_id,
                        view.envelope,
                        used[view.account_id],
                    )
                continue
            used[view.account_id] += 1
            copies[view.id] = self._forward(view, returned, now)
        return copies

    def _tokens_inside(self, raw: bytes) -> tuple[str, ...]:
        """The deliveries whose tracking addresses appear in the message itself.

        Complaint reports (ARF) and forwarded bounces often reach postmaster@ or abuse@ rather
        than a tracking address, but they quote the original message, whose Return-Path is
        ours. Only addresses whose signature checks out count.
        """
        pattern = self._token_pattern
        found = (
            tokens.decode(self.settings.secret_bytes, m.group(1).decode("ascii"))
            for m in pattern.finditer(raw[:TOKEN_SCAN])
        )
        return tuple(dict.fromkeys(d for d in found if d))

    @functools.cached_property
    def _token_pattern(self) -> re.Pattern[bytes]:
        domain = re.escape(self.settings.bounce_domain.encode("ascii"))
        return re.compile(
            rb"(?<![0-9A-Za-z])(b[0-9A-Za-z]{%d})@%s" % (tokens.LOCAL_PART_LENGTH - 1, domain), re.IGNORECASE
        )

    async def _recognise(self, raw: bytes, recipient: str | None) -> BounceVerdict:
        if len(raw) > BIG:
            return await asyncio.to_thread(recognise, raw, recipient)
        return recognise(raw, recipient)

    def _forward(self, view: DeliveryView, returned: Returned, now: float) -> NewMessage:
        """A copy of the returned message for the application's own envelope address, sent with
        the null sender (RFC 3834: never answer an automatic message with one that can bounce)."""
        assert view.envelope is not None
        mime = returned.raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
        submission = Submission(
            mail_from="", recipients=(view.envelope,), mime=mime, envelope=None, trackbounces=False, tags=view.tags
        )
        return replace(self.relay.new_message(view.account_id, submission, now), forward_of=returned.id)


def _note_forwards(events: tuple[Event, ...], forwards: dict[str, NewMessage]) -> tuple[Event, ...]:
    """The bounce events, each naming the delivery that forwards its message (`forward`), if any."""
    return tuple(
        replace(event, data={**event.data, "forward": forwards[event.delivery_id].deliveries[0].id})
        if event.kind is EventKind.BOUNCE and event.delivery_id in forwards
        else event
        for event in events
    )
