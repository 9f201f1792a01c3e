"""The dispatcher: sends the posts waiting in the outbox to their loops, and records what came of each.

Each turn (`turn`) reads as its steps: claim what is due, queue each call behind its endpoint
(one loop URL), give back the calls of endpoints whose circuit is open, start the posts that
the limits allow. Each post (`_post`) reads as its steps too: check the target, sign and send,
settle (policy.py decides done / retry when / dead), update the endpoint's breaker, record.

A turn comes every `poll_interval` (items fall due after their backoff), `notify_delay` after
`notify()` (new items were committed), after a full batch, and when an endpoint that may have
more items in the outbox has run down to half of what it may hold. Never after every post:
with the store behind the outbox, a claim is a query.

What keeps one endpoint from holding back the others:
- at most `per_endpoint` posts in flight to one endpoint, and at most `held_per_endpoint` of
  its items claimed at once (the claim skips its loops beyond that);
- a circuit breaker per endpoint (policy.Breaker): an endpoint that keeps failing gets no posts
  for a growing cool-down; its items go back to the outbox, due when the cool-down ends;
- free slots go round-robin to the endpoints that have calls waiting;
- every post has a timeout.

Order per loop is by event time, best effort: the outbox gives the oldest events first and an
endpoint posts its calls in that order, but up to `per_endpoint` at once, and a retried item
comes after the ones that succeeded.

Delivery is at least once. Items are leased while held here; a post is not started when its
lease is about to run out (another process may have the item by then), and if this process
dies its leases run out and the items are posted again. Receivers drop duplicates by the
`webhook-id` header.

A loop may be paused, moved to another URL or removed while its calls wait here (up to
`held_per_endpoint` of them): a user who pauses a loop because its endpoint is broken expects
no more posts to reach it. The outbox's settle of each post says what the post's loop is now,
at no cost of its own (it is in the settle's statement); the calls of that loop still waiting
then go: back to the outbox, due now, when it was paused (the claim leaves a paused loop's
items alone until it is resumed) or moved (they are claimed again for the new URL); dropped
when it was removed (its items went with it); and carry its new secret or format otherwise.
A post starts only after the claim of its call or the settle of a post before it on its
endpoint, so at most the posts in flight when the loop changed (`per_endpoint`) reach it after.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..core.events import Event
from ..core.feedback import Answer, Call, Loop, PostSettlement
from ..core.ports import Outbox, Poster
from ..errors import ReturnpathError, TargetError
from . import signing, targets
from .payloads import encode, payload
from .policy import Backoff, Breaker, BreakerPolicy, Circuit, settle

log = logging.getLogger("returnpath.webhooks")


def signed_request(
    loop: Loop, webhook_id: str, event_id: int, event: Event, returned_mime: bytes | None, timestamp: int
) -> tuple[dict[str, str], bytes]:
    """The headers and body of one post: the event in the loop's format, signed with its secret."""
    content_type, body = encode(payload(event_id, event, returned_mime), loop.format)
    headers = signing.headers(loop.secrets_at(timestamp), webhook_id, timestamp, body)
    headers["Content-Type"] = content_type
    return headers, body


@dataclass(frozen=True, slots=True)
class Limits:
    concurrency: int = 500  # posts in flight in all
    per_endpoint: int = 8  # posts in flight to one endpoint
    held_per_endpoint: int = 64  # items of one endpoint held at once (in flight and waiting)
    batch: int = 500  # most items claimed at once
    timeout: float = 10.0  # a post that has not answered by then has failed
    lease: float = 300.0  # how long a claimed item is ours
    poll_interval: float = 1.0  # how often to look for items that fell due
    notify_delay: float = 0.02  # after a notice of new items, wait this long for more before claiming
    allow_private_targets: bool = False  # see targets.py
    resolve_ttl: float = 60.0  # how long a host's checked addresses are trusted


_Checked = tuple[float, Answer | None, tuple[str, ...]]  # a URL's check: (until, refusal, addresses)


