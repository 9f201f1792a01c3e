"""A node gone for good leaves its last events, recorded but not yet in its log files, in the
store: a live node writes them to its own files (logs.py), once, and purges go on. Several
writers for several nodes on one PostgreSQL database, as `serve` runs them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from returnpath import logs
from returnpath.core.ports import NodeStatus, Store
from returnpath.logs import LogWriter, cursor_name
from returnpath.store.postgresql import PostgresStore
from tests.hostile.events import an_account, record_outcomes

TAKEOVER = 1.0  # seconds of silence after which a node is taken for gone (60 in `serve`)

Nodes = Callable[[str], PostgresStore]


@pytest.fixture
async def node(pg_url: str) -> AsyncIterator[Nodes]:
    """`node(name)`: an open store of that node on the test's database (one per name)."""
    stores: dict[str, PostgresStore] = {}

    def make(name: str) -> PostgresStore:
        return stores[name]

    for name in ("a", "b", "c"):
        stores[name] = PostgresStore(pg_url, node=name)
        await stores[name].open()
    yield make
    for store in stores.values():
        await store.close()


async def beat(store: Store, at: float | None = None) -> None:
    at = time.time() if at is None else at
    await store.heartbeat(NodeStatus(store.node, socket.gethostname(), os.getpid(), "test", "", at, at))


def writer(store: Store, folder: Path) -> LogWriter:
    return LogWriter(store, folder / store.node, node=store.node, takeover_after=TAKEOVER)


def lines(folder: Path) -> list[dict[str, object]]:
    """Every line of every log file under `folder`."""
    return [json.loads(line) for path in sorted(folder.glob("*.log")) for line in path.read_text().splitlines()]


def written(folder: Path, node: str) -> list[object]:
    """The event ids in the files of `node` (folder/node), of events recorded by any node."""
    return sorted(line["event_id"] for line in lines(folder / node))  # type: ignore[type-var]


async def events_of(store: Store, node: str) -> list[int]:
    return [e.id for e in await store.events(node=node, limit=10_000)]


async def b_goes_silent_with_events_unwritten(node: Nodes, tmp_path: Path) -> tuple[list[int], list[int]]:
    """b writes its first two events, records three more and goes silent; returns the ids of
    the ones it wrote and of the ones it did not."""
    a, b = node("a"), node("b")
    account = await an_account(a)
    await beat(a)
    await beat(b)
    await record_outcomes(b, account, ["one@example.test", "rcpt-550-two@example.test"])
    first = await events_of(b, "b")
    assert await writer(b, tmp_path).drain() == 2
    await record_outcomes(b, account, ["three@example.test", "four@example.test", "rcpt-550-five@example.test"])
    late = [i for i in await events_of(b, "b") if i not in first]
    await record_outcomes(a, account, ["six@example.test"])  # a's own
    await asyncio.sleep(TAKEOVER + 0.1)  # b's hold on its own log runs out; its heartbeat is old
    return first, late


async def test_a_silent_nodes_events_are_written_by_a_live_node_once(node: Nodes, tmp_path: Path) -> None:
    first, late = await b_goes_silent_with_events_unwritten(node, tmp_path)
    a, b = node("a"), node("b")
    assert await logs.logged(a, ["a", "b"]) == late[0] - 1  # b's waiting events hold purges back
    await beat(a)
    adopter = writer(a, tmp_path)
    assert await adopter.drain() == 4  # a's own event and b's three
    assert adopter.held == ["a", "b"]
    assert written(tmp_path, "b") == first
    own = await events_of(a, "a")
    assert written(tmp_path, "a") == sorted(own + late)
    # The lines say who recorded each event.
    assert {line["event_id"]: line["node"] for line in lines(tmp_path / "a")} == {
        **{i: "b" for i in late},
        **{i: "a" for i in own},
    }
    assert await b.cursor(cursor_name("b")) == late[-1]
    assert await adopter.drain() == 0  # nothing twice
    # Nothing of b waits now: purges may delete every event.
    assert await logs.logged(a, ["a", "b"]) == max(own + late)
    assert await a.purge_events(time.time() + 1, max(own + late), 100) == len(first + late + own)


async def test_of_two_would_be_adopters_one_writes_the_silent_nodes_events(node: Nodes, tmp_path: Path) -> None:
    first, late = await b_goes_silent_with_events_unwritten(node, tmp_path)
    a, c = node("a"), node("c")
    await beat(a)
    await beat(c)
    one, two = writer(a, tmp_path), writer(c, tmp_path)
    await asyncio.gather(one.drain(), two.drain())
    await asyncio.gather(one.drain(), two.drain())
    assert sorted(["b" in one.held, "b" in two.held]) == [False, True]
    every = written(tmp_path, "a") + written(tmp_path, "b") + written(tmp_path, "c")
    assert sorted(every) == sorted(first + late + await events_of(a, "a"))  # each once


async def test_a_node_that_comes_back_writes_nothing_its_adopter_wrote(node: Nodes, tmp_path: Path) -> None:
    first, late = await b_goes_silent_with_events_unwritten(node, tmp_path)
    a, b = node("a"), node("b")
    await beat(a)
    adopter = writer(a, tmp_path)
    await adopter.drain()
    # b starts again: a fresh process, heartbeat first (as `serve` does).
    await beat(b)
    back = writer(b, tmp_path)
    account = await a.account_by_token("token-app")
    assert account is not None
    assert await back.drain() == 0 and back.held == []  # a holds b's log still: b waits
    await asyncio.sleep(TAKEOVER / 4 + 0.05)  # a asks the store again every TAKEOVER / 4
    await adopter.drain()
    assert adopter.held == ["a"]  # a sees b's heartbeat and lets go
    await record_outcomes(b, account, ["seven@example.test"])
    newest = (await events_of(b, "b"))[-1]
    await asyncio.sleep(TAKEOVER / 4 + 0.05)  # so does b, waiting for its own
    assert await back.drain() == 1 and back.held == ["b"]
    assert written(tmp_path, "b") == [*first, newest]
    assert written(tmp_path, "a") == sorted(late + await events_of(a, "a"))
