#!/usr/bin/env python3
"""Feedback-loop dispatch speed: events per second posted to a loopback receiver, in one run.

Scenarios (issue 4, "Benchmark"): one endpoint; 50 endpoints; 50 endpoints with 10% of the
requests answered 500 (retried after a few milliseconds until they succeed). Each posts N
`refused` failures (form bodies, signed), one outbox item per event, through the real
dispatcher and its h11 poster with the default limits (8 posts in flight per endpoint).

Our side, three ways:
- sqlite: the store's outbox (SqliteStore, a file on disk, WAL and `synchronous = FULL`),
  filled with the N events beforehand; from the dispatcher's start until the dispatcher has
  settled N items done. The store is then asked: exactly N items, every one done.
- sqlite streaming: the same store, empty at the start; a producer in the same process inserts
  the events in batches as fast as its commits allow and calls `notify()` after each commit,
  as the relay does. Posted events per second until the last is done (the CPU figure includes
  the inserts), and the lag of each event from its commit to its post reaching the receiver.
- memory: the in-memory outbox of the tests (tests/webhooks/memory.py), pre-filled: dispatch
  alone; the difference with sqlite is what the store costs.

The other side, from the same run: httpx alone posting the same bodies over the same number of
connections, with no outbox, payload, signature or bookkeeping: the ceiling of a dispatcher
built on httpx. "x httpx" is events/s divided by httpx alone's (the 50 endpoints figure for
50-failing). The receiver is a lean asyncio HTTP/1.1 sink in its own process (as Postfix's
smtp-sink is in bench/relay.py): it answers, notes when each webhook-id first got its 200, and
counts requests, so the dispatcher is what is measured.

Test-only settings, so that a run ends: failed posts come back after 1-50 ms (BENCH_BACKOFF),
an endpoint's circuit cools down for 50 ms (BENCH_BREAKER), and the dispatcher polls every
50 ms.

    python bench/webhooks.py [--n 10000] [--only 1,50,50-failing] [--rate EVENTS_PER_S]

`--n 500` is a quick smoke run. `--rate` paces the streaming producer, to see the lag at a
rate the dispatcher keeps up with. One run on the 2-CPU development machine (shared, noisy;
one run, as is; the store on ext4):

    scenario    outbox            events/s  requests cpu ms/event  x httpx inserted/s  lag p50  p99 ms
    1           httpx alone           1227     10000         0.81      1.0
    1           memory                5210     10000         0.19      4.2
    1           sqlite                3029     10000         0.33      2.5
    1           sqlite streaming      2246     10000         0.43      1.8       8020     1806    3171
    50          httpx alone           1155     10000         0.86      1.0
    50          memory                4170     10000         0.24      3.6
    50          sqlite                2864     10000         0.37      2.5
    50          sqlite streaming      2072     10000         0.49      1.8       2080       11      38
    50-failing  memory                3853     11087         0.25      3.3
    50-failing  sqlite                2854     11087         0.35      2.5
    50-failing  sqlite streaming      1821     11087         0.55      1.6       1846       14     104

(The outbox was filled at 19,000-26,000 events/s, 1,000 a transaction.) Reading it:
- one endpoint, streaming: the producer inserts faster (8,000/s) than one endpoint with 8
  posts in flight drains, so a backlog and its lag grow; at 50 endpoints the producer, which
  shares the two CPUs and the store's one writer thread with the dispatcher, is the limit and
  the lag stays around 11 ms.
- What the first version of this run found, and was fixed: a claim numbered every due row of
  the outbox with a window function (140 ms a claim at 100,000 pending); it is now one indexed
  walk per loop with pending items (a partial index of pending items). And an endpoint filled
  by a claim after a notify stopped claiming as its posts ended (568 events/s streaming to
  one endpoint); tests/webhooks/test_dispatcher.py has the case.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import httpx
from tests.webhooks import samples
from tests.webhooks.memory import MemoryOutbox

from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.core.feedback import Call, Format, Loop, PostSettlement, PostState
from returnpath.core.model import Account
from returnpath.core.ports import Outbox
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.sqlite_store import _insert_event
from returnpath.webhooks.dispatcher import Dispatcher, Limits
from returnpath.webhooks.h11poster import H11Poster
from returnpath.webhooks.payloads import encode, payload
from returnpath.webhooks.policy import Backoff, BreakerPolicy
from returnpath.webhooks.signing import new_secret

BENCH_BACKOFF = Backoff(first=0.01, max_interval=0.05, min_interval=0.001)
BENCH_BREAKER = BreakerPolicy(cooldown=0.05, max_cooldown=0.5)
LIMITS = Limits(allow_private_targets=True, poll_interval=0.05)
FILL_BATCH = 1000  # events per transaction when the outbox is filled beforehand
PRODUCER_BATCH = 50  # events per transaction of the streaming producer


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoints: int
    failing: float  # share of requests the receiver answers 500


SCENARIOS = (Scenario("1", 1, 0.0), Scenario("50", 50, 0.0), Scenario("50-failing", 50, 0.10))


@dataclass
class Figures:
    events: int
    seconds: float
    cpu: float  # seconds of this process's CPU
    requests: int = 0  # as the receiver counted them
    lags: list[float] | None = None  # seconds from commit to arrival, streaming only
    inserted_in: float | None = None  # seconds until the producer's last commit, streaming only

    @property
    def rate(self) -> float:
        return self.events / self.seconds


# ---- the receiver: a lean HTTP/1.1 sink in its own process -------------------------------------


@dataclass
class _Seen:
    requests: int = 0
    ok: int = 0  # 200 answers
    arrivals: dict[str, float] = field(default_factory=dict)  # webhook-id -> its first 200


class _Sink(asyncio.Protocol):
    """Reads requests with a Content-Length body; answers 200 (or 500 for a share of them).
    `GET /_report` answers what it saw: requests, and when each webhook-id first got a 200
    (`time.monotonic()`, the same clock in every process of the machine)."""

    def __init__(self, failing: float, rng: random.Random, seen: _Seen) -> None:
        self.failing, self.rng, self.seen, self.buffer = failing, rng, seen, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[: end + 2]
            length = int(_header(head, b"content-length") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if head.startswith(b"GET /_report "):
                body = json.dumps(asdict(self.seen)).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
                continue
            self.seen.requests += 1
            if self.rng.random() < self.failing:
                self.transport.write(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\nfail")
                continue
            self.seen.ok += 1
            self.seen.arrivals.setdefault((_header(head, b"webhook-id") or b"-").decode(), time.monotonic())
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


def _header(head: bytes, name: bytes) -> bytes | None:
    """A header's value in a request head (ending with CRLF), by its lowercase name."""
    at = head.lower().find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    return head[start : head.index(b"\r\n", start)].strip()


