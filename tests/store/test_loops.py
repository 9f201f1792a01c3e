"""Feedback loops in the store: loop CRUD per account, the fan-out of events into the outbox in
the event's own transaction, and the `core.ports.Outbox` the dispatcher claims from. The
claim/lease/settle/release cases mirror tests/webhooks/memory.py, which states the contract.
Part of the conformance suite: runs against each backend in conftest.BACKENDS."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.core.feedback import Format, Loop, PostSettlement, PostState
from returnpath.core.model import (
    Account,
    Attempt,
    DsnOptions,
    Outcome,
    Returned,
    Step,
    Submission,
    Verdict,
)
from returnpath.core.ports import NewDelivery, NewMessage, Outbox, Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.errors import StoreError
from returnpath.store.sqlite import SqliteStore
from returnpath.webhooks.dispatcher import Dispatcher, Limits
from returnpath.webhooks.h11poster import H11Poster
from returnpath.webhooks.signing import new_secret
from tests.webhooks.receiver import Hold, Receiver

from .conftest import MakeStore

NOW = 1_800_000_000.0
WINDOW = 1000.0
MIME = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n"
RAW = b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered\r\n\r\ngone\r\n"


@pytest.fixture
async def store(make_store: MakeStore) -> AsyncIterator[Store]:
    s = make_store(loop_window=WINDOW)
    await s.open()
    yield s
    await s.close()


async def _account(store: Store, name: str) -> Account:
    account = Account(ids.new_id(NOW), name, name)
    await store.create_account(account, f"token-{name}", "hash", NOW)
    return account


async def _loop(
    store: Store,
    account: Account,
    *kinds: EventKind,
    active: bool = True,
    url: str = "https://hooks.example.com/rp",
) -> Loop:
    loop = Loop(ids.new_id(NOW), account.id, url, frozenset(kinds), "whsec_c2VjcmV0", Format.FORM, active)
    return await store.create_loop(loop, NOW)


async def _publish(
    store: Store, account: Account | None, kind: EventKind, time: float, data: dict | None = None
) -> int:
    """An event stored with its fan-out, as finish_return() stores the events of a returned
    message (through the port, so that it works on every backend)."""
    event = Event(
        kind,
        ids.new_id(time),
        ids.new_id(time),
        account.id if account else "",
        time,
        data or {"recipient": "x@example.net"},
    )
    returned = Returned(ids.new_id(time), "", ("b@bounces.test",), (), "192.0.2.1", time, RAW)
    await store.receive(returned)
    [event_id] = await store.finish_return(returned.id, "other", [event], [], [], time)
    return event_id


async def _items(store: Store, loop: Loop, state: str | None = None, now: float = NOW):
    found = await store.loop_posts(loop.account_id, loop.id, state=state, now=now)
    assert found is not None
    return [(view.item, view.in_flight) for view in found]


async def test_loop_posts_are_listed_a_page_at_a_time(store: Store) -> None:
    """`before` (the event time and id of a page's last post) gives the posts after it, newest
    event first; posts of one event time are told apart by the event id."""
    account = await _account(store, "pages")
    loop = await _loop(store, account, EventKind.BOUNCE)
    published = [await _publish(store, account, EventKind.BOUNCE, NOW - i // 2) for i in range(5)]
    pages: list[list[int]] = []
    before: tuple[float, int] | None = None
    while True:
        page = await store.loop_posts(account.id, loop.id, now=NOW, limit=2, before=before)
        assert page is not None
        if not page:
            break
        pages.append([view.item.event_id for view in page])
        before = (page[-1].item.event_time, page[-1].item.event_id)
    times = {event: NOW - i // 2 for i, event in enumerate(published)}  # two by two the same time
    assert [e for page in pages for e in page] == sorted(published, key=lambda e: (-times[e], -e))
    assert [len(page) for page in pages] == [2, 2, 1]


# ---- loops ---------------------------------------------------------------------------------


async def test_loops_are_kept_per_account(store: Store) -> None:
    mine, theirs = await _account(store, "mine"), await _account(store, "theirs")
    a = await _loop(store, mine, EventKind.FAILURE, EventKind.BOUNCE)
    b = await _loop(store, mine, EventKind.DELIVERY, active=False)
    c = await _loop(store, theirs, EventKind.FAILURE)
    assert await store.loops(mine.id) == sorted([a, b], key=lambda loop: loop.id)  # same created_at
    assert await store.loops(theirs.id) == [c]
    assert await store.loop(mine.id, a.id) == a
    assert await store.loop(theirs.id, a.id) is None  # another account's id is not found
    # Another account can neither change, list, replay nor remove it.
    assert await store.update_loop(theirs.id, a.id, active=False) is None
    assert await store.loop_posts(theirs.id, a.id) is None
    assert await store.replay_dead(theirs.id, a.id) == 0
    assert await store.delete_loop(theirs.id, a.id) is False
    assert await store.loop(mine.id, a.id) == a


async def test_update_and_delete_a_loop(store: Store) -> None:
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    paused = await store.update_loop(account.id, loop.id, active=False, now=NOW + 1)
    assert paused is not None and not paused.active and paused.events == loop.events
    changed = await store.update_loop(
        account.id,
        loop.id,
        url="https://new.example.com/x",
        events=[EventKind.BOUNCE, EventKind.ABUSE],
        format=Format.JSON,
        secret="whsec_bmV3",
        previous_until=NOW + 100,
        active=True,
    )
    assert changed == Loop(
        loop.id,
        account.id,
        "https://new.example.com/x",
        frozenset({EventKind.BOUNCE, EventKind.ABUSE}),
        "whsec_bmV3",
        Format.JSON,
        True,
        previous_secret=loop.secret,
        previous_until=NOW + 100,
    )
    assert changed.secrets_at(NOW + 99) == ("whsec_bmV3", loop.secret)
    assert changed.secrets_at(NOW + 100) == ("whsec_bmV3",)
    assert await store.loop(account.id, loop.id) == changed
    await _publish(store, account, EventKind.BOUNCE, NOW)
    assert len(await _items(store, changed)) == 1
    assert await store.delete_loop(account.id, loop.id) is True
    assert await store.loop(account.id, loop.id) is None
    assert await store.loops(account.id) == []
    assert await store.loop_posts(account.id, loop.id) is None
    # Its items went with it: the outbox has nothing left to claim.
    assert await store.outbox.claim("w1", NOW, NOW + 60, limit=10, per_loop=10) == []


# ---- fan-out -------------------------------------------------------------------------------


def _outcome(verdict: Verdict, code: int) -> Outcome:
    return Outcome(verdict, Step.RCPT, code, "5.1.1", f"{code} no such user", "mx.example.net[127.0.0.1]:25")


async def test_an_event_from_settle_fans_out_to_matching_loops_of_its_account(store: Store) -> None:
    mine, theirs = await _account(store, "mine"), await _account(store, "theirs")
    failures = await _loop(store, mine, EventKind.FAILURE, EventKind.BOUNCE)
    paused = await _loop(store, mine, EventKind.FAILURE, active=False)
    deliveries_only = await _loop(store, mine, EventKind.DELIVERY)
    other = await _loop(store, theirs, EventKind.FAILURE)
    message_id = ids.new_id(NOW)
    delivery = NewDelivery(ids.new_id(NOW), "x@example.net", "b@bounces.test")
    submission = Submission(
        mail_from="a@example.com", recipients=("x@example.net",), mime=MIME, tags=("t",), dsn=DsnOptions()
    )
    await store.submit(
        NewMessage(mine.id, message_id, submission, (delivery,), NOW, NOW + 100), owner=None, lease_until=NOW
    )
    [job] = await store.claim("w1", NOW, NOW + 60, 10)
    outcome = _outcome(Verdict.PERMANENT, 550)
    event_id = await store.settle(
        job,
        Attempt(1, NOW + 5, outcome.remote, outcome.step, 550, "5.1.1", outcome.text, Verdict.PERMANENT),
        settle(job, outcome, NOW + 5, RetryPolicy()),
    )
    for loop in (failures, paused):
        [(item, in_flight)] = await _items(store, loop)
        assert item.event_id == event_id and item.state is PostState.PENDING and not in_flight
        assert item.created_at == NOW + 5 and item.next_attempt_at == NOW + 5
        assert item.expires_at == NOW + 5 + WINDOW and item.attempts == 0
        assert item.webhook_id == f"msg_{item.id}"
        # An id as every other (PostgreSQL makes it in the settle's statement): of its time.
        assert ids.is_id(item.id) and item.id[:10] == ids.new_id(NOW + 5)[:10]
    assert await _items(store, deliveries_only) == []
    assert await _items(store, other) == []
    # The paused loop's item waits; the active one's is claimed, with the event as stored.
    [call] = await store.outbox.claim("w1", NOW + 5, NOW + 65, limit=10, per_loop=10)
    assert call.loop == failures and call.event_id == event_id and call.returned_mime is None
    assert call.event.kind is EventKind.FAILURE and call.event.account_id == mine.id
    assert call.event.delivery_id == delivery.id and call.event.data["code"] == 550


async def test_fan_out_is_in_the_events_transaction(store: Store) -> None:
    """A transaction that fails after storing an event takes the event's posts with it. (It
    used to make SQLite's writer fail by hand; now a forwarded copy that cannot be stored, its
    message id taken, fails finish_return after its events, on every backend.)"""
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    message_id = ids.new_id(NOW)
    delivery = NewDelivery(ids.new_id(NOW), "x@example.net", "b@bounces.test")
    mail = Submission(mail_from="a@example.com", recipients=("x@example.net",), mime=MIME)
    await store.submit(
        NewMessage(account.id, message_id, mail, (delivery,), NOW, NOW + 100), owner=None, lease_until=NOW
    )
    returned = Returned(ids.new_id(NOW), "", ("b@bounces.test",), (delivery.id,), "192.0.2.1", NOW, RAW)
    await store.receive(returned)
    event = Event(EventKind.FAILURE, delivery.id, message_id, account.id, NOW, {"type": "async"})
    submission = Submission(mail_from="", recipients=("bounces@app.example",), mime=RAW, trackbounces=False)
    taken = NewMessage(
        account.id, message_id, submission, (NewDelivery(ids.new_id(NOW), "bounces@app.example", ""),), NOW, NOW + 100
    )
    with pytest.raises(StoreError):
        await store.finish_return(returned.id, "dsn", [event], [delivery.id], [taken], NOW)
    assert await store.events() == [] and await _items(store, loop) == []
    [view] = await store.message_deliveries(account.id, message_id)
    assert view.state.value == "queued"  # the delivery's failure went too
    # The same without the bad copy is stored, with its post.
    await store.finish_return(returned.id, "dsn", [event], [delivery.id], [], NOW)
    assert len(await store.events()) == 1 and len(await _items(store, loop)) == 1


async def test_a_bounce_from_finish_return_carries_the_returned_message(store: Store) -> None:
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.BOUNCE, EventKind.ABUSE)
    catch_all = await _loop(store, account, *EventKind)
    returned = Returned(ids.new_id(NOW), "", ("b+tok@bounces.test",), (), "192.0.2.1", NOW, RAW)
    await store.receive(returned)
    data = {"recipient": "x@example.net", "return": returned.id, "kind": "dsn"}
    orphan = Event(EventKind.BOUNCE, "", "", "", NOW + 1, {**data, "recipient": None})  # of no account
    bounce = Event(EventKind.BOUNCE, "d1", "m1", account.id, NOW + 1, data)
    abuse = Event(EventKind.ABUSE, "d1", "m1", account.id, NOW + 2, {**data, "feedbacktype": "abuse"})
    await store.finish_return(returned.id, "dsn", [orphan, bounce, abuse], [], [], NOW + 3)
    assert len(await _items(store, loop)) == 2 and len(await _items(store, catch_all)) == 2
    calls = await store.outbox.claim("w1", NOW + 3, NOW + 60, limit=10, per_loop=10)
    assert [(c.loop.id, c.event.kind) for c in calls if c.loop.id == loop.id] == [
        (loop.id, EventKind.BOUNCE),
        (loop.id, EventKind.ABUSE),
    ]
    assert all(c.returned_mime == RAW for c in calls)
    assert {c.event.account_id for c in calls} == {account.id}


# ---- the Outbox port -----------------------------------------------------------------------


def _done(attempts: int, at: float, status: int = 200) -> PostSettlement:
    return PostSettlement(PostState.DONE, attempts, None, at, status, None)


async def test_claim_takes_due_items_of_active_loops_oldest_first(store: Store) -> None:
    outbox: Outbox = store.outbox
    account = await _account(store, "app")
    a = await _loop(store, account, EventKind.FAILURE)
    b = await _loop(store, account, EventKind.FAILURE, EventKind.DELIVERY)
    paused = await _loop(store, account, EventKind.FAILURE, active=False)
    for t in (NOW + 3, NOW + 1, NOW + 2):  # stored out of time order
        await _publish(store, account, EventKind.FAILURE, t)
    await _publish(store, account, EventKind.DELIVERY, NOW + 10)  # due only at NOW + 10
    calls = await outbox.claim("w1", NOW + 5, NOW + 60, limit=10, per_loop=10)
    assert [c.loop.id for c in calls].count(a.id) == 3 and [c.loop.id for c in calls].count(b.id) == 3
    assert paused.id not in {c.loop.id for c in calls}
    assert [c.event.time for c in calls] == sorted(c.event.time for c in calls)
    assert [c.item.event_time for c in calls if c.loop.id == a.id] == [NOW + 1, NOW + 2, NOW + 3]
    # Leased: nobody else gets them; the delivery event is due later.
    assert await outbox.claim("w2", NOW + 6, NOW + 66, limit=10, per_loop=10) == []
    [late] = await outbox.claim("w2", NOW + 10, NOW + 66, limit=10, per_loop=10)
    assert late.loop.id == b.id and late.event.kind is EventKind.DELIVERY
    # The paused loop's items wait for it to be resumed.
    await store.update_loop(account.id, paused.id, active=True)
    resumed = await outbox.claim("w2", NOW + 10, NOW + 66, limit=10, per_loop=10)
    assert [c.loop.id for c in resumed] == [paused.id] * 3


async def test_claim_limits_per_loop_overall_and_skips_loops(store: Store) -> None:
    outbox = store.outbox
    account = await _account(store, "app")
    a = await _loop(store, account, EventKind.FAILURE)
    b = await _loop(store, account, EventKind.FAILURE)
    for i in range(5):
        await _publish(store, account, EventKind.FAILURE, NOW + i)
    calls = await outbox.claim("w1", NOW + 10, NOW + 60, limit=10, per_loop=2)
    assert sorted(c.loop.id for c in calls) == sorted([a.id, a.id, b.id, b.id])
    assert {c.item.event_time for c in calls} == {NOW, NOW + 1}  # the oldest of each loop
    skipped = await outbox.claim("w1", NOW + 10, NOW + 60, limit=10, per_loop=10, skip_loops=[a.id])
    assert [c.loop.id for c in skipped] == [b.id] * 3
    [one] = await outbox.claim("w1", NOW + 10, NOW + 60, limit=1, per_loop=10)
    assert one.loop.id == a.id and one.item.event_time == NOW + 2
    assert await outbox.claim("w1", NOW + 10, NOW + 60, limit=0, per_loop=10) == []


async def test_settle_is_guarded_by_the_lease_and_an_expired_lease_is_claimed_again(store: Store) -> None:
    outbox = store.outbox
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    await _publish(store, account, EventKind.FAILURE, NOW)
    [call] = await outbox.claim("w1", NOW, NOW + 60, limit=10, per_loop=10)
    [(_, in_flight)] = await _items(store, loop, now=NOW + 1)
    assert in_flight and len(await _items(store, loop, "in_flight", now=NOW + 1)) == 1
    await outbox.settle("w2", call.item.id, _done(1, NOW + 1))  # not w2's lease: ignored
    [(item, _)] = await _items(store, loop)
    assert item.state is PostState.PENDING and item.attempts == 0
    # A retry: pending again, due later, the lease dropped.
    retry = PostSettlement(PostState.PENDING, 1, NOW + 30, NOW + 2, 503, "HTTP 503")
    await outbox.settle("w1", call.item.id, retry)
    [(item, in_flight)] = await _items(store, loop, now=NOW + 3)
    assert not in_flight and item == retry.apply(call.item)
    assert await outbox.claim("w2", NOW + 29, NOW + 90, limit=10, per_loop=10) == []
    [again] = await outbox.claim("w2", NOW + 30, NOW + 90, limit=10, per_loop=10)
    assert again.item.id == call.item.id and again.item.attempts == 1 and again.item.last_status == 503
    # w2's lease runs out: w3 takes the item over, and w2's late answer is ignored.
    [taken] = await outbox.claim("w3", NOW + 90, NOW + 150, limit=10, per_loop=10)
    assert taken.item.id == call.item.id
    await outbox.settle("w2", call.item.id, _done(2, NOW + 91))
    assert (await _items(store, loop))[0][0].state is PostState.PENDING
    await outbox.settle("w3", call.item.id, _done(2, NOW + 92, 204))
    [(item, in_flight)] = await _items(store, loop, now=NOW + 93)
    assert item.state is PostState.DONE and item.attempts == 2 and item.next_attempt_at is None
    assert item.last_status == 204 and item.last_error is None and item.last_attempt_at == NOW + 92
    assert not in_flight
    # Done is final: never claimed again.
    assert await outbox.claim("w1", NOW + 10_000, NOW + 10_060, limit=10, per_loop=10) == []


async def test_settles_committed_together_each_apply_as_alone(store: Store) -> None:
    # Settled at once, they are committed in one group (on PostgreSQL one statement per round
    # of distinct posts): each must come out as it would have alone, a stranger's ignored, and
    # a second settle of one post (its lease dropped by the first) changing nothing.
    outbox = store.outbox
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    for i in range(4):
        await _publish(store, account, EventKind.FAILURE, NOW + i)
    calls = await outbox.claim("w1", NOW + 5, NOW + 60, limit=10, per_loop=10)
    retry = PostSettlement(PostState.PENDING, 1, NOW + 30, NOW + 6, 503, "HTTP 503")
    dead = PostSettlement(PostState.DEAD, 1, None, NOW + 6, 410, "HTTP 410")
    await asyncio.gather(
        outbox.settle("w1", calls[0].item.id, _done(1, NOW + 6)),
        outbox.settle("w1", calls[1].item.id, retry),
        outbox.settle("w1", calls[1].item.id, _done(1, NOW + 7)),  # w1's lease of it is gone by then
        outbox.settle("w1", calls[2].item.id, dead),
        outbox.settle("w9", calls[3].item.id, _done(1, NOW + 6)),  # not w9's
    )
    items = {item.id: (item, in_flight) for item, in_flight in await _items(store, loop, now=NOW + 8)}
    assert items[calls[0].item.id][0] == _done(1, NOW + 6).apply(calls[0].item)
    assert items[calls[1].item.id][0] == retry.apply(calls[1].item)
    assert items[calls[2].item.id][0] == dead.apply(calls[2].item)
    unsettled, in_flight = items[calls[3].item.id]
    assert unsettled == calls[3].item and in_flight  # still w1's
    assert [c.item.id for c in await outbox.claim("w2", NOW + 30, NOW + 90, limit=10, per_loop=10)] == [
        calls[1].item.id
    ]


async def test_settle_answers_with_the_posts_loop_as_it_is_now(store: Store) -> None:
    """What the dispatcher learns of a loop after each post, so that it posts no more of the
    items it holds of a loop paused, moved or removed meanwhile: alone, and committed with
    other settles (one statement on PostgreSQL), whether the lease was still held or not."""
    outbox = store.outbox
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    other = await _loop(store, account, EventKind.FAILURE, url="https://other.example.com/rp")
    for i in range(5):
        await _publish(store, account, EventKind.FAILURE, NOW + i)
    calls = {c.item.id: c for c in await outbox.claim("w1", NOW + 5, NOW + 60, limit=20, per_loop=10)}
    mine = [c.item.id for c in calls.values() if c.loop.id == loop.id]
    theirs = [c.item.id for c in calls.values() if c.loop.id == other.id]
    assert len(mine) == len(theirs) == 5 and all(c.loop in (loop, other) for c in calls.values())

    assert await outbox.settle("w1", mine[0], _done(1, NOW + 6)) == loop
    paused = await store.update_loop(account.id, loop.id, active=False, url="https://moved.example.com/rp")
    assert paused is not None and not paused.active
    assert await outbox.settle("w1", mine[1], _done(1, NOW + 6)) == paused
    assert await outbox.settle("w9", mine[2], _done(1, NOW + 6)) == paused  # not w9's lease: the loop all the same
    together = await asyncio.gather(
        outbox.settle("w1", mine[3], _done(1, NOW + 7)),
        outbox.settle("w1", theirs[0], _done(1, NOW + 7)),
        outbox.settle("w1", theirs[1], _done(1, NOW + 7)),
    )
    assert together == [paused, other, other]
    assert await store.delete_loop(account.id, loop.id)
    gone = await asyncio.gather(
        outbox.settle("w1", mine[4], _done(1, NOW + 8)), outbox.settle("w1", theirs[2], _done(1, NOW + 8))
    )
    assert gone == [None, other]


async def test_release_drops_only_the_owners_leases(store: Store) -> None:
    outbox = store.outbox
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    await _publish(store, account, EventKind.FAILURE, NOW)
    await _publish(store, account, EventKind.FAILURE, NOW + 1)
    first, second = await outbox.claim("w1", NOW + 1, NOW + 60, limit=10, per_loop=10)
    await outbox.release("w2", [first.item.id], NOW + 2)  # not w2's: no effect
    assert await outbox.claim("w3", NOW + 2, NOW + 60, limit=10, per_loop=10) == []
    await outbox.release("w1", [first.item.id], NOW + 20)
    await outbox.release("w1", [], NOW + 20)
    assert await outbox.claim("w3", NOW + 19, NOW + 60, limit=10, per_loop=10) == []
    [back] = await outbox.claim("w3", NOW + 20, NOW + 80, limit=10, per_loop=10)
    assert back.item.id == first.item.id and back.item.attempts == 0 and back.item.next_attempt_at == NOW + 20
    assert len(await _items(store, loop, "in_flight", now=NOW + 21)) == 2
    assert second.item.id != first.item.id


async def test_accounts_get_their_own_events_only(store: Store) -> None:
    mine, theirs = await _account(store, "mine"), await _account(store, "theirs")
    my_loop = await _loop(store, mine, *EventKind)
    their_loop = await _loop(store, theirs, *EventKind)
    await _publish(store, mine, EventKind.DELIVERY, NOW)
    await _publish(store, theirs, EventKind.FAILURE, NOW)
    await _publish(store, None, EventKind.BOUNCE, NOW)  # no account: nobody's
    calls = await store.outbox.claim("w1", NOW, NOW + 60, limit=10, per_loop=10)
    assert sorted((c.loop.id, c.event.account_id) for c in calls) == sorted(
        [(my_loop.id, mine.id), (their_loop.id, theirs.id)]
    )
    for call in calls:
        assert call.loop.wants(call.event)


async def test_replay_one_and_all_dead(store: Store) -> None:
    outbox = store.outbox
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    for i in range(3):
        await _publish(store, account, EventKind.FAILURE, NOW + i)
    calls = await outbox.claim("w1", NOW + 5, NOW + 60, limit=10, per_loop=10)
    dead = PostSettlement(PostState.DEAD, 4, None, NOW + 6, 410, "HTTP 410")
    await outbox.settle("w1", calls[0].item.id, dead)
    await outbox.settle("w1", calls[1].item.id, dead)
    await outbox.settle("w1", calls[2].item.id, _done(1, NOW + 6))
    assert len(await _items(store, loop, PostState.DEAD)) == 2
    assert len(await _items(store, loop, "done")) == 1
    # One by one (a done item too); a pending one or another loop's id is refused.
    assert await store.replay_post(account.id, loop.id, calls[0].item.id, NOW + 100) is True
    assert await store.replay_post(account.id, loop.id, calls[0].item.id, NOW + 100) is False
    assert await store.replay_post(account.id, "nope", calls[1].item.id, NOW + 100) is False
    [(item, _)] = [(i, f) for i, f in await _items(store, loop) if i.id == calls[0].item.id]
    assert item.state is PostState.PENDING and item.attempts == 0 and item.next_attempt_at == NOW + 100
    assert item.expires_at == NOW + 100 + WINDOW
    assert item.last_status == 410 and item.last_error == "HTTP 410"  # kept until the next attempt
    # All dead at once: only the dead one left.
    assert await store.replay_dead(account.id, loop.id, NOW + 200) == 1
    assert await _items(store, loop, "dead") == []
    again = await outbox.claim("w2", NOW + 200, NOW + 260, limit=10, per_loop=10)
    assert sorted(c.item.id for c in again) == sorted([calls[0].item.id, calls[1].item.id])
    assert await store.replay_post(account.id, loop.id, calls[2].item.id, NOW + 300) is True


# ---- with the dispatcher -------------------------------------------------------------------


async def test_the_dispatcher_posts_from_the_outbox(store: Store) -> None:
    """End to end over a real receiver: every event reaches its loop once, signed, after retries."""
    import asyncio
    import time

    from returnpath.webhooks.dispatcher import Dispatcher, Limits
    from returnpath.webhooks.h11poster import H11Poster
    from returnpath.webhooks.policy import Backoff
    from returnpath.webhooks.signing import new_secret
    from tests.webhooks.receiver import Receiver, Reply

    receiver = Receiver()
    await receiver.start()
    account = await _account(store, "app")
    loops = {}
    for path, behaviours in (("/ok", ()), ("/flaky", (Reply(500), Reply(503)))):
        loop = Loop(
            ids.new_id(NOW),
            account.id,
            receiver.base_url + path,
            frozenset({EventKind.FAILURE}),
            new_secret(),
            Format.JSON,
        )
        receiver.endpoint(path, loop.secret, *behaviours)
        loops[path] = await store.create_loop(loop, NOW)
    now = time.time()
    for i in range(20):
        await _publish(store, account, EventKind.FAILURE, now + i / 1000)
    # A post's timeout far above any answer's time, even on a loaded machine (the suite runs in
    # 4 processes on CI's 2 cores): a post timed out after the receiver got it is an attempt
    # more than the two failures, and the count below would be off by it (seen once at 0.5 s).
    limits = Limits(timeout=5.0, poll_interval=0.02, lease=30.0, allow_private_targets=True)
    poster = H11Poster(timeout=limits.timeout, per_endpoint=limits.per_endpoint)
    dispatcher = Dispatcher(
        store.outbox,
        poster,
        owner="w1",
        limits=limits,
        backoff=Backoff(
            first=0.05, factor=2, max_interval=0.2, min_interval=0.01, max_retry_after=1, client_error_attempts=3
        ),
    )

    async def all_done() -> bool:
        for loop in loops.values():
            if any(i.state is not PostState.DONE for i, _ in await _items(store, loop)):
                return False
        return True

    await dispatcher.start()
    try:
        began = time.monotonic()
        while not await all_done():
            assert time.monotonic() - began < 30, "not all done within 30 s"
            await asyncio.sleep(0.02)
    finally:
        await dispatcher.stop(grace=0.5)
        await poster.close()
        await receiver.stop()
    assert receiver.unverified == []
    for path, loop in loops.items():
        items = [i for i, _ in await _items(store, loop, now=time.time())]
        assert len(items) == 20
        assert set(receiver.unique(path)) == {i.webhook_id for i in items}
    # The two failed posts (to one item or two) were retried and counted.
    flaky = [i for i, _ in await _items(store, loops["/flaky"])]
    assert sum(i.attempts for i in flaky) == 22 == len(receiver.at("/flaky"))
    assert sum(i.attempts for i, _ in await _items(store, loops["/ok"])) == 20


async def _until(condition: Callable[[], Awaitable[bool]], what: str, within: float = 30.0) -> None:
    began = time.monotonic()
    while not await condition():
        assert time.monotonic() - began < within, f"not within {within:g} s: {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("change", ["pause", "remove"])
async def test_a_loop_paused_or_removed_gets_none_of_the_posts_the_dispatcher_held(store: Store, change: str) -> None:
    """A user who pauses a loop (its endpoint broke or moved) or removes it expects no more of
    its posts to reach the endpoint, but the one on the wire. The dispatcher had claimed them
    (up to 64 of a loop), and posted every one. Now: paused, they stay pending and go out on
    resume, each once; removed, they are gone with the loop.

    End to end over a real receiver. A loop of another account with the same URL is the
    witness: its posts wait behind the loop's on the endpoint, so once they arrived, so would
    have the loop's."""
    receiver = Receiver()
    await receiver.start()
    url, secret = receiver.base_url + "/hook", new_secret()
    account, other = await _account(store, "app"), await _account(store, "other")
    kinds = frozenset({EventKind.FAILURE})
    loop = await store.create_loop(Loop(ids.new_id(NOW), account.id, url, kinds, secret, Format.JSON), NOW)
    witness = await store.create_loop(Loop(ids.new_id(NOW), other.id, url, kinds, secret, Format.JSON), NOW)
    on_the_wire = asyncio.Event()
    receiver.endpoint("/hook", secret, Hold(on_the_wire))
    now = time.time()
    for i in range(10):
        await _publish(store, account, EventKind.FAILURE, now + i / 1000)
    limits = Limits(timeout=5.0, poll_interval=0.02, lease=30.0, per_endpoint=1, allow_private_targets=True)
    poster = H11Poster(timeout=limits.timeout, per_endpoint=limits.per_endpoint)
    dispatcher = Dispatcher(store.outbox, poster, owner="w1", limits=limits)

    async def held() -> bool:  # the first post on the wire, the other nine claimed behind it
        return len(receiver.at("/hook")) == 1 and len(await _items(store, loop, "in_flight", now=time.time())) == 10

    async def witnessed() -> bool:
        return len(await _items(store, witness, "done")) == 3

    await dispatcher.start()
    try:
        await _until(held, "the loop's posts claimed")
        if change == "pause":
            assert await store.update_loop(account.id, loop.id, active=False) is not None
        else:
            assert await store.delete_loop(account.id, loop.id)
        on_the_wire.set()
        for i in range(3):
            await _publish(store, other, EventKind.FAILURE, time.time() + i / 1000)
        await _until(witnessed, "the witness's posts done")
        assert len(receiver.at("/hook")) == 1 + 3  # the loop's one on the wire, and the witness's

        if change == "pause":
            waiting = [item for item, in_flight in await _items(store, loop, now=time.time()) if not in_flight]
            assert sorted(item.state.value for item in waiting) == ["done"] + ["pending"] * 9
            assert all(item.attempts == 0 for item in waiting if item.state is PostState.PENDING)
            assert await store.update_loop(account.id, loop.id, active=True) is not None

            async def resumed() -> bool:
                return all(item.state is PostState.DONE for item, _ in await _items(store, loop))

            await _until(resumed, "the loop's posts done after it was resumed")
    finally:
        await dispatcher.stop(grace=0.5)
        await poster.close()
        await receiver.stop()
    assert receiver.unverified == []
    if change == "pause":
        items = [item for item, _ in await _items(store, loop)]
        assert len(receiver.at("/hook")) == 10 + 3  # each of the loop's posts once
        assert {i.webhook_id for i in items} <= set(receiver.unique("/hook"))
    else:
        assert await store.loop_posts(account.id, loop.id) is None


