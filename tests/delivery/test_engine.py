"""The delivery engine end to end within one process: Relay.submit, the real SQLite store,
the engine, and aiosmtpd sinks as the recipients' servers."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest

from returnpath.config import Duration, Settings
from returnpath.core import tokens
from returnpath.core.model import Accepted, DeliveryState, DeliveryView, Submission, Verdict
from returnpath.delivery.engine import DeliveryEngine
from returnpath.delivery.routes import Routes
from returnpath.errors import StoreError
from returnpath.store.postgresql import PostgresStore
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount, create_account
from returnpath.usecases.relay import Relay

from .fake_dns import FakeDns
from .sinks import Sink

OWNER = "test-worker"
MIME = b"From: app@example.test\r\nSubject: hello\r\n\r\nHello.\r\n"

Engines = Callable[..., DeliveryEngine]


@pytest.fixture
def fast(settings: Settings, sink: Sink) -> Settings:
    """Settings that route every domain to the sink and retry within a second."""
    delivery = settings.delivery
    delivery.routes = {"*": sink.route}
    delivery.poll_interval = Duration(0.05)
    delivery.reuse_idle = Duration(0.3)
    delivery.lease = Duration(30)
    delivery.retry.first = Duration(0.2)
    delivery.retry.factor = 1.0
    return settings


@pytest.fixture
async def engines(store: SqliteStore, fast: Settings) -> AsyncIterator[Engines]:
    """Make started engines over the store; they are stopped at the end of the test."""
    made: list[DeliveryEngine] = []

    def make(**kw: object) -> DeliveryEngine:
        engine = DeliveryEngine(store, fast, owner=kw.pop("owner", OWNER), **kw)  # type: ignore[arg-type]
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.stop(1)


async def started(engine: DeliveryEngine) -> DeliveryEngine:
    await engine.start()
    return engine


async def submit(
    store: SqliteStore, settings: Settings, engine: DeliveryEngine | None, account: NewAccount, *recipients: str
) -> Accepted:
    relay = Relay(store, settings, sink=engine)
    return await relay.submit(
        account.account, Submission(mail_from="app@example.test", recipients=recipients, mime=MIME, tags=("t1",))
    )


async def settled(
    store: SqliteStore, account: NewAccount, accepted: Accepted, timeout: float = 10.0
) -> list[DeliveryView]:
    """Wait until every delivery of the message is delivered or failed; with their history."""
    deadline = time.monotonic() + timeout
    while True:
        views = [await store.delivery(account.account.id, delivery_id) for _, delivery_id in accepted.deliveries]
        if all(v is not None and v.state.final for v in views):
            return [v for v in views if v is not None]
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled: {[(v.recipient, v.state) for v in views if v]}")
        await asyncio.sleep(0.02)


async def test_delivered(store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount) -> None:
    engine = await started(engines())
    accepted = await submit(store, fast, engine, account, "rcpt@example.test")
    [view] = await settled(store, account, accepted)
    assert view.state is DeliveryState.DELIVERED
    assert [(a.number, a.verdict, a.step.value, a.code) for a in view.history] == [(1, Verdict.ACCEPTED, "eom", 250)]
    [event] = view.events
    assert event["event"] == "delivery"
    assert (event["state"], event["code"], event["status"], event["remote"]) == (
        "eom",
        250,
        "2.0.0",
        f"127.0.0.1[127.0.0.1]:{sink.port}",
    )
    assert event["tags"] == ["t1"]
    [received] = sink.transactions
    assert received.mail_from == view.envelope_sender
    assert received.data == MIME
    assert engine.held == 0


async def test_refused_with_5xx_fails(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    engine = await started(engines())
    accepted = await submit(store, fast, engine, account, "rcpt-550-5.1.1@example.test", "ok@example.test")
    refused, delivered = await settled(store, account, accepted)
    assert (refused.state, delivered.state) == (DeliveryState.FAILED, DeliveryState.DELIVERED)
    [event] = refused.events
    assert (event["event"], event["type"], event["state"], event["code"], event["status"]) == (
        "failure",
        "sync",
        "rcpt",
        550,
        "5.1.1",
    )
    assert sink.recipients() == ["ok@example.test"]


async def test_4xx_is_retried_and_delivered_later(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    sink.refuse("rcpt", "451 4.7.1 Greylisted, try again later")
    engine = await started(engines())
    accepted = await submit(store, fast, engine, account, "rcpt@example.test")
    [(_, delivery_id)] = accepted.deliveries
    deadline = time.monotonic() + 5
    while not (view := await store.delivery(account.account.id, delivery_id)) or not view.history:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    assert view.state is DeliveryState.DEFERRED
    assert view.next_attempt_at is not None
    sink.accept()
    [view] = await settled(store, account, accepted)
    assert view.state is DeliveryState.DELIVERED
    assert [(a.verdict, a.step.value, a.code) for a in view.history][-1] == (Verdict.ACCEPTED, "eom", 250)
    assert (view.history[0].verdict, view.history[0].code, view.history[0].status) == (Verdict.TEMPORARY, 451, "4.7.1")
    kinds = [e["event"] for e in view.events]
    assert kinds[-1] == "delivery" and set(kinds[:-1]) == {"deferred"}
    # Waited for the retry schedule: at least `first` seconds between the attempts.
    assert view.history[1].time - view.history[0].time >= 0.2 - 0.01


async def test_retry_window_closes_with_failure(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    fast.delivery.retry.lifetime = Duration(0.7)
    sink.refuse("mail", "421 4.3.2 System not accepting messages")
    engine = await started(engines())
    accepted = await submit(store, fast, engine, account, "rcpt@example.test")
    [view] = await settled(store, account, accepted)
    assert view.state is DeliveryState.FAILED
    assert len(view.history) >= 3
    last = view.events[-1]
    assert (last["event"], last["expired"], last["state"], last["code"]) == ("failure", True, "mail", 421)
    assert {e["event"] for e in view.events[:-1]} == {"deferred"}


async def test_expired_before_the_first_attempt(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    fast.delivery.retry.lifetime = Duration(0)
    engine = engines()
    accepted = await submit(store, fast, engine, account, "rcpt@example.test")
    await engine.start()
    [view] = await settled(store, account, accepted)
    assert view.state is DeliveryState.FAILED
    assert view.events[-1]["expired"] is True
    assert view.history[0].status == "4.4.7"
    assert sink.connections == 0


async def test_every_recipient_has_its_own_envelope_sender(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    engine = await started(engines())
    recipients = [f"r{i}@example.test" for i in range(5)]
    accepted = await submit(store, fast, engine, account, *recipients)
    await settled(store, account, accepted)
    ids = dict(accepted.deliveries)
    seen = {t.rcpt_to[0]: t.mail_from for t in sink.transactions}
    assert sorted(seen) == recipients
    assert len(set(seen.values())) == 5
    for recipient, sender in seen.items():
        local, _, domain = sender.partition("@")
        assert domain == fast.bounce_domain
        assert tokens.decode(fast.secret_bytes, local) == ids[recipient]


async def test_per_destination_concurrency_and_reuse(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount
) -> None:
    with Sink(slow=0.05) as slow:
        fast.delivery.routes = {"*": slow.route}
        engine = await started(engines(per_destination=2, concurrency=10))
        accepted = await submit(store, fast, engine, account, *[f"r{i}@example.test" for i in range(10)])
        views = await settled(store, account, accepted)
    assert {v.state for v in views} == {DeliveryState.DELIVERED}
    assert slow.max_concurrent == 2
    assert slow.connections == 2  # each session sent its share over one connection


async def test_total_concurrency(store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount) -> None:
    with Sink(slow=0.05) as slow:
        fast.delivery.routes = {"*": slow.route}
        engine = await started(engines(per_destination=3, concurrency=4))
        recipients = [f"r{i}@d{i % 4}.example.test" for i in range(16)]
        accepted = await submit(store, fast, engine, account, *recipients)
        views = await settled(store, account, accepted)
    assert {v.state for v in views} == {DeliveryState.DELIVERED}
    assert slow.max_concurrent == 4


async def test_connection_reused_across_submissions(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    engine = await started(engines())
    for i in range(3):
        await settled(store, account, await submit(store, fast, engine, account, f"r{i}@example.test"))
    assert sink.connections == 1
    assert len(sink.transactions) == 3


async def test_unreachable_destination_defers_its_whole_queue(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fast.delivery.routes = {"*": f"127.0.0.1:{probe.getsockname()[1]}"}  # nobody listens there
    engine = engines(per_destination=1)
    accepted = await submit(store, fast, engine, account, *[f"r{i}@example.test" for i in range(5)])
    await engine.start()
    deadline = time.monotonic() + 5
    while (summary := await store.queue_summary())["deferred"] < 5:
        assert time.monotonic() < deadline, summary
        await asyncio.sleep(0.02)
    views = [await store.delivery(account.account.id, d) for _, d in accepted.deliveries]
    texts = {(v.history[0].step.value, v.history[0].status, v.history[0].text) for v in views if v}
    assert len(texts) == 1  # one connection failure, the same outcome for everyone waiting
    assert next(iter(texts))[:2] == ("connect", "4.4.1")


async def test_null_mx_fails_every_delivery(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount
) -> None:
    fast.delivery.routes = {}
    dns = FakeDns(mx_records={"example.test": [(0, ".")]})
    engine = await started(engines(routes=Routes(fast, dns)))
    accepted = await submit(store, fast, engine, account, "a@example.test", "b@example.test")
    views = await settled(store, account, accepted)
    assert [(v.state, v.history[0].status) for v in views] == [(DeliveryState.FAILED, "5.1.10")] * 2
    assert dns.questions == ["MX example.test"]  # asked once for the whole queue


async def test_mx_records_lead_to_the_server(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    fast.delivery.routes = {}
    dns = FakeDns(mx_records={"example.test": [(10, "mx.example.test")]}, hosts={"mx.example.test": ["127.0.0.1"]})
    engine = await started(engines(routes=Routes(fast, dns, mx_port=sink.port)))
    accepted = await submit(store, fast, engine, account, "a@example.test")
    [view] = await settled(store, account, accepted)
    assert view.events[-1]["remote"] == f"mx.example.test[127.0.0.1]:{sink.port}"


async def test_the_poller_takes_what_was_stored_without_the_engine(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    accepted = await submit(store, fast, None, account, "a@example.test", "b@example.test")
    await started(engines())
    views = await settled(store, account, accepted)
    assert {v.state for v in views} == {DeliveryState.DELIVERED}


async def test_stop_finishes_attempts_under_way_and_leaves_the_rest(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount
) -> None:
    with Sink(slow=0.3) as slow:
        fast.delivery.routes = {"*": slow.route}
        engine = await started(engines(per_destination=1))
        accepted = await submit(store, fast, engine, account, "a@example.test", "b@example.test", "c@example.test")
        deadline = time.monotonic() + 10
        while slow.concurrent == 0:  # until the first attempt is under way
            assert time.monotonic() < deadline, "no attempt started"
            await asyncio.sleep(0.01)
        await engine.stop(2)
        assert [t.rcpt_to for t in slow.transactions] == [["a@example.test"]]
        summary = await store.queue_summary()
        assert (summary["delivered"], summary["queued"]) == (1, 2)
        # What was left is released, and the next engine (a restarted worker) delivers it.
        await store.release(OWNER)
        await started(engines(owner="next-worker"))
        views = await settled(store, account, accepted)
    assert {v.state for v in views} == {DeliveryState.DELIVERED}
    assert sorted(slow.recipients()) == ["a@example.test", "b@example.test", "c@example.test"]


async def test_an_idle_connection_gives_its_slot_to_a_waiting_destination(
    store: SqliteStore, fast: Settings, engines: Engines, sink: Sink, account: NewAccount
) -> None:
    fast.delivery.reuse_idle = Duration(30)  # far longer than the test may take
    engine = await started(engines(concurrency=1, per_destination=1))
    first = await submit(store, fast, engine, account, "a1@one.example.test", "a2@one.example.test")
    await settled(store, account, first)
    started_at = time.monotonic()
    second = await submit(store, fast, engine, account, "b1@two.example.test", "b2@two.example.test")
    await settled(store, account, second, timeout=5)
    assert time.monotonic() - started_at < 2
    assert sink.max_concurrent == 1
    assert sink.connections == 2


async def test_leases_are_renewed_while_an_attempt_takes_long(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount
) -> None:
    fast.delivery.lease = Duration(0.3)
    with Sink(slow=1.0) as slow:
        fast.delivery.routes = {"*": slow.route}
        engine = await started(engines())
        other = await started(engines(owner="other-worker"))  # takes deliveries whose lease ran out
        accepted = await submit(store, fast, engine, account, "a@example.test")
        [view] = await settled(store, account, accepted)
        await other.stop(2)  # lets an attempt it may have started finish
    assert view.state is DeliveryState.DELIVERED
    assert len(slow.transactions) == 1


async def test_an_attempt_whose_lease_was_taken_over_is_not_recorded_and_says_so(
    store: SqliteStore, fast: Settings, engines: Engines, account: NewAccount, caplog: pytest.LogCaptureFixture
) -> None:
    """A worker whose lease ran out during an attempt (a paused process, an outage longer than
    the lease) and was taken over records nothing, and its log says so, not that it recorded."""
    with Sink(slow=1.0) as slow:
        fast.delivery.routes = {"*": slow.route}
        engine = await started(engines())
        accepted = await submit(store, fast, engine, account, "a@example.test")
        deadline = time.monotonic() + 10
        while slow.concurrent == 0:  # until the attempt is under way
            assert time.monotonic() < deadline, "no attempt started"
            await asyncio.sleep(0.01)
        caplog.set_level("INFO", logger="returnpath")
        # What another worker does once the lease has run out: it claims the delivery.
        await store.release(OWNER)
        now = time.time()
        [taken] = await store.claim("other-worker", now, now + 300, 10)
        while not slow.transactions:  # the first worker's attempt ends, 250
            assert time.monotonic() < deadline + 5, "the attempt did not end"
            await asyncio.sleep(0.01)
        await engine.stop(2)
    [delivery_id] = [d for _, d in accepted.deliveries]
    assert taken.delivery_id == delivery_id
    view = await store.delivery(account.account.id, delivery_id)
    assert view is not None and view.state is DeliveryState.QUEUED  # the other worker's to record
    said = [r.getMessage() for r in caplog.records if delivery_id in r.getMessage()]
    assert said == [
        f"delivery {delivery_id}: its attempt (250 accepted) was not recorded: its lease ran out and another "
        "worker holds the delivery now"
    ]


async def test_an_outage_of_the_store_is_said_once_and_its_end_too(
    store: SqliteStore, fast: Settings, sink: Sink, account: NewAccount, caplog: pytest.LogCaptureFixture
) -> None:
    """A database away for minutes must not fill the log with a traceback at every poll: one
    warning when claims start failing, one line when they work again, and the mail queued
    meanwhile is delivered."""
    failures = 5

    class Away:  # the real store, whose claims fail as in an outage the first few times
        def __getattr__(self, name: str) -> object:
            return getattr(store, name)

        async def claim(self, *args: object) -> list[object]:
            nonlocal failures
            if failures:
                failures -= 1
                raise StoreError("the database is unavailable: connection refused")
            return await store.claim(*args)  # type: ignore[arg-type]

    engine = DeliveryEngine(Away(), fast, owner=OWNER)  # type: ignore[arg-type]
    accepted = await submit(store, fast, None, account, "a@example.test")
    caplog.set_level("INFO", logger="returnpath")
    await engine.start()
    try:
        views = await settled(store, account, accepted)
    finally:
        await engine.stop(1)
    assert [v.state for v in views] == [DeliveryState.DELIVERED]
    said = [(r.levelname, r.getMessage()) for r in caplog.records if "claiming" in r.getMessage()]
    assert said == [
        (
            "WARNING",
            "claiming due deliveries failed, trying again at every poll: "
            "the database is unavailable: connection refused",
        ),
        ("INFO", "claiming due deliveries works again"),
    ]
    assert not [r for r in caplog.records if r.exc_info]  # no tracebacks


async def test_a_reply_with_a_nul_is_recorded_on_postgresql(fast: Settings, sink: Sink, pg_url: str) -> None:
    """A remote server may put a NUL in its reply. PostgreSQL's text holds none: unless the
    client replaces it, the attempt cannot be recorded, and the delivery goes round again (a
    250 with one would make the message be sent again at every lease)."""
    store = PostgresStore(pg_url)
    await store.open()
    engine = DeliveryEngine(store, fast, owner=OWNER)
    try:
        account = await create_account(store, "app", time.time())
        sink.refuse("rcpt", "550 5.1.1 no\x00such user")
        refused = await submit(store, fast, None, account, "a@example.test")  # type: ignore[arg-type]
        await engine.start()
        [view] = await settled(store, account, refused)  # type: ignore[arg-type]
        assert view.state is DeliveryState.FAILED
        assert view.history[-1].text == "5.1.1 no\ufffdsuch user"
    finally:
        await engine.stop(1)
        await store.close()