async def _serve_sink(failing: float) -> None:
    seen = _Seen()
    rng = random.Random(4)
    server = await asyncio.get_running_loop().create_server(
        lambda: _Sink(failing, rng, seen), "127.0.0.1", 0, backlog=1024
    )
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


class Receiver:
    """The sink process, started fresh for each measurement."""

    def __init__(self, failing: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "_sink", str(failing)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        ready, port = self.proc.stdout.readline().split()
        assert ready == "ready"
        self.port = int(port)

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{i}"

    def report(self) -> tuple[int, int, dict[str, float]]:
        """Requests, 200 answers, and when each webhook-id first got its 200."""
        seen = httpx.get(f"http://127.0.0.1:{self.port}/_report").json()
        return seen["requests"], seen["ok"], seen["arrivals"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


# ---- the outboxes ----------------------------------------------------------------------------


class Counted:
    """An outbox that tells when `n` items have been settled done (checked in the store after)."""

    def __init__(self, outbox: Outbox, n: int) -> None:
        self.outbox, self.n, self.done = outbox, n, 0
        self.all_done = asyncio.Event()

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
        return await self.outbox.claim(owner, now, lease_until, limit=limit, per_loop=per_loop, skip_loops=skip_loops)

    async def settle(self, owner: str, item_id: str, settlement: PostSettlement) -> Loop | None:
        loop = await self.outbox.settle(owner, item_id, settlement)
        if settlement.state is PostState.DONE:
            self.done += 1
            if self.done >= self.n:
                self.all_done.set()
        return loop

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        await self.outbox.release(owner, item_ids, due_at)


def make_events(n: int, accounts: Sequence[str]) -> list[Event]:
    """N refused failures as the core makes them, spread over the accounts (one loop each),
    each with its own delivery id (by which the lag is measured)."""
    template = samples.refused(at=time.time())
    now = time.time()
    return [
        replace(template, account_id=accounts[i % len(accounts)], delivery_id=ids.new_id(now), time=now + i * 1e-6)
        for i in range(n)
    ]


async def open_store(directory: Path, scenario: Scenario, receiver: Receiver) -> tuple[SqliteStore, list[Loop]]:
    """A new store with one account and one loop (wanting every event kind) per endpoint."""
    store = SqliteStore(directory / "store.db")
    await store.open()
    now = time.time()
    loops = []
    for i in range(scenario.endpoints):
        account = Account(ids.new_id(now), f"bench{i}", f"bench{i}")
        await store.create_account(account, f"token-{i}", "hash", now)
        loops.append(
            await store.create_loop(
                Loop(ids.new_id(now), account.id, receiver.url(i), frozenset(EventKind), new_secret(), Format.FORM), now
            )
        )
    return store, loops


async def insert(store: SqliteStore, events: Sequence[Event]) -> None:
    """Store events with their outbox items in one transaction, as the relay's settle does."""
    now = time.time()
    await store.db.write(lambda conn: [_insert_event(conn, event, now, store.loop_window) for event in events])


async def check_store(store: SqliteStore, n: int) -> None:
    states = dict(
        await store.db.read(lambda c: c.execute("SELECT state, count(*) FROM loop_posts GROUP BY state").fetchall())
    )
    assert states == {PostState.DONE.value: n}, f"the outbox holds {states}, not {n} items done"


# ---- our side --------------------------------------------------------------------------------


async def dispatch(
    outbox: Outbox, n: int, producer: Callable[[Dispatcher], Coroutine[Any, Any, float]] | None = None
) -> Figures:
    """Run the dispatcher over the outbox until it has settled N items done."""
    counted = Counted(outbox, n)
    poster = H11Poster(timeout=LIMITS.timeout, per_endpoint=LIMITS.per_endpoint)
    dispatcher = Dispatcher(counted, poster, owner="bench", limits=LIMITS, backoff=BENCH_BACKOFF, breaker=BENCH_BREAKER)
    cpu, began = time.process_time(), time.perf_counter()
    await dispatcher.start()
    produced = asyncio.create_task(producer(dispatcher)) if producer else None
    try:
        await asyncio.wait_for(counted.all_done.wait(), 60 + n / 100)
    except TimeoutError:
        raise SystemExit(
            f"only {counted.done} of {n} items were done after {time.perf_counter() - began:.0f}s"
        ) from None
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    inserted_in = await produced - began if produced else None
    await dispatcher.stop()
    await poster.close()
    return Figures(n, took, cpu, inserted_in=inserted_in)


async def memory(scenario: Scenario, n: int, receiver: Receiver) -> Figures:
    outbox = MemoryOutbox()
    loops = [
        outbox.add_loop(samples.loop(f"loop{i}", receiver.url(i), account=f"acct{i:022d}"))
        for i in range(scenario.endpoints)
    ]
    now = time.time()
    for event in make_events(n, [loop.account_id for loop in loops]):
        outbox.publish(event, now)
    figures = await dispatch(outbox, n)
    assert len(outbox.in_state(PostState.DONE)) == len(outbox.items) == n
    return figures


async def sqlite(scenario: Scenario, n: int, receiver: Receiver) -> Figures:
    with tempfile.TemporaryDirectory(prefix="rp-bench-") as directory:
        store, loops = await open_store(Path(directory), scenario, receiver)
        try:
            events = make_events(n, [loop.account_id for loop in loops])
            began = time.perf_counter()
            for start in range(0, n, FILL_BATCH):
                await insert(store, events[start : start + FILL_BATCH])
            filled = time.perf_counter() - began
            print(
                f"#   (filled the outbox with {n} events at {n / filled:.0f}/s, {FILL_BATCH} a transaction)", flush=True
            )
            figures = await dispatch(store.outbox, n)
            await check_store(store, n)
        finally:
            await store.close()
    return figures


async def sqlite_streaming(scenario: Scenario, n: int, receiver: Receiver, rate: float = 0) -> Figures:
    """The producer inserts as fast as its commits allow, or `rate` events per second."""
    with tempfile.TemporaryDirectory(prefix="rp-bench-") as directory:
        store, loops = await open_store(Path(directory), scenario, receiver)
        try:
            events = make_events(n, [loop.account_id for loop in loops])
            committed: dict[str, float] = {}  # delivery id -> when its event was committed

            async def produce(dispatcher: Dispatcher) -> float:
                began = time.perf_counter()
                for start in range(0, n, PRODUCER_BATCH):
                    if rate and (ahead := began + start / rate - time.perf_counter()) > 0:
                        await asyncio.sleep(ahead)
                    batch = events[start : start + PRODUCER_BATCH]
                    await insert(store, batch)
                    at = time.monotonic()
                    committed.update((event.delivery_id, at) for event in batch)
                    dispatcher.notify()
                return time.perf_counter()

            figures = await dispatch(store.outbox, n, produce)
            await check_store(store, n)
            rows = await store.db.read(
                lambda c: c.execute(
                    "SELECT o.id, e.delivery_id FROM loop_posts o JOIN events e ON e.id = o.event_id"
                ).fetchall()
            )
        finally:
            await store.close()
    _, _, arrivals = receiver.report()
    figures.lags = [arrivals[f"msg_{item_id}"] - committed[delivery_id] for item_id, delivery_id in rows]
    return figures


# ---- the other side --------------------------------------------------------------------------


async def httpx_alone(scenario: Scenario, n: int, receiver: Receiver) -> Figures:
    """The same bodies posted by httpx, as fast as it goes, over the same connections."""
    _, body = encode(payload(1, samples.refused(), None), Format.FORM)
    per = LIMITS.per_endpoint
    clients = [
        httpx.AsyncClient(limits=httpx.Limits(max_connections=per, max_keepalive_connections=per))
        for _ in range(scenario.endpoints)
    ]
    left = n

    async def worker(client: httpx.AsyncClient, url: str) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await client.post(
                url,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "webhook-id": f"msg_{left}"},
            )

    cpu, began = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(c, receiver.url(i)) for i, c in enumerate(clients) for _ in range(per)))
    took, cpu = time.perf_counter() - began, time.process_time() - cpu
    for client in clients:
        await client.aclose()
    return Figures(n, took, cpu)


