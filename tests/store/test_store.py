"""The store conformance suite: what every backend must do. Runs against each backend in
conftest.BACKENDS (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import pytest

from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.core.model import (
    Account,
    Attempt,
    DeliveryJob,
    DeliveryState,
    DsnOptions,
    Outcome,
    Step,
    Submission,
    Verdict,
)
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.errors import InputError

from .conftest import MakeStore

NOW = 1_800_000_000.0
MIME = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n"


async def _account(store: Store, name: str = "app") -> Account:
    account = Account(ids.new_id(NOW), name, name)
    await store.create_account(account, f"token-{name}", "hash", NOW)
    return account


async def _submit(
    store: Store,
    account: Account,
    recipients: list[str],
    *,
    owner: str | None = None,
    tags: tuple[str, ...] = ("t1",),
    now: float = NOW,
) -> tuple[str, list[NewDelivery]]:
    message_id = ids.new_id(now)
    deliveries = [NewDelivery(ids.new_id(now), r, f"b{i}@bounces.test") for i, r in enumerate(recipients)]
    submission = Submission(
        mail_from="a@example.com",
        recipients=tuple(recipients),
        mime=MIME,
        tags=tags,
        dsn=DsnOptions(notify=("FAILURE",), ret="HDRS"),
    )
    await store.submit(
        NewMessage(account.id, message_id, submission, tuple(deliveries), now, now + 100),
        owner=owner,
        lease_until=now + 60,
    )
    return message_id, deliveries


async def test_accounts_are_found_by_token_and_username(backend: Store) -> None:
    account = await _account(backend)
    assert await backend.account_by_token("token-app") == account
    assert await backend.account_by_token("nope") is None
    assert await backend.account_by_username("app") == (account, "hash")
    assert await backend.accounts() == [account]
    with pytest.raises(InputError):
        await backend.create_account(Account(ids.new_id(NOW), "app", "app"), "t2", "h", NOW)


async def test_submitted_deliveries_are_claimed_once_with_their_message(backend: Store) -> None:
    account = await _account(backend)
    message_id, deliveries = await _submit(backend, account, ["x@example.net", "y@example.net"])
    jobs = await backend.claim("w1", NOW, NOW + 60, 10)
    assert sorted(j.delivery_id for j in jobs) == sorted(d.id for d in deliveries)
    assert all(j.mime == MIME for j in jobs)  # every recipient's job has the body
    job = jobs[0]
    assert job.mime == MIME and job.message_id == message_id and job.tags == ("t1",)
    assert job.dsn == DsnOptions(notify=("FAILURE",), ret="HDRS")
    assert job.expires_at == NOW + 100 and job.attempts == 0
    # Leased: nobody else gets them until the lease runs out.
    assert await backend.claim("w2", NOW + 1, NOW + 61, 10) == []
    again = await backend.claim("w2", NOW + 61, NOW + 120, 10)
    assert len(again) == 2


async def test_deliveries_of_one_message_claimed_apart_each_come_with_its_body(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net", "y@example.net", "z@example.net"])
    [first] = await backend.claim("w1", NOW, NOW + 60, 1)
    rest = await backend.claim("w2", NOW, NOW + 60, 10)
    assert len(rest) == 2 and [j.mime for j in (first, *rest)] == [MIME] * 3


async def test_leased_at_submission_then_released(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"], owner="w1")
    assert await backend.claim("w2", NOW, NOW + 60, 10) == []
    assert await backend.release("w1") == 1
    assert len(await backend.claim("w2", NOW, NOW + 60, 10)) == 1


async def test_renew_extends_only_the_owners_lease(backend: Store) -> None:
    account = await _account(backend)
    _, deliveries = await _submit(backend, account, ["x@example.net"], owner="w1")
    await backend.renew("w2", [deliveries[0].id], NOW + 1000)  # not w2's: no effect
    await backend.renew("w1", [deliveries[0].id], NOW + 500)
    assert await backend.claim("w3", NOW + 100, NOW + 160, 10) == []
    assert len(await backend.claim("w3", NOW + 501, NOW + 560, 10)) == 1


def _outcome(verdict: Verdict, code: int) -> Outcome:
    return Outcome(
        verdict,
        Step.RCPT if verdict is not Verdict.ACCEPTED else Step.EOM,
        code,
        f"{code // 100}.1.1",
        f"{code} reply",
        "mx.example.net[127.0.0.1]:25",
    )


async def test_settle_records_attempt_state_and_event(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"])
    [job] = await backend.claim("w1", NOW, NOW + 60, 10)
    policy = RetryPolicy(first=10)
    outcome = _outcome(Verdict.TEMPORARY, 451)
    settlement = settle(job, outcome, NOW + 1, policy)
    attempt = Attempt(
        1, NOW + 1, outcome.remote, outcome.step, outcome.code, outcome.status, outcome.text, outcome.verdict
    )
    event_id = await backend.settle(job, attempt, settlement)
    view = await backend.delivery(account.id, job.delivery_id)
    assert view is not None
    assert view.state is DeliveryState.DEFERRED and view.attempts == 1
    assert view.next_attempt_at == NOW + 11
    assert view.history == [attempt]
    assert [e["event_id"] for e in view.events] == [event_id]
    assert view.events[0]["event"] == "deferred" and view.events[0]["code"] == 451
    # Not due before its retry time; due after it, with the attempt counted.
    assert await backend.claim("w1", NOW + 5, NOW + 65, 10) == []
    [retry] = await backend.claim("w1", NOW + 11, NOW + 71, 10)
    assert retry.attempts == 1
    final = settle(retry, _outcome(Verdict.ACCEPTED, 250), NOW + 12, policy)
    await backend.settle(retry, Attempt(2, NOW + 12, None, Step.EOM, 250, "2.0.0", "ok", Verdict.ACCEPTED), final)
    view = await backend.delivery(account.id, job.delivery_id)
    assert view is not None and view.state is DeliveryState.DELIVERED and view.next_attempt_at is None
    assert await backend.claim("w1", NOW + 10_000, NOW + 10_060, 10) == []
    assert await backend.queue_summary() == {"queued": 0, "deferred": 0, "delivered": 1, "failed": 0}


async def test_a_final_delivery_is_not_reopened_by_a_late_attempt(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"])
    [job] = await backend.claim("w1", NOW, NOW + 60, 10)
    policy = RetryPolicy()
    delivered = settle(job, _outcome(Verdict.ACCEPTED, 250), NOW, policy)
    await backend.settle(job, Attempt(1, NOW, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED), delivered)
    late = settle(job, _outcome(Verdict.TEMPORARY, 421), NOW + 1, policy)
    await backend.settle(job, Attempt(1, NOW + 1, None, Step.RCPT, 421, None, "x", Verdict.TEMPORARY), late)
    view = await backend.delivery(account.id, job.delivery_id)
    assert view is not None and view.state is DeliveryState.DELIVERED


async def test_accounts_see_only_their_own_deliveries(backend: Store) -> None:
    mine, theirs = await _account(backend, "mine"), await _account(backend, "theirs")
    message_id, deliveries = await _submit(backend, mine, ["x@example.net"])
    assert await backend.delivery(theirs.id, deliveries[0].id) is None
    assert await backend.message_deliveries(theirs.id, message_id) == []
    [view] = await backend.message_deliveries(mine.id, message_id)
    assert view.recipient == "x@example.net" and view.envelope_sender == "b0@bounces.test"
    assert await backend.mime(message_id) == MIME


async def test_events_filter_by_kind_account_time_and_cursor(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net", "y@example.net"])
    jobs = await backend.claim("w1", NOW, NOW + 60, 10)
    policy = RetryPolicy()
    for job, verdict, code in zip(jobs, (Verdict.ACCEPTED, Verdict.PERMANENT), (250, 550), strict=True):
        outcome = _outcome(verdict, code)
        await backend.settle(
            job,
            Attempt(1, NOW + code, None, outcome.step, code, None, "t", verdict),
            settle(job, outcome, NOW + code, policy),
        )
    every = await backend.events()
    assert [s.event.kind for s in every] == [EventKind.DELIVERY, EventKind.FAILURE]
    assert [s.event.kind for s in await backend.events(kinds=[EventKind.FAILURE])] == [EventKind.FAILURE]
    assert await backend.events(after=every[-1].id) == []
    assert len(await backend.events(since=NOW + 300)) == 1
    assert await backend.events(account_id="someone else") == []
    assert isinstance(every[0].event, Event) and "type" not in every[0].event.data
    assert every[1].event.data["type"] == "sync"


async def test_cursors(backend: Store) -> None:
    assert await backend.cursor("logs") == 0
    await backend.set_cursor("logs", 42)
    await backend.set_cursor("logs", 43)
    assert await backend.cursor("logs") == 43


async def test_concurrent_writes_are_all_committed(backend: Store) -> None:
    account = await _account(backend)
    results = await asyncio.gather(*(_submit(backend, account, [f"r{i}@example.net"]) for i in range(200)))
    assert len({m for m, _ in results}) == 200
    summary = await backend.queue_summary()
    assert summary["queued"] == 200


async def test_committed_data_survives_reopening(backend: Store, make_store: MakeStore) -> None:
    account = await _account(backend)
    message_id, _ = await _submit(backend, account, ["x@example.net"])
    await backend.close()
    reopened = make_store()
    await reopened.open()
    try:
        assert [v.recipient for v in await reopened.message_deliveries(account.id, message_id)] == ["x@example.net"]
    finally:
        await reopened.close()
    await backend.open()  # the fixture closes it again


async def test_event_ids_ascend_in_commit_order_under_concurrent_writers(backend: Store, make_store: MakeStore) -> None:
    """A reader polling `events(after=last)` never finds an id below one it has seen, while
    three stores (three pools, or three writers on one file) settle concurrently; and in the
    end it has seen every event."""
    account = await _account(backend)
    writers = [make_store() for _ in range(3)]
    for store in writers:
        await store.open()
    try:
        recipients = [f"r{i}@example.net" for i in range(60)]
        await asyncio.gather(*(_submit(backend, account, recipients) for _ in range(5)))
        jobs = await backend.claim("w1", NOW, NOW + 60, 1000)
        assert len(jobs) == 300
        policy = RetryPolicy()
        outcome = _outcome(Verdict.ACCEPTED, 250)
        attempt = Attempt(1, NOW + 1, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED)
        stop = asyncio.Event()
        seen: list[int] = []

        async def read() -> None:
            while True:
                finished = stop.is_set()
                batch = await backend.events(after=seen[-1] if seen else 0)
                for stored in batch:
                    assert not seen or stored.id > seen[-1], f"id {stored.id} after {seen[-1]}"
                    seen.append(stored.id)
                if finished and not batch:
                    return
                await asyncio.sleep(0)

        async def write(store: Store, share: list[DeliveryJob]) -> list[int | None]:
            return [await store.settle(job, attempt, settle(job, outcome, NOW + 1, policy)) for job in share]

        reader = asyncio.create_task(read())
        shares = [jobs[i::30] for i in range(30)]  # 30 concurrent writers over the 3 stores
        written = await asyncio.gather(*(write(writers[i % 3], share) for i, share in enumerate(shares)))
        stop.set()
        await reader
        assert sorted(event_id for ids_ in written for event_id in ids_ if event_id is not None) == seen
        assert len(seen) == 300
    finally:
        for store in writers:
            await store.close()


async def test_a_failing_write_fails_alone_among_writes_committed_together(backend: Store) -> None:
    """A write that fails (here: an account name taken) while other writes (settles, a
    submission) are committed with it fails alone: the others are all recorded, once."""
    account = await _account(backend)
    await _submit(backend, account, ["a@example.net", "b@example.net"])
    jobs = await backend.claim("w1", NOW, NOW + 60, 10)
    policy = RetryPolicy()
    outcome = _outcome(Verdict.ACCEPTED, 250)
    attempt = Attempt(1, NOW + 1, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED)
    results = await asyncio.gather(
        *(backend.settle(job, attempt, settle(job, outcome, NOW + 1, policy)) for job in jobs),
        _account(backend, "app"),  # taken
        _submit(backend, account, ["c@example.net"]),
        return_exceptions=True,
    )
    first, second, taken, submitted = results
    assert isinstance(taken, InputError)
    assert isinstance(first, int) and isinstance(second, int) and first != second
    assert not isinstance(submitted, BaseException)
    assert sorted(e.id for e in await backend.events()) == sorted([first, second])
    for job in jobs:
        view = await backend.delivery(account.id, job.delivery_id)
        assert view is not None and view.state is DeliveryState.DELIVERED and view.history == [attempt]
    assert await backend.queue_summary() == {"queued": 1, "deferred": 0, "delivered": 2, "failed": 0}
