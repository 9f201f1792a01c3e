#!/usr/bin/env python3
"""How many wake-up notices (LISTEN/NOTIFY, store/postgresql/postgres_wakeups.py) PostgreSQL work sends:
bench/claims.py's two phases, one run, with a second store (another process, as far as the
server can tell) listening and counting what it hears.

- queue: N deliveries submitted without a lease, 100 per message, 50 messages at a time (each
  message is work any engine may claim: it wants a notice, but not one per message);
- claim and settle them all, as the engine does (the hot path: it should send none).

After each phase a third store commits returned mail; its notice comes after every earlier one
(notices arrive in commit order), so the counts are complete when it is heard.

    python bench/wakeups.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.claims import PER_MESSAGE, drain, fill
from bench.postgres import private_postgres
from returnpath.core import ids
from returnpath.core.model import Returned
from returnpath.core.ports import WORK_KINDS, WorkKind
from returnpath.store.postgresql import PostgresStore


class Counted:
    def __init__(self, store: PostgresStore) -> None:
        self.counts: Counter[WorkKind] = Counter()
        self.changed = asyncio.Event()
        for kind in WORK_KINDS:
            store.wakeups.subscribe(kind, lambda kind=kind: self.hear(kind))  # type: ignore[misc]

    def hear(self, kind: WorkKind) -> None:
        self.counts[kind] += 1
        self.changed.set()

    async def until(self, kind: WorkKind, count: int) -> None:
        while self.counts[kind] < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)


async def marker(url: str, heard: Counted) -> None:
    """Commit returned mail through a third store and wait until it is heard."""
    third = PostgresStore(url)
    await third.open()
    try:
        want = heard.counts["returns"] + 1
        await third.receive(Returned(ids.new_id(0), "", ("b@b.test",), (), None, 0.0, b"x"))
        await heard.until("returns", want)
    finally:
        await third.close()


async def run(url: str, n: int, concurrency: int, max_held: int) -> None:
    store, listener = PostgresStore(url), PostgresStore(url)
    await store.open()
    await listener.open()
    try:
        heard = Counted(listener)
        for kind in WORK_KINDS:
            await heard.until(kind, 1)  # listening (it wakes everybody once when it begins)
        start = heard.counts.copy()
        fill_s = await fill(store, n)
        await marker(url, heard)
        after_fill = heard.counts.copy()
        run_s, claims = await drain(store, n, concurrency, max_held)
        await marker(url, heard)
        after_drain = heard.counts.copy()
    finally:
        await store.close()
        await listener.close()
    messages = -(-n // PER_MESSAGE)
    print(f"\n{'phase':<18}{'commits asked':>14}{'seconds':>9}{'deliveries notices':>20}{'posts':>7}")
    print(f"{'queue':<18}{messages:>14}{fill_s:>9.1f}{after_fill['deliveries'] - start['deliveries']:>20}", end="")
    print(f"{after_fill['posts'] - start['posts']:>7}")
    print(f"{'claim + settle':<18}{n + claims:>14}{run_s:>9.1f}", end="")
    print(f"{after_drain['deliveries'] - after_fill['deliveries']:>20}{after_drain['posts'] - after_fill['posts']:>7}")
    print(f"\nclaim+settle: {n / run_s:.0f} deliveries/s (compare bench/claims.py --store postgresql --n {n})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="deliveries queued and then claimed and settled")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--max-held", type=int, default=500)
    args = parser.parse_args()
    with private_postgres() as cluster:
        asyncio.run(run(cluster.url, args.n, args.concurrency, args.max_held))
    return 0


if __name__ == "__main__":
    sys.exit(main())
