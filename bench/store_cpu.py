#!/usr/bin/env python3
"""The store's own cost per message, as a relay uses it: SQLite and PostgreSQL, one run.

Each message is stored as `serve` stores what it accepts (`store.submit`, its one delivery
leased to this process's engine) and then settled as delivered (`store.settle`), by
`--concurrency` tasks at a time (1: a client sending one message at a time; 50: many
connections at once, whose writes the stores commit in groups). No SMTP and no other
process of returnpath: what is printed is messages per second and the CPU this process spent
per message (user and system, so the system calls of each round trip to PostgreSQL count),
which is the part of bench/relay.py's "relay CPU" that the store decides.

    python bench/store_cpu.py [--n 2000] [--concurrency 1,50] [--store sqlite,postgresql]

docs/scaling.md ("What was tried, and did not help", and what did, at its end) has what it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.postgres import private_postgres
from returnpath.core import ids
from returnpath.core.model import Account, Attempt, DeliveryJob, Outcome, Step, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.store.postgresql import PostgresStore
from returnpath.store.sqlite import SqliteStore

MIME = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: bench\r\n\r\n" + b"x" * 2000 + b"\r\n"
ACCEPTED = Outcome(Verdict.ACCEPTED, Step.EOM, 250, "2.0.0", "250 2.0.0 queued as 1234", "mx.example.net[127.0.0.1]:25")
OWNER = "bench/1"
WARMUP = 50  # messages per task before measuring


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(store: Store, n: int, concurrency: int) -> tuple[float, float]:
    """(messages per second, CPU milliseconds per message) for n messages."""
    await store.open()
    try:
        now = time.time()
        account = Account(ids.new_id(now), "bench", "bench")
        await store.create_account(account, "token", "hash", now)
        policy = RetryPolicy()

        async def one() -> None:
            now = time.time()
            delivery = NewDelivery(ids.new_id(now), "r@example.net", "b@b.test")
            submission = Submission(mail_from="a@example.com", recipients=(delivery.recipient,), mime=MIME)
            message = NewMessage(account.id, ids.new_id(now), submission, (delivery,), now, now + 86400)
            await store.submit(message, owner=OWNER, lease_until=now + 300)
            job = DeliveryJob(
                delivery.id, message.id, account.id, delivery.recipient, delivery.envelope_sender, MIME, 0, now,
                now + 86400, owner=OWNER,
            )  # fmt: skip
            attempt = Attempt(1, now, ACCEPTED.remote, Step.EOM, 250, "2.0.0", ACCEPTED.text, Verdict.ACCEPTED)
            await store.settle(job, attempt, settle(job, ACCEPTED, now, policy))

        async def task(count: int) -> None:
            for _ in range(count):
                await one()

        await asyncio.gather(*(task(WARMUP) for _ in range(concurrency)))
        began, cpu = time.perf_counter(), cpu_seconds()
        await asyncio.gather(*(task(n // concurrency) for _ in range(concurrency)))
        elapsed, spent = time.perf_counter() - began, cpu_seconds() - cpu
    finally:
        await store.close()
    done = n // concurrency * concurrency
    return done / elapsed, spent / done * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="messages measured per store and concurrency")
    parser.add_argument("--concurrency", default="1,50", help="tasks submitting and settling at once, comma-separated")
    parser.add_argument("--store", default="sqlite,postgresql", help="which stores, comma-separated")
    args = parser.parse_args()
    stores = args.store.split(",")
    unknown = [name for name in stores if name not in ("sqlite", "postgresql")]
    if unknown:
        parser.error(f"unknown store {unknown[0]!r}")
    print(f"# {args.n} messages each, load average {os.getloadavg()[0]:.1f} at the start")
    with private_postgres() as cluster, tempfile.TemporaryDirectory(prefix="rp-store-cpu-") as folder:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            for name in stores:
                store: Store
                if name == "sqlite":
                    store = SqliteStore(Path(folder) / f"store-{concurrency}.db")  # type: ignore[assignment]
                else:
                    store = PostgresStore(cluster.create_database(f"store_cpu_{concurrency}"), node="bench")
                rate, cpu = asyncio.run(measure(store, args.n, concurrency))
                print(f"{name:<11} concurrency {concurrency:>3}: {rate:7.0f} msgs/s  CPU {cpu:.3f} ms/msg", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
