"""The store conformance suite, returned mail: its storage limit, its claims under a lease,
failing a delivery once, forwarded copies as deliveries of their own kind, and what
[retention] purges."""

from __future__ import annotations

import asyncio

import pytest

from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.core.feedback import Format, Loop, PostSettlement, PostState
from returnpath.core.model import Attempt, DeliveryState, Returned, Step, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.errors import StoreFull

from .test_store import MIME, NOW, _account, _outcome, _submit


@pytest.fixture
def store(backend: Store) -> Store:
    """The conformance suite's store (tests/store/conftest.py): every backend."""
    return backend


RAW = b"From: MAILER-DAEMON@mx.example.net\r\nSubject: failed\r\n\r\nno such user\r\n"


def _returned(deliveries: tuple[str, ...] = (), raw: bytes = RAW, at: float = NOW) -> Returned:
    return Returned(ids.new_id(at), "", ("b@bounces.test",), deliveries, "192.0.2.1", at, raw)


def _failure(delivery: NewDelivery, message_id: str, account_id: str, at: float) -> Event:
    return Event(EventKind.FAILURE, delivery.id, message_id, account_id, at, {"type": "async"})


def _bounce(delivery: NewDelivery, message_id: str, account_id: str, at: float) -> Event:
    return Event(EventKind.BOUNCE, delivery.id, message_id, account_id, at, {"kind": "dsn"})


def _forward(account_id: str, return_id: str, at: float) -> NewMessage:
    submission = Submission(mail_from="", recipients=("bounces@app.example",), mime=RAW, trackbounces=False)
    delivery = NewDelivery(ids.new_id(at), "bounces@app.example", "")
    return NewMessage(account_id, ids.new_id(at), submission, (delivery,), at, at + 100, forward_of=return_id)


async def test_returned_mail_is_counted_and_refused_past_the_limit(store: Store) -> None:
    assert await store.stored_returns() == 0
    first = _returned()
    await store.receive(first, limit=len(RAW) * 2)
    await store.receive(_returned(), limit=len(RAW) * 2)
    assert await store.stored_returns() == 2 * len(RAW)
    third = _returned()
    with pytest.raises(StoreFull):
        await store.receive(third, limit=len(RAW) * 2)
    assert await store.returned(third.id) is None  # refused: nothing of it stored
    assert await store.stored_returns() == 2 * len(RAW)
    await store.receive(third)  # no limit given: stored
    assert await store.stored_returns() == 3 * len(RAW)


async def test_returned_mail_is_claimed_oldest_first_under_a_lease_that_runs_out(store: Store) -> None:
    returns = [_returned(at=NOW + n) for n in range(3)]
    for returned in reversed(returns):  # received in another order than their times
        await store.receive(returned)
    first = await store.claim_returns("w1", NOW + 10, NOW + 70, 2)
    assert [r.id for r in first] == [returns[0].id, returns[1].id]
    assert first[0].raw == RAW and first[0].rcptto == ("b@bounces.test",)
    assert [r.id for r in await store.claim_returns("w2", NOW + 10, NOW + 70, 10)] == [returns[2].id]
    assert await store.claim_returns("w3", NOW + 20, NOW + 80, 10) == []  # all leased
    await store.finish_return(returns[0].id, "dsn", [], [], [], NOW + 30)
    # w1 died: once its lease ran out, its unfinished message is another's; w2's was renewed by
    # nobody either. The one w1 finished is never claimed again.
    taken = await store.claim_returns("w3", NOW + 71, NOW + 131, 10)
    assert [r.id for r in taken] == [returns[1].id, returns[2].id]
    assert await store.claim_returns("w4", NOW + 200, NOW + 260, 10) != []  # w3's ran out too
    assert await store.claim_returns("w5", NOW + 201, NOW + 261, 10) == []