# ---- keeping ---------------------------------------------------------------------------------


async def test_the_purge_deletes_done_and_dead_posts_past_keeping_and_never_pending_ones(store: Store) -> None:
    account = await _account(store, "app")
    loop = await _loop(store, account, EventKind.FAILURE)
    for n in range(6):
        await _publish(store, account, EventKind.FAILURE, NOW + n)
    items = sorted((item for item, _ in await _items(store, loop)), key=lambda item: item.event_time)
    # done long ago, done lately, dead long ago, dead lately, pending (attempted long ago), pending
    fates = [
        ("done", NOW - 100),
        ("done", NOW - 5),
        ("dead", NOW - 100),
        ("dead", NOW - 5),
        ("pending", NOW - 100),
        ("pending", None),
    ]
    calls = {call.item.id: call for call in await store.outbox.claim("w1", NOW + 5, NOW + 60, limit=10, per_loop=10)}
    for item, (state, at) in zip(items, fates, strict=True):
        if at is None:
            await store.outbox.release("w1", [item.id], NOW + 5)
            continue
        due = NOW + 10 if state == "pending" else None
        await store.outbox.settle("w1", calls[item.id].item.id, PostSettlement(PostState(state), 1, due, at, 500, "x"))

    assert await store.purge_posts(done_before=NOW - 10, dead_before=NOW - 50, batch=1) == 1  # a batch at a time
    assert await store.purge_posts(done_before=NOW - 10, dead_before=NOW - 50) == 1
    assert await store.purge_posts(done_before=NOW - 10, dead_before=NOW - 50) == 0
    left = {item.id for item, _ in await _items(store, loop)}
    assert left == {items[1].id, items[3].id, items[4].id, items[5].id}


