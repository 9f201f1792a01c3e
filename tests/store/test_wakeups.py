"""Wake-ups (core.ports.Wakeups): a store tells the workers of its own process, and on PostgreSQL
those of every other process and node (LISTEN/NOTIFY), of new work to claim, so that an idle
worker claims it now instead of at its next poll. Polling stays the fallback; these tests set
the poll interval to 30 s and expect the work done well before it.

The PostgreSQL tests use two stores on one database: two pools and two listening connections,
to the server as two processes are."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from bench.postgres import PrivateCluster

from returnpath.config import Duration, Settings
from returnpath.core import ids, tokens
from returnpath.core.events import EventKind
from returnpath.core.model import Attempt, DeliveryState, Returned, Submission, Verdict
from returnpath.core.ports import WORK_KINDS, Store, WorkKind
from returnpath.core.retry import RetryPolicy, settle
from returnpath.delivery.engine import DeliveryEngine
from returnpath.returns.processor import ReturnsWorker
from returnpath.store.postgresql import PostgresStore
from returnpath.usecases.accounts import create_account
from returnpath.usecases.relay import Relay
from tests.delivery.sinks import Sink, sink  # noqa: F401 - the fixture

from .test_loops import _loop
from .test_returns import RAW, _returned
from .test_store import NOW, _account, _outcome, _submit

LONG_POLL = 30.0  # seconds: what a worker would wait for work nobody told it of
SOON = 10.0  # seconds: well before LONG_POLL; only a wake-up gets the work done by then


class Heard:
    """A subscriber of every kind: counts its wake-ups, and lets a test wait for the next."""

    def __init__(self, store: Store) -> None:
        self.counts: Counter[WorkKind] = Counter()
        self._changed = asyncio.Event()
        for kind in WORK_KINDS:
            store.wakeups.subscribe(kind, self._hear(kind))

    def _hear(self, kind: WorkKind) -> Callable[[], None]:
        def hear() -> None:
            self.counts[kind] += 1
            self._changed.set()

        return hear

    async def until(self, kind: WorkKind, count: int, timeout: float = SOON) -> None:
        """Wait until `kind` was heard at least `count` times."""

        async def wait() -> None:
            while self.counts[kind] < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), timeout)


@pytest.fixture
async def two_stores(pg_url: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    """Two stores on one database, as two processes (or nodes) have."""
    one, other = PostgresStore(pg_url, node="n1"), PostgresStore(pg_url, node="n2")
    await one.open()
    await other.open()
    yield one, other
    await one.close()
    await other.close()


async def listening(store: Store) -> Heard:
    """A subscriber of the store, once its store listens: the first wake-up of every kind
    (listening begins with one, for what was committed before)."""
    heard = Heard(store)
    for kind in WORK_KINDS:
        await heard.until(kind, 1)
    return heard


async def claimed_once(store: Store) -> None:
    """Return once the claim a worker started makes at once has been committed: writes commit
    in the order they are asked for, and the worker asked before the second of these."""
    for value in (1, 2):
        await store.set_cursor("test", value)


# ---- every backend: the workers of the committing process ------------------------------------


async def test_a_store_wakes_its_own_processes_workers_of_the_work_it_commits(backend: Store) -> None:
    heard = Heard(backend)
    account = await _account(backend)
    before = heard.counts.copy()
    await _submit(backend, account, ["x@example.net"])  # without a lease: for any engine
    assert heard.counts["deliveries"] > before["deliveries"]  # called by the time the commit returns
    await backend.receive(_returned())
    assert heard.counts["returns"] > before["returns"]
    await _submit(backend, account, ["y@example.net"], owner="n1/a")
    before = heard.counts.copy()
    assert await backend.release("n1/a") == 1  # the owner died: somebody else must take it
    assert heard.counts["deliveries"] > before["deliveries"]


# ---- PostgreSQL: the workers of other processes and nodes ------------------------------------


@pytest.fixture
def slow_polls(settings: Settings, sink: Sink) -> Settings:  # noqa: F811 - the fixture
    settings.delivery.routes = {"*": sink.route}
    settings.delivery.poll_interval = Duration(LONG_POLL)
    return settings


async def test_mail_queued_through_one_store_is_delivered_by_an_idle_engine_of_another(
    two_stores: tuple[PostgresStore, PostgresStore],
    slow_polls: Settings,
    sink: Sink,  # noqa: F811
) -> None:
    one, other = two_stores
    heard = await listening(other)
    engine = DeliveryEngine(other, slow_polls, owner="n2/w")
    await engine.start()
    try:
        await claimed_once(other)  # the engine's first claim, at start, finds nothing
        account = await create_account(one, "app", time.time())
        # A process without a delivery engine (`returnpath send`): the deliveries are not leased.
        accepted = await Relay(one, slow_polls).submit(
            account.account, Submission(mail_from="app@example.test", recipients=("a@example.test",), mime=RAW)
        )
        await heard.until("deliveries", 2)  # told by the other store, not by a poll
        [(_, delivery_id)] = accepted.deliveries
        deadline = time.monotonic() + SOON
        while (view := await one.delivery(account.account.id, delivery_id)) is None or not view.state.final:
            assert time.monotonic() < deadline, "not delivered before the poll interval"
            await asyncio.sleep(0.02)
        assert view.state is DeliveryState.DELIVERED
        assert [t.rcpt_to for t in sink.transactions] == [["a@example.test"]]
    finally:
        await engine.stop(1)


async def test_returned_mail_stored_by_one_store_is_processed_by_an_idle_worker_of_another(
    two_stores: tuple[PostgresStore, PostgresStore], slow_polls: Settings
) -> None:
    one, other = two_stores
    heard = await listening(other)
    worker = ReturnsWorker(other, Relay(other, slow_polls), slow_polls, owner="n2/w")
    await worker.start()
    try:
        await claimed_once(other)
        account = await _account(one)
        _, [delivery] = await _submit(one, account, ["x@example.net"], owner="n1/w", now=time.time())
        notice = (
            b"From: MAILER-DAEMON@mx.example.net\r\nTo: "
            + tokens.envelope_address(slow_polls.secret_bytes, delivery.id, slow_polls.bounce_domain).encode()
            + b"\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
            b"<x@example.net>: host mx.example.net said: 550 5.1.1 <x@example.net>: "
            b"Recipient address rejected: User unknown in virtual mailbox table\r\n"
        )
        await one.receive(
            Returned(ids.new_id(time.time()), "", ("b@bounces.test",), (delivery.id,), None, time.time(), notice)
        )
        await heard.until("returns", 2)
        deadline = time.monotonic() + SOON
        while not [e for e in await one.events() if e.event.delivery_id == delivery.id]:
            assert time.monotonic() < deadline, "not processed before the poll interval"
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()


async def test_a_burst_of_work_makes_far_fewer_notices_than_commits(
    two_stores: tuple[PostgresStore, PostgresStore],
) -> None:
    one, other = two_stores
    heard = await listening(other)
    account = await _account(one)
    n = 200
    for _ in range(4):  # four bursts of concurrent submissions, as many clients at once
        await asyncio.gather(*(_submit(one, account, [f"r{i}@example.net"]) for i in range(n // 4)))
    await one.close()  # sends what waited for its gap
    # Notices arrive in commit order: once this later one is heard, every earlier one was.
    third = PostgresStore(one.url)
    await third.open()
    try:
        await third.receive(_returned())
        await heard.until("returns", 2)
    finally:
        await third.close()
    notices = heard.counts["deliveries"] - 1  # less the first, at listening
    assert 1 <= notices <= n // 10, notices
    assert len(await other.claim("n2/w", NOW + 1, NOW + 60, n + 1)) == n


async def test_settling_deliveries_sends_no_notice(two_stores: tuple[PostgresStore, PostgresStore]) -> None:
    one, other = two_stores
    account = await _account(one)
    await _loop(one, account, *EventKind)  # every settle makes a post
    await _submit(one, account, [f"r{i}@example.net" for i in range(20)])
    jobs = await one.claim("n1/w", NOW, NOW + 60, 100)  # (before anybody listens)
    assert len(jobs) == 20
    own = await listening(one)  # the settling process's dispatcher, hearing in-process
    heard = await listening(other)
    outcome = _outcome(Verdict.ACCEPTED, 250)
    for job in jobs:
        attempt = Attempt(1, NOW + 1, outcome.remote, outcome.step, 250, outcome.status, outcome.text, outcome.verdict)
        assert await one.settle(job, attempt, settle(job, outcome, NOW + 1, RetryPolicy())) is not None
    assert own.counts["posts"] > 1  # the posts are this process's dispatcher's to post
    third = PostgresStore(one.url)
    await third.open()
    try:
        await third.receive(_returned())  # a later notice: every earlier one has arrived by then
        await heard.until("returns", 2)
    finally:
        await third.close()
    assert heard.counts == Counter({"deliveries": 1, "returns": 2, "posts": 1})  # the first, and the marker


async def test_the_listener_comes_back_after_a_database_restart_and_wakes_everybody(
    pg_cluster: PrivateCluster, two_stores: tuple[PostgresStore, PostgresStore]
) -> None:
    one, other = two_stores
    heard = await listening(other)
    pg_cluster.stop()
    pg_cluster.start()
    for kind in WORK_KINDS:  # work may have come while nobody listened: everybody looks once
        await heard.until(kind, 2, timeout=30)
    third = PostgresStore(one.url)  # (a pool that lost its connections takes a while to refill)
    await third.open()
    try:
        await third.receive(_returned())
        await heard.until("returns", 3)  # and notices are heard again
    finally:
        await third.close()