async def test_concurrent_claims_of_returned_mail_never_share_a_message(store: Store) -> None:
    returns = [_returned(at=NOW + n) for n in range(12)]
    for returned in returns:
        await store.receive(returned)
    batches = await asyncio.gather(*(store.claim_returns(f"w{n}", NOW + 10, NOW + 70, 5) for n in range(4)))
    claimed = [r.id for batch in batches for r in batch]
    assert len(claimed) == len(set(claimed))  # none claimed twice
    assert set(claimed) <= {r.id for r in returns}
    rest = await store.claim_returns("late", NOW + 10, NOW + 70, 20)
    assert sorted(claimed + [r.id for r in rest]) == sorted(r.id for r in returns)  # none lost


async def test_a_delivery_fails_once_whatever_reports_it_later(store: Store) -> None:
    account = await _account(store)
    message_id, [delivery] = await _submit(store, account, ["x@example.net"])
    for n in range(3):  # the same DSN three times, each seen before the others were recorded
        returned = _returned((delivery.id,), at=NOW + n)
        await store.receive(returned)
        events = [
            _bounce(delivery, message_id, account.id, NOW + n),
            _failure(delivery, message_id, account.id, NOW + n),
        ]
        await store.finish_return(returned.id, "dsn", events, [delivery.id], [], NOW + n)
    kinds = [stored.event.kind for stored in await store.events()]
    assert kinds == [EventKind.BOUNCE, EventKind.FAILURE, EventKind.BOUNCE, EventKind.BOUNCE]
    [view] = await store.message_deliveries(account.id, message_id)
    assert view.state is DeliveryState.FAILED and view.updated_at == NOW  # failed by the first


async def test_forwards_are_counted_per_account_and_settle_without_events(store: Store) -> None:
    account, other = await _account(store, "app"), await _account(store, "other")
    returned = _returned()
    await store.receive(returned)
    forwards = [_forward(account.id, returned.id, NOW + n) for n in range(3)]
    await store.finish_return(returned.id, "dsn", [], [], forwards, NOW)
    assert await store.forwards_since(account.id, NOW) == 3
    assert await store.forwards_since(account.id, NOW + 1.5) == 1
    assert await store.forwards_since(other.id, NOW) == 0
    await _submit(store, account, ["x@example.net"])  # an application's own message is no forward
    assert await store.forwards_since(account.id, NOW) == 3
    jobs = await store.claim("w1", NOW + 10, NOW + 70, 10)
    assert sorted(job.forward for job in jobs) == [False, True, True, True]
    job = next(job for job in jobs if job.forward)
    outcome = _outcome(Verdict.PERMANENT, 550)
    attempt = Attempt(1, NOW + 11, None, Step.RCPT, 550, None, "no", Verdict.PERMANENT)
    assert await store.settle(job, attempt, settle(job, outcome, NOW + 11, RetryPolicy())) is None
    assert await store.events() == []  # the copy failed; the application's mail did not
    view = (await store.views([job.delivery_id]))[job.delivery_id]
    assert view.state is DeliveryState.FAILED and view.attempts == 1


async def test_message_bodies_are_purged_only_when_every_delivery_is_final(store: Store) -> None:
    account = await _account(store)
    old_final, [final] = await _submit(store, account, ["x@example.net"], now=NOW)
    old_queued, _ = await _submit(store, account, ["y@example.net"], now=NOW)
    recent, [recent_delivery] = await _submit(store, account, ["z@example.net"], now=NOW + 500)
    returned = _returned()
    await store.receive(returned)
    await store.finish_return(returned.id, "dsn", [], [final.id, recent_delivery.id], [], NOW)
    assert await store.purge_bodies(NOW + 100, NOW + 1000, 10) == 1
    assert await store.mime(old_final) == b""
    assert await store.mime(old_queued) == MIME  # still to be sent: kept
    assert await store.mime(recent) == MIME  # not old enough
    [job] = [j for j in await store.claim("w1", NOW + 1000, NOW + 1060, 10) if j.message_id == old_queued]
    assert job.mime == MIME
    assert await store.purge_bodies(NOW + 100, NOW + 1000, 10) == 0  # purged once