async def test_a_file_from_before_secret_rotation_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the loops table as version 0.1 made it
        conn.execute(
            "CREATE TABLE loops (id TEXT PRIMARY KEY, account_id TEXT NOT NULL, url TEXT NOT NULL, "
            "format TEXT NOT NULL, active INTEGER NOT NULL, secret TEXT NOT NULL, "
            "created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
    old = SqliteStore(path)
    await old.open()
    try:
        account = await _account(old, "app")
        loop = await _loop(old, account, EventKind.FAILURE)
        rotated = await old.update_loop(account.id, loop.id, secret="whsec_bmV3", previous_until=NOW + 1)
        assert rotated is not None and await old.loop(account.id, loop.id) == rotated
        assert rotated.previous_secret == loop.secret
    finally:
        await old.close()


async def test_events_of_settles_committed_together_each_fan_out(store: Store) -> None:
    """Settles that arrive together each get their event's posts, for the loops of their
    own account only."""
    mine, theirs = await _account(store, "mine"), await _account(store, "theirs")
    failures = await _loop(store, mine, EventKind.FAILURE)
    for account in (mine, theirs):
        recipients = ("x@example.net", "y@example.net")
        deliveries = tuple(NewDelivery(ids.new_id(NOW), r, "b@bounces.test") for r in recipients)
        submission = Submission(mail_from="a@example.com", recipients=recipients, mime=MIME, dsn=DsnOptions())
        message = NewMessage(account.id, ids.new_id(NOW), submission, deliveries, NOW, NOW + 100)
        await store.submit(message, owner=None, lease_until=NOW)
    jobs = await store.claim("w1", NOW, NOW + 60, 10)
    assert len(jobs) == 4
    outcome = _outcome(Verdict.PERMANENT, 550)
    attempt = Attempt(1, NOW + 5, outcome.remote, outcome.step, 550, "5.1.1", outcome.text, Verdict.PERMANENT)
    event_ids = await asyncio.gather(
        *(store.settle(job, attempt, settle(job, outcome, NOW + 5, RetryPolicy())) for job in jobs)
    )
    assert None not in event_ids and len(set(event_ids)) == 4
    mine_ids = {event_id for job, event_id in zip(jobs, event_ids, strict=True) if job.account_id == mine.id}
    items = await _items(store, failures)
    assert len(mine_ids) == 2 and {item.event_id for item, _ in items} == mine_ids
    assert all(item.created_at == NOW + 5 and item.state is PostState.PENDING for item, _ in items)
    assert len({item.id for item, _ in items}) == 2 and all(ids.is_id(item.id) for item, _ in items)
