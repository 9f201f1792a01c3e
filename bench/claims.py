#!/usr/bin/env python3
"""Claim throughput: deliveries per second claimed and settled, SQLite and PostgreSQL, one run.

N deliveries (100 recipients per message) are queued first. Then the delivery engine's two
store calls run as the engine makes them (delivery/engine.py): a poller claims up to
`max_held - held` due deliveries at a time, and `concurrency` session tasks each take a claimed
delivery and settle it (`store.settle` with a delivered outcome: the attempt, the delivery's
state and its `delivery` event, in one transaction). No SMTP: the store is what is measured.
The clock stops when all N are settled; the store is then asked that all N are delivered.
Beside the rate, the CPU each side spent per settle while claiming and settling (this process,
which is the relay's store code; and the PostgreSQL server's processes): on a machine busy
with other work the rate varies by half from run to run, the CPU per settle much less.

PostgreSQL runs in a private cluster (bench/postgres.py: loopback, fsync on). SQLite is a file
in a temporary folder (WAL, `synchronous = FULL`). `--max-batch 1` makes the PostgreSQL store
commit every write on its own (no group commit), to see what grouping buys.

`--processes` (default: one per core, as a node runs its workers) drains the queue with that
many processes at once, each claiming and settling as one worker's engine does, timed from the
moment all of them have opened the store; `--processes 1` is the figure of one worker alone,
as this benchmark measured before 2 Dec 2026.

    python bench/claims.py [--n 100000] [--store sqlite,postgresql] [--concurrency 100] [--processes 2]

Last measured (2-CPU development machine, busy with other work too: load about 4; runs vary
by half), `PYTHONPATH=src python bench/claims.py --store sqlite,postgresql`:

    store        deliveries  queue s  claim+settle s  per second  claims
    sqlite           100000      4.3            39.5        2530     589
    postgresql       100000     11.3            32.3        3100     998

Before PostgreSQL settled a group in one statement and claimed beside the groups, it was 941/s
(SQLite 2,859/s). store/postgresql/postgres_database.py says where the time goes. Since a group of
settles runs without BEGIN and COMMIT and a settle no longer locks its row before updating it
(1 Dec 2026, 15:46-15:54 UTC, load 1.1-1.5 at the starts):

    store        deliveries  queue s  claim+settle s  per second  claims
    sqlite           100000      3.4            23.5        4249     993
    postgresql       100000      4.0            17.8        5627     996
    sqlite           100000      4.2            32.2        3104     994
    postgresql       100000      5.5            18.8        5315     997

docs/scaling.md ("The figures", "History of the figures") has the runs before. With two
processes draining, as a node of two workers does (2 Dec 2026, 03:42 and 03:56 UTC, a quiet
machine; `python bench/claims.py --store sqlite,postgresql`, then `--store postgresql
--processes 1`):

    store        processes deliveries  queue s  claim+settle s  per second  claims  relay CPU us  server CPU us
    sqlite               2     100000      5.1            34.2        2921     969           298              0
    postgresql           2     100000      4.6            14.6        6861    1011            92            169
    postgresql           1     100000      6.0            20.1        4985    1000            96            180
    postgresql           2     100000      6.1            14.4        6951    1008            87            166
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.postgres import DATABASE, PrivateCluster, private_postgres
from bench.relay import cpu_seconds, process_cpu, process_tree
from returnpath.core import ids
from returnpath.core.model import Account, Attempt, DeliveryJob, DeliveryState, Outcome, Step, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.store.postgresql import PostgresStore
from returnpath.store.postgresql import postgres_database as pg_database
from returnpath.store.sqlite import SqliteStore

MIME = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n" + b"x" * 2000 + b"\r\n"
PER_MESSAGE = 100
ACCEPTED = Outcome(Verdict.ACCEPTED, Step.EOM, 250, "2.0.0", "250 2.0.0 queued as 1234", "mx.example.net[127.0.0.1]:25")


@dataclass
class Result:
    store: str
    n: int
    fill_s: float
    run_s: float
    claims: int
    #: CPU seconds spent while claiming and settling: this process's, the database server's.
    relay_cpu: float = 0.0
    server_cpu: float = 0.0
    processes: int = 1  # draining at once

    @property
    def per_second(self) -> float:
        return self.n / self.run_s


async def fill(store: Store, n: int) -> float:
    """Queue n deliveries for one account; seconds it took."""
    began = time.perf_counter()
    now = time.time()
    account = Account(ids.new_id(now), "bench", "bench")
    await store.create_account(account, "token", "hash", now)

    async def message(count: int) -> None:
        deliveries = tuple(NewDelivery(ids.new_id(now), f"r{i}@example.net", f"b{i}@b.test") for i in range(count))
        submission = Submission(mail_from="a@example.com", recipients=tuple(d.recipient for d in deliveries), mime=MIME)
        message = NewMessage(account.id, ids.new_id(now), submission, deliveries, now, now + 86400)
        await store.submit(message, owner=None, lease_until=now)

    sizes = [PER_MESSAGE] * (n // PER_MESSAGE) + ([n % PER_MESSAGE] if n % PER_MESSAGE else [])
    for start in range(0, len(sizes), 50):  # 50 submissions at a time, as concurrent clients
        await asyncio.gather(*(message(size) for size in sizes[start : start + 50]))
    return time.perf_counter() - began


async def drain(store: Store, concurrency: int, max_held: int, owner: str = "bench/1") -> tuple[int, int]:
    """Claim and settle, as the engine does, until nothing is left to claim and nothing is
    held; (deliveries settled, claims). With several processes draining one store, each stops
    when the others hold what is left."""
    queue: asyncio.Queue[DeliveryJob] = asyncio.Queue()
    held = settled = claims = 0
    policy = RetryPolicy()

    async def session() -> None:
        nonlocal held, settled
        while True:
            job = await queue.get()
            now = time.time()
            attempt = Attempt(1, now, ACCEPTED.remote, Step.EOM, 250, "2.0.0", ACCEPTED.text, Verdict.ACCEPTED)
            await store.settle(job, attempt, settle(job, ACCEPTED, now, policy))
            held -= 1
            settled += 1

    sessions = [asyncio.create_task(session()) for _ in range(concurrency)]
    try:
        while True:  # the poller: claims up to max_held - held at a time
            room = max_held - held
            jobs: list[DeliveryJob] = []
            if room > 0:
                now = time.time()
                jobs = await store.claim(owner, now, now + 300, room)
                claims += 1
                held += len(jobs)
                for job in jobs:
                    queue.put_nowait(job)
            if not jobs:
                if held == 0 and room > 0:
                    return settled, claims
                await asyncio.sleep(0.005)  # the engine sleeps poll_interval; here: soon again
    finally:
        for task in sessions:
            task.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)


@dataclass(frozen=True)
class Drainer:
    """What a process of its own needs to open the store and drain it (`--processes`)."""

    kind: str  # "sqlite" or "postgresql"
    where: str  # the SQLite file, or the PostgreSQL URL
    concurrency: int
    max_held: int
    max_batch: int = pg_database.MAX_BATCH

    def open(self) -> Store:
        pg_database.MAX_BATCH = self.max_batch  # a spawned process starts from the module's own
        if self.kind == "sqlite":
            return SqliteStore(Path(self.where))  # type: ignore[return-value]
        return PostgresStore(self.where)  # type: ignore[return-value]


def drain_process(drainer: Drainer, k: int, start: Barrier, results: Queue) -> None:  # type: ignore[type-arg]
    """One worker process: open the store, wait for the others, drain, report
    (settled, claims, CPU seconds, the wall clock at the end)."""

    async def run() -> tuple[int, int, float, float]:
        store = drainer.open()
        await store.open()
        try:
            await asyncio.to_thread(start.wait)
            cpu = process_cpu()
            settled, claims = await drain(store, drainer.concurrency, drainer.max_held, f"bench/{k}")
            return settled, claims, process_cpu() - cpu, time.time()
        finally:
            await store.close()

    results.put(asyncio.run(run()))


async def measure(
    name: str,
    store: Store,
    n: int,
    drainer: Drainer,
    processes: int = 1,
    analyze: Callable[[], object] = lambda: None,
    server: Callable[[], list[int]] = list,
) -> Result:
    """``server``: the database server's processes now (none for SQLite). With ``processes``
    > 1 the queue is drained by that many processes at once, as a node's workers do."""
    await store.open()
    try:
        fill_s = await fill(store, n)
        analyze()
        if processes == 1:
            relay_cpu, server_cpu = process_cpu(), cpu_seconds(server())
            began = time.perf_counter()
            settled, claims = await drain(store, drainer.concurrency, drainer.max_held)
            run_s = time.perf_counter() - began
            relay_cpu, server_cpu = process_cpu() - relay_cpu, cpu_seconds(server()) - server_cpu
        else:
            settled, claims, run_s, relay_cpu, server_cpu = await asyncio.to_thread(
                drain_apart, drainer, processes, server
            )
        summary = await store.queue_summary()
        assert settled == n and summary[DeliveryState.DELIVERED.value] == n, (settled, summary)
    finally:
        await store.close()
    return Result(name, n, fill_s, run_s, claims, relay_cpu, server_cpu, processes)