async def test_returned_raw_is_purged_when_processed_and_old_in_batches(store: Store) -> None:
    old = [_returned(at=NOW + n) for n in range(3)]
    fresh, unprocessed = _returned(at=NOW + 500), _returned(at=NOW)
    for returned in [*old, fresh, unprocessed]:
        await store.receive(returned)
    for returned in [*old, fresh]:
        await store.finish_return(returned.id, "other", [], [], [], NOW + 600)
    assert await store.purge_returns(NOW + 100, NOW + 700, 2) == 2
    assert await store.purge_returns(NOW + 100, NOW + 700, 2) == 1
    assert await store.purge_returns(NOW + 100, NOW + 700, 2) == 0
    purged = await store.returned(old[0].id)
    assert purged is not None and purged.raw == b"" and purged.purged_at == NOW + 700
    kept = await store.returned(fresh.id)
    assert kept is not None and kept.raw == RAW and kept.purged_at is None
    assert (await store.returned(unprocessed.id)).raw == RAW  # type: ignore[union-attr]  # not yet read
    assert await store.stored_returns() == 2 * len(RAW)  # room again for what was purged


async def test_events_are_purged_when_old_logged_and_posted(store: Store) -> None:
    account = await _account(store)
    message_id, [delivery] = await _submit(store, account, ["x@example.net"])
    returned = _returned((delivery.id,))
    await store.receive(returned)
    events = [_bounce(delivery, message_id, account.id, NOW + n) for n in range(4)]
    first, *_, last = await store.finish_return(returned.id, "dsn", events, [], [], NOW)
    assert await store.purge_events(NOW + 2, last, 10) == 2  # NOW and NOW + 1
    assert [s.event.time for s in await store.events()] == [NOW + 2, NOW + 3]
    assert await store.purge_events(NOW + 100, first + 2, 10) == 1  # not past what is logged
    assert [s.event.time for s in await store.events()] == [NOW + 3]


async def test_the_newest_event_id_given_is_known_after_every_event_is_purged(store: Store) -> None:
    """GET /v1/events refuses a cursor beyond it (one from before a restore of the store); a
    cursor at an event that retention purged since is still this store's, and its ids go on."""
    assert await store.newest_event_id() == 0
    account = await _account(store)
    message_id, [delivery] = await _submit(store, account, ["x@example.net"])
    returned = _returned((delivery.id,))
    await store.receive(returned)
    *_, last = await store.finish_return(
        returned.id, "dsn", [_bounce(delivery, message_id, account.id, NOW + n) for n in range(3)], [], [], NOW
    )
    assert await store.newest_event_id() == last
    assert await store.purge_events(NOW + 100, last, 10) == 3
    assert await store.events() == []
    assert await store.newest_event_id() == last


async def test_an_event_a_loop_still_has_a_post_of_is_kept(store: Store) -> None:
    account = await _account(store)
    loop = Loop(
        ids.new_id(NOW),
        account.id,
        "https://hooks.example.com/rp",
        frozenset({EventKind.BOUNCE}),
        "whsec_c2VjcmV0",
        Format.FORM,
    )
    await store.create_loop(loop, NOW)
    message_id, [delivery] = await _submit(store, account, ["x@example.net"])
    returned = _returned((delivery.id,))
    await store.receive(returned)
    [event_id] = await store.finish_return(
        returned.id, "dsn", [_bounce(delivery, message_id, account.id, NOW)], [], [], NOW
    )
    assert await store.purge_events(NOW + 100, event_id, 10) == 0  # its post is pending
    [call] = await store.outbox.claim("w1", NOW, NOW + 60, limit=10, per_loop=10)
    await store.outbox.settle("w1", call.item.id, PostSettlement(PostState.DONE, 1, None, NOW, 200, None))
    assert await store.purge_events(NOW + 100, event_id, 10) == 0  # listed as done, still
    assert await store.purge_posts(NOW + 1, NOW + 1, 10) == 1
    assert await store.purge_events(NOW + 100, event_id, 10) == 1