# ---- the run ---------------------------------------------------------------------------------

Side = Callable[[Scenario, int, Receiver], Coroutine[Any, Any, Figures]]


def our_sides(rate: float) -> dict[str, Side]:
    return {"memory": memory, "sqlite": sqlite, "sqlite streaming": functools.partial(sqlite_streaming, rate=rate)}


def measure(side: Side, scenario: Scenario, n: int) -> Figures:
    """One side of one scenario against a fresh receiver; every event posted, and counted."""
    receiver = Receiver(scenario.failing)
    try:
        figures = asyncio.run(side(scenario, n, receiver))
        figures.requests, ok, arrivals = receiver.report()
    finally:
        receiver.stop()
    assert len(arrivals) == n, f"{len(arrivals)} distinct events reached the receiver, not {n}"
    if ok != n:
        print(f"#   ({ok - n} events were posted twice)")
    return figures


def row(scenario: str, side: str, figures: Figures, ceiling: Figures) -> str:
    line = (
        f"{scenario:<11} {side:<17} {figures.rate:>8.0f} {figures.requests:>9} "
        f"{figures.cpu / figures.events * 1000:>12.2f} {figures.rate / ceiling.rate:>8.1f}"
    )
    if figures.lags and figures.inserted_in:
        lags = sorted(figures.lags)
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))]
        line += (
            f" {figures.events / figures.inserted_in:>10.0f} {statistics.median(lags) * 1000:>8.0f} {p99 * 1000:>7.0f}"
        )
    return line


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "_sink":
        asyncio.run(_serve_sink(float(sys.argv[2])))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="events per scenario")
    parser.add_argument("--only", default="", help="comma-separated scenario names: 1, 50, 50-failing")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="events/s the streaming producer inserts (default: as fast as its commits allow)",
    )
    args = parser.parse_args()
    wanted = set(filter(None, args.only.split(",")))
    print(
        f"# {args.n} events per scenario; {os.cpu_count()} CPUs; the receiver in its own process; "
        f"the store in {tempfile.gettempdir()}; streaming producer at "
        f"{f'{args.rate:g} events/s' if args.rate else 'its fastest'}, {PRODUCER_BATCH} a transaction"
    )
    print(
        f"{'scenario':<11} {'outbox':<17} {'events/s':>8} {'requests':>9} {'cpu ms/event':>12} {'x httpx':>8} "
        f"{'inserted/s':>10} {'lag p50':>8} {'p99 ms':>7}"
    )
    ceilings: dict[int, Figures] = {}  # httpx alone, by number of endpoints
    for scenario in SCENARIOS:
        if wanted and scenario.name not in wanted:
            continue
        if scenario.endpoints not in ceilings:  # measured against a healthy receiver: httpx does not retry
            healthy = replace(scenario, name=str(scenario.endpoints), failing=0.0)
            ceiling = ceilings[scenario.endpoints] = measure(httpx_alone, healthy, args.n)
            print(row(healthy.name, "httpx alone", ceiling, ceiling), flush=True)
        for side, run in our_sides(args.rate).items():
            figures = measure(run, scenario, args.n)
            print(row(scenario.name, side, figures, ceilings[scenario.endpoints]), flush=True)


if __name__ == "__main__":
    main()
