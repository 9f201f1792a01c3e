"""The delivery engine of one process: per-destination queues and the sessions that empty them.

Deliveries reach the engine two ways: handed over in memory by `Relay.submit` right after their
commit (already leased to this engine's owner), and claimed from the store by the poller when
a retry falls due or the lease of a dead worker ran out. Each destination domain has its own
queue. Up to `per_destination` session tasks send from a queue, each over one reused
connection, and at most `concurrency` session tasks run in all.

After every attempt, `core.retry.settle` decides what the outcome means (delivered, deferred
until when, failed) and the store records the attempt, the delivery's new state and its event
in one transaction. A lease keeper renews the leases of every delivery held in memory, so
that no other worker takes it meanwhile; if this process dies, the leases run out and another
worker attempts those deliveries again: at least once, never zero times. When the store
cannot record an attempt (a full disk), the delivery stays held and the record is tried again
until it is written: a message is not sent again because its first sending went unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from ..config import Settings
from ..core.model import Attempt, DeliveryJob, Outcome, Step, Verdict
from ..core.ports import Store
from ..core.retry import Settlement, settle
from ..dkim.signer import DkimSigner
from ..errors import ReturnpathError, StoreError
from ..polling import Outage, woken
from ..smtp.client import Session
from ..usecases.domains import signing_keys
from .routes import Destination, DnsResolver, Routes

log = logging.getLogger("returnpath.delivery")

# Deliveries held in memory (queued or in flight) before the poller stops claiming more.
# Fresh submissions are always taken: they are in memory already.
MAX_HELD = 500
ROUTE_TTL = 60.0  # seconds a destination's route is used before it is looked up again
# Seconds between tries to record an attempt while the store fails. Short: when the failure
# outlasted the lease (its renewals failed too), the record must land before another worker's
# claim does once the store works again, or that worker sends the message a second time.
RECORD_RETRY_FIRST = 0.25
RECORD_RETRY_MAX = 1.0


@dataclass(eq=False)
class _Queue:
    """One destination domain: its waiting jobs and the session tasks sending to it."""

    domain: str
    jobs: deque[DeliveryJob] = field(default_factory=deque)
    sessions: int = 0  # session tasks running for this domain
    free: int = 0  # of which looking for a job (starting, or idle with an open connection)
    links: set[_Link] = field(default_factory=set)  # what those session tasks hold
    arrived: asyncio.Event = field(default_factory=asyncio.Event)  # wakes idle sessions
    route: Destination | Outcome | None = None  # looked up once for all of its sessions
    routed_at: float = 0.0  # monotonic time of that lookup
    routing: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(eq=False)
class _Link:
    """What one session task holds: its SMTP session (once routed) and how many jobs it took."""

    session: Session | None = None
    jobs: int = 0


class DeliveryEngine:
    """Delivers the deliveries of one process. Implements `core.ports.JobSink`."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        owner: str,
        concurrency: int | None = None,
        per_destination: int | None = None,
        routes: Routes | None = None,
        clock: Callable[[], float] = time.time,
        max_held: int = MAX_HELD,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        # Per process: `serve` divides the settings' limits among its workers.
        self.concurrency = concurrency or settings.delivery.concurrency
        self.per_destination = per_destination or settings.delivery.per_destination
        self.routes = routes or Routes(settings, DnsResolver(settings.dns.timeout, settings.dns.servers()))
        self.clock = clock
        self.max_held = max_held
        self.policy = settings.delivery.retry.policy()
        self.tls_context = tls_context
        self._held: dict[str, DeliveryJob] = {}  # by delivery id: queued or in flight
        self._queues: dict[str, _Queue] = {}
        self._sessions: set[asyncio.Task[None]] = set()
        self._chores: list[asyncio.Task[None]] = []  # the poller and the lease keeper
        self._running = False
        self._stopping = False
        self._wanted = 0  # destinations with jobs but no session, while every slot is taken
        self._due = asyncio.Event()  # the store says deliveries were queued or released: claim now

    # ---- the public face -------------------------------------------------------------------

    @property
    def held(self) -> int:
        """Deliveries in memory: queued or being attempted."""
        return len(self._held)

    def enqueue(self, jobs: Sequence[DeliveryJob]) -> None:
        """Take deliveries leased to this engine's owner; they are attempted as soon as limits allow."""
        for job in jobs:
            if job.delivery_id in self._held:
                continue  # claimed again while still here (a lease renewal came late)
            self._held[job.delivery_id] = job
            queue = self._queues.get(job.domain)
            if queue is None:
                queue = self._queues[job.domain] = _Queue(job.domain)
            queue.jobs.append(job)
            queue.arrived.set()
        self._dispatch()

    async def start(self) -> None:
        self._running = True
        self.store.wakeups.subscribe("deliveries", self._due.set)
        self._chores = [
            asyncio.create_task(self._poll(), name="delivery poller"),
            asyncio.create_task(self._keep_leases(), name="delivery lease keeper"),
        ]
        self._dispatch()

    async def stop(self, grace: float) -> None:
        """Start no new attempts; let those under way finish, for up to `grace` seconds.

        Deliveries still held keep their leases: the caller releases them (`store.release`).
        """
        self._stopping = True
        for task in self._chores:
            task.cancel()
        await asyncio.gather(*self._chores, return_exceptions=True)
        for queue in self._queues.values():
            queue.arrived.set()  # idle sessions end now
        if self._sessions:
            _, pending = await asyncio.wait(set(self._sessions), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._running = False

    # ---- sessions ----------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start session tasks where jobs wait for one, within both limits."""
        if not self._running or self._stopping:
            return
        self._wanted = 0
        for queue in list(self._queues.values()):
            while len(queue.jobs) > queue.free and queue.sessions < self.per_destination:
                if len(self._sessions) >= self.concurrency:
                    self._wanted += queue.sessions == 0
                    break
                self._start_session(queue)
        if self._wanted:
            for queue in self._queues.values():
                queue.arrived.set()  # idle connections elsewhere give their slots up

    def _start_session(self, queue: _Queue) -> None:
        queue.sessions += 1
        queue.free += 1
        task = asyncio.create_task(self._session(queue), name=f"delivery to {queue.domain}")
        self._sessions.add(task)
        task.add_done_callback(self._session_ended)

    def _session_ended(self, task: asyncio.Task[None]) -> None:
        self._sessions.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("a delivery session crashed", exc_info=error)
        self._dispatch()

    async def _session(self, queue: _Queue) -> None:
        """One session task: the destination's jobs, one after another over one connection."""
        link = _Link()
        queue.links.add(link)
        try:
            while (job := await self._next(queue, link)) is not None:
                await self._attempt(queue, link, job)
                queue.free += 1
            if link.session is not None:
                await link.session.close()
        except asyncio.CancelledError:
            if link.session is not None:
                link.session.abort()
            raise
        finally:
            queue.sessions -= 1
            queue.links.discard(link)
            if not queue.jobs and not queue.sessions and self._queues.get(queue.domain) is queue:
                del self._queues[queue.domain]

    async def _next(self, queue: _Queue, link: _Link) -> DeliveryJob | None:
        """The session's next job, or None when the session should end.

        With nothing to do and an open connection, wait up to `reuse_idle` seconds for more.
        """
        try:
            while not self._stopping:
                if link.jobs and self._wanted:
                    # Give the slot to a destination that has none, so that one busy
                    # destination cannot hold every connection while others wait.
                    self._wanted -= 1
                    return None
                if queue.jobs:
                    job = queue.jobs.popleft()
                    if job.attempts == 0 and self.clock() >= job.expires_at:
                        await self._record(job, _expired())
                        continue
                    return job
                if link.session is None or not link.session.connected:
                    return None
                if not await self._idle(queue):
                    return None
            return None
        finally:
            queue.free -= 1

    async def _idle(self, queue: _Queue) -> bool:
        """Wait for a job to arrive; False when `reuse_idle` passed without one."""
        queue.arrived.clear()
        return await woken(queue.arrived, self.settings.delivery.reuse_idle)

    # ---- one attempt -------------------------------------------------------------------------

    async def _attempt(self, queue: _Queue, link: _Link, job: DeliveryJob) -> None:
        """One attempt at one delivery: the delivery worker's pipeline."""
        link.jobs += 1
        if job.sign_domain is not None:
            signed = await self._sign(job)
            if isinstance(signed, Outcome):  # never sent unsigned: deferred, the key's problem said
                await self._record(job, signed)
                return
            job = signed
        try:
            unreachable = await self._connect(queue, link)
            outcome = unreachable or await self._send(link, job)
        except Exception:
            # A bug, not the remote server: record it as a temporary failure, so that the
            # delivery is retried on the usual schedule instead of being stuck in memory.
            log.exception("delivery %s: unexpected error", job.delivery_id)
            if link.session is not None:
                link.session.abort()
            unreachable, outcome = None, _internal_error()
        await self._record(job, outcome)
        if unreachable and not any(other.session and other.session.connected for other in queue.links):
            await self._record_waiting(queue, unreachable)

    async def _sign(self, job: DeliveryJob) -> DeliveryJob | Outcome:
        """The job with its message DKIM-signed, for a message accepted while its domain's key
        could not be read; the signed bytes are stored at once, so that every attempt for every
        recipient sends the same ones (the first stored wins). When it still cannot be signed,
        the outcome of a temporary failure naming why (RFC 3463 4.7.5: a key not available)."""
        assert job.sign_domain is not None
        try:
            domain = await self.store.domain(job.sign_domain)
            if domain is None:
                raise StoreError(f"the sending domain {job.sign_domain} is no longer configured")
            signer = DkimSigner(domain.domain, await signing_keys(self.store, self.settings, domain))
            mime = await self.store.sign_message(job.message_id, signer.sign(job.mime, self.clock()) + job.mime)
        except ReturnpathError as exc:  # the key (StoreError), the store away, the message
            log.error("delivery %s: cannot sign for %s: %s", job.delivery_id, job.sign_domain, exc)
            return Outcome(Verdict.TEMPORARY, Step.CONNECT, None, "4.7.5", f"cannot sign: {exc}")
        return replace(job, mime=mime, sign_domain=None)

    async def _connect(self, queue: _Queue, link: _Link) -> Outcome | None:
        """A connection to the destination: its route first (once per session), then a server
        that answers. None when connected, else the outcome that ends the attempt."""
        if link.session is None:
            route = await self._route(queue)
            if isinstance(route, Outcome):
                return route
            link.session = Session(route.targets, self.settings, tls_context=self.tls_context)
        return await link.session.connect()

    async def _route(self, queue: _Queue) -> Destination | Outcome:
        """The destination's route, shared by its sessions so the DNS is asked once."""
        async with queue.routing:
            if queue.route is None or time.monotonic() - queue.routed_at > ROUTE_TTL:
                queue.route = await self.routes.resolve(queue.domain)
                queue.routed_at = time.monotonic()
            return queue.route

    async def _send(self, link: _Link, job: DeliveryJob) -> Outcome:
        assert link.session is not None
        return await link.session.send(job)

    async def _record(self, job: DeliveryJob, outcome: Outcome) -> None:
        """Settle the attempt and write it, the delivery's new state and its event together."""
        now = self.clock()
        settlement = settle(job, outcome, now, self.policy)
        attempt = Attempt(
            number=job.attempts + 1,
            time=now,
            remote=outcome.remote,
            step=outcome.step,
            code=outcome.code,
            status=outcome.status,
            text=outcome.text,
            verdict=outcome.verdict,
        )
        try:
            await self._settle(job, attempt, settlement)
            log.debug("delivery %s to %s: %s", job.delivery_id, job.recipient, settlement.state.value)
        except asyncio.CancelledError:
            log.error(
                "delivery %s: stopped before its attempt could be recorded; it will be attempted again", job.delivery_id
            )
            raise
        except Exception:
            # A bug, not an outage: the lease runs out (it is no longer renewed) and the
            # delivery is attempted again, perhaps by another worker.
            log.exception("delivery %s: recording the attempt failed", job.delivery_id)
        finally:
            self._held.pop(job.delivery_id, None)

    async def _settle(self, job: DeliveryJob, attempt: Attempt, settlement: Settlement) -> None:
        """Write the attempt, trying again with backoff for as long as the store fails (a full
        disk, a locked database). The message may have been sent: were the record given up,
        the lease would run out and the message be sent again. So the delivery stays held,
        its lease renewed by the lease keeper, and this session sends nothing else meanwhile."""
        delay = RECORD_RETRY_FIRST
        failing_since: float | None = None
        while True:
            try:
                event_id = await self.store.settle(job, attempt, settlement)
            except StoreError as exc:
                if failing_since is None:
                    failing_since = time.monotonic()
                    log.error(
                        "delivery %s: recording the attempt failed (%s); keeping it and trying again",
                        job.delivery_id,
                        exc,
                    )
                await asyncio.sleep(delay)
                delay = max(0.05, min(delay * 2, RECORD_RETRY_MAX, self.settings.delivery.lease / 6))
                continue
            if event_id is None and settlement.event is not None:
                # The store kept nothing: the lease ran out meanwhile (a long outage, a paused
                # process) and another worker claimed the delivery, which records its own.
                log.warning(
                    "delivery %s: its attempt (%s %s) was not recorded: its lease ran out and another "
                    "worker holds the delivery now",
                    job.delivery_id,
                    attempt.code if attempt.code is not None else "no reply",
                    attempt.verdict.value,
                )
            elif failing_since is not None:
                log.warning(
                    "delivery %s: attempt recorded after %.1f s of trying",
                    job.delivery_id,
                    time.monotonic() - failing_since,
                )
            return

    async def _record_waiting(self, queue: _Queue, outcome: Outcome) -> None:
        """Give every job waiting for an unreachable destination the same outcome.

        One failed connection says enough; trying again for each job would only multiply the
        timeouts (Postfix likewise marks such a destination dead for a while).
        """
        while queue.jobs:
            await self._record(queue.jobs.popleft(), outcome)

    # ---- chores ------------------------------------------------------------------------------

    async def _poll(self) -> None:
        """Claim the deliveries that are due (retries, and leases that ran out) and queue them,
        every `poll_interval`, or sooner when the store wakes the poller (core.ports.Wakeups):
        the wake-ups that come meanwhile make one claim."""
        delivery = self.settings.delivery
        outage = Outage(log, "claiming due deliveries")
        while True:
            self._due.clear()
            room = self.max_held - len(self._held)
            if room > 0:
                now = self.clock()
                jobs: list[DeliveryJob] = []
                with outage:
                    jobs = await self.store.claim(self.owner, now, now + delivery.lease, room)
                self.enqueue(jobs)
            await woken(self._due, delivery.poll_interval)

    async def _keep_leases(self) -> None:
        """Renew the leases of everything held, a few times per lease period."""
        lease = self.settings.delivery.lease
        while True:
            await asyncio.sleep(lease / 3)
            if self._held:
                try:
                    await self.store.renew(self.owner, list(self._held), self.clock() + lease)
                except StoreError as exc:
                    log.warning("renewing leases failed: %s", exc)
                except Exception:
                    log.exception("renewing leases failed")


def _expired() -> Outcome:
    # Temporary, so that settle() reports it as the retry window closing (expired=True).
    return Outcome(Verdict.TEMPORARY, Step.CONNECT, None, "4.4.7", "delivery time expired before the first attempt")


def _internal_error() -> Outcome:
    return Outcome(
        Verdict.TEMPORARY, Step.CONNECT, None, "4.3.0", "internal error in returnpath's delivery engine; will try again"
    )