def drain_apart(
    drainer: Drainer, processes: int, server: Callable[[], list[int]]
) -> tuple[int, int, float, float, float]:
    """Drain with `processes` processes at once, timed from the moment all have opened the
    store; (settled, claims, seconds, their CPU seconds, the server's)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes + 1)
    results = context.Queue()
    workers = [
        context.Process(target=drain_process, args=(drainer, k, start, results)) for k in range(1, processes + 1)
    ]
    for worker in workers:
        worker.start()
    start.wait()
    began, server_cpu = time.time(), cpu_seconds(server())
    reports = [results.get(timeout=3600) for _ in workers]
    server_cpu = cpu_seconds(server()) - server_cpu
    for worker in workers:
        worker.join()
    return (
        sum(r[0] for r in reports),
        sum(r[1] for r in reports),
        max(r[3] for r in reports) - began,
        sum(r[2] for r in reports),
        server_cpu,
    )


def postmaster_tree(cluster: PrivateCluster) -> list[int]:
    """The cluster's postmaster and its children, the backends."""
    with open(cluster.data / "postmaster.pid") as f:
        return process_tree(int(f.readline()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="deliveries queued and then claimed and settled")
    parser.add_argument("--store", default="sqlite,postgresql", help="which stores, comma-separated")
    parser.add_argument("--concurrency", type=int, default=100, help="session tasks settling ([delivery] concurrency)")
    parser.add_argument("--max-held", type=int, default=500, help="deliveries held at most (engine.MAX_HELD)")
    parser.add_argument(
        "--processes",
        type=int,
        default=os.cpu_count() or 1,
        help="processes claiming and settling at once, as a node's workers (default: one per core, a node's default)",
    )
    parser.add_argument("--max-batch", type=int, default=pg_database.MAX_BATCH, help="PostgreSQL: writes per commit")
    args = parser.parse_args()
    pg_database.MAX_BATCH = args.max_batch
    results: list[Result] = []
    for name in args.store.split(","):
        print(f"{name}: queueing {args.n} deliveries, then claiming and settling them ...", file=sys.stderr)
        if name == "sqlite":
            with tempfile.TemporaryDirectory(prefix="rp-claims-") as folder:
                path = Path(folder) / "store.db"
                drainer = Drainer(name, str(path), args.concurrency, args.max_held, args.max_batch)
                results.append(asyncio.run(measure(name, drainer.open(), args.n, drainer, args.processes)))
        elif name == "postgresql":
            with private_postgres() as cluster:
                drainer = Drainer(name, cluster.url, args.concurrency, args.max_held, args.max_batch)
                # ANALYZE after the fill, as autovacuum does within a minute of a table's
                # growth: the statements' cached plans are otherwise those of empty tables.
                analyze = partial(cluster.psql, "ANALYZE", DATABASE)
                server = partial(postmaster_tree, cluster)
                result = measure(name, drainer.open(), args.n, drainer, args.processes, analyze, server)
                results.append(asyncio.run(result))
        else:
            parser.error(f"unknown store {name!r}")
    header = f"{'store':<12}{'processes':>10}{'deliveries':>11}{'queue s':>9}{'claim+settle s':>16}{'per second':>12}{'claims':>8}"
    print(f"\n{header}{'relay CPU us':>14}{'server CPU us':>15}  (per settle)")
    for r in results:
        row = (
            f"{r.store:<12}{r.processes:>10}{r.n:>11}{r.fill_s:>9.1f}{r.run_s:>16.1f}{r.per_second:>12.0f}{r.claims:>8}"
        )
        print(f"{row}{r.relay_cpu / r.n * 1e6:>14.0f}{r.server_cpu / r.n * 1e6:>15.0f}")
    by_name = {r.store: r for r in results}
    if "sqlite" in by_name and "postgresql" in by_name:
        ratio = by_name["postgresql"].per_second / by_name["sqlite"].per_second
        print(f"\npostgresql / sqlite: {ratio:.2f}x  (max batch {args.max_batch}, concurrency {args.concurrency})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