@dataclass(eq=False, slots=True)
class _Endpoint:
    """One loop URL: its waiting calls, its posts in flight and its circuit."""

    url: str
    waiting: deque[tuple[Call, float]] = field(default_factory=deque)  # (call, lease end)
    in_flight: int = 0
    breaker: Breaker = field(default_factory=Breaker)
    loops: set[str] = field(default_factory=set)
    ready: bool = False  # in the dispatcher's round-robin of endpoints with calls to start
    more: bool = True  # the outbox may hold more of its due items than the last claim gave

    @property
    def held(self) -> int:
        return len(self.waiting) + self.in_flight


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        poster: Poster,
        *,
        owner: str,
        limits: Limits | None = None,
        backoff: Backoff | None = None,
        breaker: BreakerPolicy | None = None,
        resolve: targets.Resolver = targets.system_resolve,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.outbox = outbox
        self.poster = poster
        self.owner = owner
        self.limits = limits or Limits()
        self.backoff = backoff or Backoff()
        self.breaker_policy = breaker or BreakerPolicy()
        self.resolve = resolve
        self.clock = clock
        self.jitter = jitter
        self._endpoints: dict[str, _Endpoint] = {}
        self._endpoint_of_loop: dict[str, _Endpoint] = {}
        self._ready: deque[_Endpoint] = deque()  # endpoints with calls that may start, in turn
        self._held = 0  # calls waiting or in flight, over all endpoints
        self._in_flight = 0
        self._posts: set[asyncio.Task[None]] = set()
        self._checked: dict[str, _Checked] = {}  # by URL
        self._wake = asyncio.Event()
        self._notice: asyncio.TimerHandle | None = None
        self._runner: asyncio.Task[None] | None = None
        self._stopping = False

    # ---- the public face -------------------------------------------------------------------

    def notify(self) -> None:
        """New items were committed: look within `notify_delay` rather than at the next poll.
        The notices of that short while make one claim: under load they come with every
        delivery, and a claim per notice would cost a write per delivery."""
        if self._notice is None:
            self._notice = asyncio.get_running_loop().call_later(self.limits.notify_delay, self._noticed)

    def _noticed(self) -> None:
        self._notice = None
        self._wake.set()

    async def start(self) -> None:
        self._runner = asyncio.create_task(self._run(), name="webhook dispatcher")

    async def stop(self, grace: float | None = None) -> None:
        """Start no new posts; let those in flight finish (up to `grace`, default the timeout);
        give back to the outbox every call not posted."""
        self._stopping = True
        if self._notice is not None:
            self._notice.cancel()
        self._wake.set()
        if self._runner is not None:
            await self._runner
        if self._posts:
            _, pending = await asyncio.wait(set(self._posts), timeout=grace or self.limits.timeout + 1)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        waiting = [call.item.id for ep in self._endpoints.values() for call, _ in ep.waiting]
        for ep in self._endpoints.values():
            ep.waiting.clear()
        if waiting:
            await self._give_back(waiting, self.clock())

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                more = await self.turn()
            except ReturnpathError as exc:  # the store is down: try again at the next poll
                log.warning("webhook dispatcher: %s", exc)
                more = False
            if not more and not self._stopping:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.limits.poll_interval)
                except TimeoutError:
                    pass

    # ---- one turn --------------------------------------------------------------------------

    async def turn(self) -> bool:
        """Claim, queue, hold back, start. True when a full batch came: there may be more."""
        now = self.clock()
        calls, limit, skipped = await self._claim_due(now)
        self._queue_behind_endpoints(calls, now, skipped, cut=limit > 0 and len(calls) == limit)
        await self._give_back_open_circuits(now)
        self._start_posts(now)
        return limit > 0 and len(calls) == limit

    async def _claim_due(self, now: float) -> tuple[list[Call], int, set[str]]:
        """Lease due items, as many as there is room for, none of endpoints that are full or
        whose circuit is open. Returns the calls, the limit asked for, and the URLs of the
        endpoints that were skipped."""
        room = 2 * self.limits.concurrency - self._held
        if self._stopping or room <= 0 or (self._held and room < min(self.limits.batch, self.limits.concurrency) // 4):
            return [], 0, set(self._endpoints)  # claim in batches, not an item each time a post ends
        limit = min(room, self.limits.batch)
        skipped = {
            ep.url
            for ep in self._endpoints.values()
            if ep.held >= self.limits.held_per_endpoint or not ep.breaker.admits(now)
        }
        skip = [loop for url in skipped for loop in self._endpoints[url].loops]
        calls = await self.outbox.claim(
            self.owner,
            now,
            now + self.limits.lease,
            limit=limit,
            per_loop=self.limits.held_per_endpoint,
            skip_loops=skip,
        )
        return calls, limit, skipped

    def _queue_behind_endpoints(self, calls: list[Call], now: float, skipped: set[str], *, cut: bool) -> None:
        """Queue each call behind its endpoint, and note which endpoints may have more in the
        outbox: of those the claim looked at, the ones that got all it gives one loop, and all
        when the batch was cut. (A skipped endpoint keeps what it knew.)"""
        lease_end = now + self.limits.lease  # as the claim leased them
        got: dict[str, int] = {}
        for call in calls:
            ep = self._endpoint(call)
            ep.waiting.append((call, lease_end))
            got[ep.url] = got.get(ep.url, 0) + 1
            self._held += 1
            self._make_ready(ep)
        if self._stopping:
            return
        for ep in self._endpoints.values():
            if ep.url not in skipped:
                ep.more = cut or got.get(ep.url, 0) >= self.limits.held_per_endpoint

    async def _give_back_open_circuits(self, now: float) -> None:
        """An endpoint whose circuit is open keeps none of its calls: they are due again when
        its cool-down ends. (Half-open keeps them: the trial's answer comes within a timeout.)"""
        for ep in self._endpoints.values():
            if ep.waiting and ep.breaker.circuit is Circuit.OPEN and not ep.breaker.admits(now):
                ids = [call.item.id for call, _ in ep.waiting]
                self._held -= len(ids)
                ep.waiting.clear()
                await self._give_back(ids, ep.breaker.open_until)

    def _start_posts(self, now: float) -> None:
        """Start posts, one endpoint after the other, while both limits allow."""
        while self._ready and self._in_flight < self.limits.concurrency and not self._stopping:
            ep = self._ready.popleft()
            ep.ready = False
            call = self._next_call(ep, now)
            if call is None:
                continue
            ep.breaker = ep.breaker.start(now)
            ep.in_flight += 1
            self._in_flight += 1
            task = asyncio.create_task(self._post(ep, call))
            self._posts.add(task)
            task.add_done_callback(self._posts.discard)
            self._make_ready(ep)

    def _next_call(self, ep: _Endpoint, now: float) -> Call | None:
        """The endpoint's next call to post, if it may post now. A call whose lease ends
        before its post would is dropped here: the outbox offers it again."""
        if ep.in_flight >= self.limits.per_endpoint or not ep.breaker.admits(now):
            return None
        while ep.waiting:
            call, lease_end = ep.waiting.popleft()
            if lease_end - self.limits.timeout > now:
                return call
            self._held -= 1
        return None

    # ---- one post --------------------------------------------------------------------------

    async def _post(self, ep: _Endpoint, call: Call) -> None:
        """Check the target, sign and send, settle, update the breaker, record."""
        try:
            refusal, addresses = await self._check_target(call.loop.url)
            answer = refusal or await self._send(call, addresses)
            now = self.clock()
            settlement = settle(call.item, answer, now, self.jitter(), self.backoff)
            ep.breaker = ep.breaker.record(answer.ok, now, self.breaker_policy)
            loop = await self._record(call, settlement)
            if loop != call.loop:
                await self._loop_changed(ep, call.loop, loop)
        except Exception:  # a bug: keep dispatching; the lease brings the item back
            log.exception("webhook dispatcher: posting item %s failed", call.item.id)
        finally:
            ep.in_flight -= 1
            self._in_flight -= 1
            self._held -= 1
            self._make_ready(ep)
            self._start_posts(self.clock())
            if self._worth_a_turn(ep):
                self._wake.set()

    async def _check_target(self, url: str) -> tuple[Answer | None, tuple[str, ...]]:
        """Whether the URL may be posted to, and where to connect: (None, the host's addresses,
        checked, in the resolver's order) when it may; (why not, as an answer, ()) when not. A
        host's checked addresses are trusted for `resolve_ttl`. With private targets allowed
        they are not checked, but looked up all the same: the poster connects to the same
        addresses either way."""
        now = self.clock()
        cached = self._checked.get(url)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        try:
            # The look-up has the post's timeout, or it would hold the post's slot and item for
            # as long as the loop's name server takes to answer (forever, for one that never does).
            _, found = await targets.check(
                url, allow_private=self.limits.allow_private_targets, resolve=self.resolve, timeout=self.limits.timeout
            )
        except targets.ResolveError as exc:  # DNS may come back: a connection failure, retried
            return Answer(None, str(exc)), ()
        except TargetError as exc:
            self._checked[url] = (now + self.limits.resolve_ttl, Answer(None, str(exc), refused=True), ())
        else:
            self._checked[url] = (now + self.limits.resolve_ttl, None, tuple(found))
        return self._checked[url][1], self._checked[url][2]

    async def _send(self, call: Call, addresses: tuple[str, ...]) -> Answer:
        """Write the event in the loop's format, sign it, post it (to the checked addresses)."""
        headers, body = signed_request(
            call.loop, call.item.webhook_id, call.event_id, call.event, call.returned_mime, int(self.clock())
        )
        return await self.poster.post(call.loop.url, headers, body, addresses=addresses)

    async def _record(self, call: Call, settlement: PostSettlement) -> Loop | None:
        """Settle the item; its loop as it is now (None: removed). When the store cannot be
        reached, nothing new is known of the loop: the call's."""
        try:
            return await self.outbox.settle(self.owner, call.item.id, settlement)
        except ReturnpathError as exc:  # the lease runs out and the item is posted again
            log.warning("webhook dispatcher: cannot record item %s: %s", call.item.id, exc)
            return call.loop

    async def _loop_changed(self, ep: _Endpoint, was: Loop, now: Loop | None) -> None:
        """The loop of a post changed while it was held: its calls waiting behind the endpoint
        go back to the outbox (paused, moved), are dropped (removed), or take its new settings."""
        kept: deque[tuple[Call, float]] = deque()
        gone: list[str] = []
        for call, lease_end in ep.waiting:
            if call.loop.id != was.id:
                kept.append((call, lease_end))
            elif now is not None and now.active and now.url == call.loop.url:
                kept.append((replace(call, loop=now), lease_end))  # a new secret, format or events
            else:
                gone.append(call.item.id)
        ep.waiting = kept
        if not gone:
            return
        self._held -= len(gone)
        if now is None or now.url != was.url:  # claimed again (if at all) for another endpoint
            ep.loops.discard(was.id)
            if self._endpoint_of_loop.get(was.id) is ep:
                del self._endpoint_of_loop[was.id]
        if now is not None:
            await self._give_back(gone, self.clock())
        log.info(
            "webhook dispatcher: feedback loop %s was %s; %d of its posts held here %s",
            was.id,
            "removed" if now is None else "paused" if not now.active else f"moved to {now.url}",
            len(gone),
            "dropped" if now is None else "given back",
        )

    # ---- bookkeeping ------------------------------------------------------------------------

    def _endpoint(self, call: Call) -> _Endpoint:
        url, loop_id = call.loop.url, call.loop.id
        ep = self._endpoints.get(url)
        if ep is None:
            ep = self._endpoints[url] = _Endpoint(url)
        previous = self._endpoint_of_loop.get(loop_id)
        if previous is not ep:
            if previous is not None:
                previous.loops.discard(loop_id)  # the loop's URL was changed
            ep.loops.add(loop_id)
            self._endpoint_of_loop[loop_id] = ep
        return ep

    def _worth_a_turn(self, ep: _Endpoint) -> bool:
        """After a post: is a turn worth its claim now, rather than at the next poll? When the
        endpoint ran down to half of what it may hold and the outbox may have more of its
        items, and when its circuit opened with calls waiting (they go back). Not after every
        post: a claim per post would cost a query per post."""
        return (ep.more and ep.held <= self.limits.held_per_endpoint // 2) or (
            ep.breaker.circuit is Circuit.OPEN and bool(ep.waiting)
        )

    def _make_ready(self, ep: _Endpoint) -> None:
        if ep.waiting and not ep.ready and ep.in_flight < self.limits.per_endpoint:
            ep.ready = True
            self._ready.append(ep)

    async def _give_back(self, item_ids: list[str], due_at: float) -> None:
        try:
            await self.outbox.release(self.owner, item_ids, due_at)
        except ReturnpathError as exc:  # their leases run out instead
            log.warning("webhook dispatcher: cannot give back %d items: %s", len(item_ids), exc)
