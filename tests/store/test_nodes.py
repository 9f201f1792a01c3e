"""Conformance: what several nodes sharing one store rely on — the node recorded with attempts
and events, heartbeats and what each node holds, releasing one node's leases, and a node that
lost a lease never settling the work it lost."""

from __future__ import annotations

import asyncio

from returnpath.core import ids
from returnpath.core.model import Attempt, Step, Verdict
from returnpath.core.ports import NodeStatus, Store
from returnpath.core.retry import RetryPolicy, settle

from .conftest import MakeStore
from .test_store import NOW, _account, _outcome, _submit


def _status(name: str, beat: float) -> NodeStatus:
    return NodeStatus(name, "host-" + name, 4242, "0.1.0", "submission=127.0.0.1:8025", NOW, beat)


async def test_heartbeats_list_each_node_once_with_the_work_it_holds(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net", "y@example.net"], owner="n1/p-0-0")
    await _submit(backend, account, ["z@example.net"], owner="n2/p-0-0")
    await backend.heartbeat(_status("n1", NOW))
    await backend.heartbeat(_status("n2", NOW))
    await backend.heartbeat(_status("n1", NOW + 5))  # the same node again: one row, updated
    nodes = {n.name: n for n in await backend.nodes()}
    assert sorted(nodes) == ["n1", "n2"]
    assert nodes["n1"].heartbeat_at == NOW + 5 and nodes["n1"].host == "host-n1" and nodes["n1"].pid == 4242
    # (NOW is in 2027: the submissions' leases have not run out yet)
    assert (nodes["n1"].deliveries, nodes["n2"].deliveries) == (2, 1)
    assert await backend.release("n2/p-0-0") == 1
    nodes = {n.name: n for n in await backend.nodes()}
    assert (nodes["n1"].deliveries, nodes["n2"].deliveries) == (2, 0)


async def test_release_by_node_drops_only_that_nodes_leases(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"], owner="n1/a-0-0")
    await _submit(backend, account, ["y@example.net"], owner="n1/b-1-0")
    await _submit(backend, account, ["z@example.net"], owner="n10/a-0-0")  # not n1's: a prefix only
    assert await backend.release(node="n1") == 2
    claimed = await backend.claim("n2/a-0-0", NOW, NOW + 60, 10)
    assert sorted(j.recipient for j in claimed) == ["x@example.net", "y@example.net"]


async def test_attempts_and_events_name_the_node_that_recorded_them(backend: Store) -> None:
    backend.node = "n7"
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"])
    [job] = await backend.claim("n7/p-0-0", NOW, NOW + 60, 10)
    outcome = _outcome(Verdict.PERMANENT, 550)
    attempt = Attempt(
        1, NOW + 1, outcome.remote, outcome.step, outcome.code, outcome.status, outcome.text, outcome.verdict
    )
    event_id = await backend.settle(job, attempt, settle(job, outcome, NOW + 1, RetryPolicy()))
    assert event_id is not None
    view = await backend.delivery(account.id, job.delivery_id)
    assert view is not None and [a.node for a in view.history] == ["n7"]
    [stored] = await backend.events(after=event_id - 1)
    assert stored.node == "n7"
    assert [e.id for e in await backend.events(node="n7")] == [event_id]
    assert await backend.events(node="n8") == []


async def test_a_worker_that_lost_its_lease_does_not_settle(backend: Store) -> None:
    account = await _account(backend)
    await _submit(backend, account, ["x@example.net"])
    [lost] = await backend.claim("n1/p-0-0", NOW, NOW + 60, 10)
    # n1 goes quiet; its lease runs out and n2 takes the delivery over.
    [taken] = await backend.claim("n2/p-0-0", NOW + 61, NOW + 120, 10)
    policy = RetryPolicy()
    late = _outcome(Verdict.TEMPORARY, 451)
    settled = await backend.settle(
        lost,
        Attempt(1, NOW + 62, None, Step.RCPT, 451, None, "x", Verdict.TEMPORARY),
        settle(lost, late, NOW + 62, policy),
    )
    assert settled is None
    view = await backend.delivery(account.id, lost.delivery_id)
    assert view is not None and view.history == [] and view.attempts == 0
    assert await backend.claim("n3/p-0-0", NOW + 63, NOW + 120, 10) == []  # still n2's
    done = _outcome(Verdict.ACCEPTED, 250)
    event_id = await backend.settle(
        taken,
        Attempt(1, NOW + 64, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED),
        settle(taken, done, NOW + 64, policy),
    )
    assert event_id is not None
    view = await backend.delivery(account.id, lost.delivery_id)
    assert view is not None and view.state.value == "delivered" and len(view.history) == 1


async def test_migrate_on_a_current_store_changes_nothing(backend: Store) -> None:
    before, after = await backend.migrate()
    assert before == after > 0


# ---- who writes each node's events to the log files (logs.py) ------------------------------

TAKEOVER = 60.0


async def _record(store: Store, node: str) -> int:
    """One delivery event recorded by a worker of `node`; its id."""
    store.node = node
    account = await _account(store, f"app-{ids.new_id(NOW)}")
    await _submit(store, account, ["x@example.net"])
    [job] = await store.claim(f"{node}/p-0-0", NOW, NOW + 60, 10)
    done = _outcome(Verdict.ACCEPTED, 250)
    attempt = Attempt(1, NOW + 1, done.remote, done.step, done.code, done.status, done.text, done.verdict)
    event_id = await store.settle(job, attempt, settle(job, done, NOW + 1, RetryPolicy()))
    assert event_id is not None
    return event_id


async def _hold(store: Store, holder: str, now: float) -> list[str]:
    return await store.hold_logs(holder, now, now + TAKEOVER, now - TAKEOVER)


async def test_a_silent_nodes_log_is_held_by_one_live_node_until_it_is_back(backend: Store) -> None:
    for name in ("a", "b", "c"):
        await backend.heartbeat(_status(name, NOW))
    assert await _hold(backend, "a", NOW) == ["a"]  # its own; b and c are alive
    assert await _hold(backend, "b", NOW) == ["b"]
    await backend.heartbeat(_status("a", NOW + 100))
    await backend.heartbeat(_status("c", NOW + 100))
    # b has been silent for 100 s (and its own hold ran out at NOW + 60): a takes it over...
    assert await _hold(backend, "a", NOW + 100) == ["a", "b"]
    # ...and c, asking a moment later, gets only its own: a holds b, until its hold runs out.
    assert await _hold(backend, "c", NOW + 101) == ["c"]
    assert await _hold(backend, "a", NOW + 115) == ["a", "b"]  # renewed
    assert await _hold(backend, "c", NOW + 170) == ["c"]
    # a went silent too (its heartbeat at NOW + 100, its hold ran out at 175): c takes both.
    assert await _hold(backend, "c", NOW + 176) == ["a", "b", "c"]
    # b comes back: it waits while c holds its log; c lets go when it sees b's heartbeat.
    await backend.heartbeat(_status("b", NOW + 180))
    assert await _hold(backend, "b", NOW + 180) == []
    assert await _hold(backend, "c", NOW + 181) == ["a", "c"]
    assert await _hold(backend, "b", NOW + 182) == ["b"]
    await backend.heartbeat(_status("a", NOW + 183))
    assert await _hold(backend, "c", NOW + 184) == ["c"]
    assert await _hold(backend, "a", NOW + 185) == ["a"]


async def test_a_node_without_a_heartbeat_or_whose_log_was_never_held_is_not_held(backend: Store) -> None:
    assert await _hold(backend, "a", NOW) == []
    await backend.heartbeat(_status("a", NOW + 100))
    # b's row as `store copy` brings it from an SQLite store: that store's one writer went by
    # one cursor for every node; b's own cursor says nothing of what is in the log files.
    await backend.heartbeat(_status("b", NOW))
    assert await _hold(backend, "a", NOW + 100) == ["a"]


async def test_of_two_would_be_adopters_at_once_one_gets_the_silent_node(make_store: MakeStore) -> None:
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    try:
        await one.heartbeat(_status("gone", NOW))
        assert await _hold(one, "gone", NOW) == ["gone"]  # its writer ran, then it went silent
        for name in ("a", "b"):
            await one.heartbeat(_status(name, NOW + 100))
        for turn in range(10):
            now = NOW + 100 + turn * 100  # each round, the previous holder's hold has run out
            for name in ("a", "b"):
                await one.heartbeat(_status(name, now))
            held = await asyncio.gather(_hold(one, "a", now), _hold(two, "b", now))
            assert sorted("gone" in h for h in held) == [False, True]
    finally:
        await one.close()
        await two.close()


async def test_a_cursor_moves_only_from_where_the_mover_read_it(backend: Store) -> None:
    assert await backend.move_cursor("logs/b", 0, 5)  # a missing cursor is at 0
    assert await backend.cursor("logs/b") == 5
    assert await backend.move_cursor("logs/b", 5, 9)
    assert not await backend.move_cursor("logs/b", 5, 7)  # another writer moved it meanwhile
    assert await backend.cursor("logs/b") == 9


async def test_a_node_is_forgotten_only_when_silent_and_its_events_are_logged(backend: Store) -> None:
    await backend.heartbeat(_status("gone", NOW))
    await backend.heartbeat(_status("live", NOW + 100))
    first, second = await _record(backend, "gone"), await _record(backend, "gone")
    await _record(backend, "live")
    dead_before = NOW + 100 - TAKEOVER
    assert await backend.forget_node("nobody", "logs/nobody", dead_before) is None
    assert await backend.forget_node("live", "logs/live", dead_before) == (NOW + 100, 1)
    assert await backend.forget_node("gone", "logs/gone", dead_before) == (NOW, 2)
    await backend.set_cursor("logs/gone", first)
    assert await backend.forget_node("gone", "logs/gone", dead_before) == (NOW, 1)
    assert sorted(n.name for n in await backend.nodes()) == ["gone", "live"]  # both refused
    await backend.set_cursor("logs/gone", second)
    assert await backend.forget_node("gone", "logs/gone", dead_before) == (NOW, 0)
    assert [n.name for n in await backend.nodes()] == ["live"]
    assert await backend.cursor("logs/gone") == second  # if it ever comes back, it goes on from there
    assert await _hold(backend, "live", NOW + 100) == ["live"]


async def test_settles_committed_together_each_check_their_own_lease(backend: Store) -> None:
    """Settles that arrive together (and are committed together) are each recorded as if
    alone: the one whose lease ran out records nothing, the others their attempt and event."""
    account = await _account(backend)
    await _submit(backend, account, ["a@example.net", "b@example.net", "c@example.net"])
    held = await backend.claim("n1/p-0-0", NOW, NOW + 60, 10)
    assert len(held) == 3
    await backend.renew("n1/p-0-0", [held[0].delivery_id, held[2].delivery_id], NOW + 600)
    # n1's lease of the second runs out, and n2 takes it over.
    [taken] = await backend.claim("n2/p-0-0", NOW + 61, NOW + 120, 10)
    assert taken.delivery_id == held[1].delivery_id
    policy = RetryPolicy()
    done = _outcome(Verdict.ACCEPTED, 250)

    def attempt(at: float) -> Attempt:
        return Attempt(1, at, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED)

    results = await asyncio.gather(
        *(backend.settle(job, attempt(NOW + 62), settle(job, done, NOW + 62, policy)) for job in held),
        backend.settle(taken, attempt(NOW + 63), settle(taken, done, NOW + 63, policy)),
    )
    first, lost, third, by_n2 = results
    assert lost is None
    assert None not in (first, third, by_n2) and len({first, third, by_n2}) == 3
    assert {e.id: e.event.delivery_id for e in await backend.events()} == {
        first: held[0].delivery_id,
        third: held[2].delivery_id,
        by_n2: taken.delivery_id,
    }
    for job in held:
        view = await backend.delivery(account.id, job.delivery_id)
        assert view is not None and view.state.value == "delivered"
        assert [a.time for a in view.history] == [NOW + 63 if job is held[1] else NOW + 62]
