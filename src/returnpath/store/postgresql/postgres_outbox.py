"""Feedback loops on PostgreSQL: the fan-out of events into `loop_posts`, the event insert that
goes with it, and the `core.ports.Outbox` the dispatchers of every node claim from."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ...core import ids
from ...core.events import Event, EventKind
from ...core.feedback import Call, Loop, PostSettlement
from ...core.ports import Wakeups
from .. import rows as from_row
from ..sql import load_queries
from .postgres_database import EVENTS_LOCK, Batched, PostgresDatabase, Tx, lone, one_round, rounds

Q = load_queries(__package__, "queries.sql")
_SETTLE_ONE = lone(Q["settle_posts"], "s")

WINDOW = 3 * 86400.0  # the retry window of a new (or replayed) post; [webhooks] retry_window


async def insert_event(tx: Tx, event: Event, now: float, window: float, node: str) -> int:
    """Insert an event and, in the same transaction, one post per loop (paused ones too) of the
    event's account that wants its kind; events of no account go nowhere. Returns the event's
    id. Takes the events lock (database.EVENTS_LOCK), held until the commit: call it last in a
    transaction, after its other writes."""
    params = {
        "lock": EVENTS_LOCK,
        "kind": event.kind.value,
        "delivery_id": event.delivery_id,
        "message_id": event.message_id,
        "account_id": event.account_id,
        "time": event.time,
        "data": json.dumps(event.data),
        "node": node,
    }
    row = await (await tx.execute(Q["insert_event"], params)).fetchone()
    assert row is not None  # RETURNING
    event_id = int(row[0])
    await insert_posts(tx, [(event_id, event, row[1], now)], window)
    return event_id


async def insert_posts(tx: Tx, fanout: Sequence[tuple[int, Event, Sequence[str], float]], window: float) -> None:
    """Insert the posts of stored events: for each (event id, event, ids of the loops that want
    it as insert_event's or settle_deliveries' RETURNING names them, now), one per loop, due now."""
    rows = [
        (ids.new_id(now), loop_id, event_id, event.time, now, now + window, now)
        for event_id, event, loop_ids, now in fanout
        for loop_id in loop_ids
    ]
    await tx.executemany(Q["insert_post"], rows)
    tx.posts += len(rows)


def loop_from_row(row: Sequence[Any]) -> Loop:
    """A loop from a row whose last column is its event kinds as an array."""
    return from_row.loop(row[:-1], row[-1] or ())


class PostgresOutbox:
    """`core.ports.Outbox` over the store's database."""

    def __init__(self, db: PostgresDatabase, wakeups: Wakeups) -> None:
        self.db = db
        self.wakeups = wakeups

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (a dispatcher's `notify`) whenever this process has committed new
        posts, and when another process replayed or released some (postgres_wakeups.py)."""
        self.wakeups.subscribe("posts", listener)

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
        if limit <= 0 or per_loop <= 0:
            return []
        params = {
            "owner": owner,
            "until": lease_until,
            "now": now,
            "limit": limit,
            "per_loop": per_loop,
            "skip": sorted(skip_loops),
        }

        async def op(tx: Tx) -> list[Call]:
            return [_call(row) for row in await (await tx.execute(Q["claim_posts"], params)).fetchall()]

        # One statement (queries.sql, claim_posts), beside the writer's groups, as the claims
        # of deliveries: a dispatcher woken by each group of events it made never holds up
        # the next group's commit.
        return await self.db.write_apart(op)

    async def settle(self, owner: str, item_id: str, settlement: PostSettlement) -> Loop | None:
        # Batched: the post settles a group commits are one statement (settle_posts). With a
        # loop, every event's post is settled: alone, each was an UPDATE of its own in the
        # group, 1 of the 2.6 statements a message made at `bench/relay.py --only
        # returnpath+loop --store postgresql --load lean:50 --pg-stats 12`.
        settle: _PostSettle = (owner, item_id, settlement)
        return await self.db.write(Batched(_settle_posts, settle, one_statement=_distinct_posts))

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        if not item_ids:
            return
        args = (due_at, owner, list(item_ids))
        due_now = due_at <= time.time()  # given back by a dispatcher that stops: others may post them

        async def op(tx: Tx) -> None:
            await tx.execute(Q["release_posts"], args)
            if due_now:
                tx.wake.add("posts")

        await self.db.write(op)


_PostSettle = tuple[str, str, PostSettlement]  # owner, post id, settlement


async def _settle_posts(tx: Tx, settles: list[_PostSettle]) -> list[Loop | None]:
    """Settle posts with settle_posts, a round of distinct posts at a time (database.rounds);
    each post's loop as it is now, or None."""
    found: list[Loop | None] = [None] * len(settles)
    for positions in rounds([item_id for _, item_id, _ in settles]):
        rows = [from_row.post_settle_params(*settles[index]) for index in positions]
        rows.sort(key=lambda row: row["id"])  # two groups lock their rows in one order
        params = {"settles": json.dumps(rows)}
        query = Q["settle_posts"]
        if len(rows) == 1:
            query, params["one"] = _SETTLE_ONE, rows[0]["id"]
        loops = {row[0]: loop_from_row(row[1:]) for row in await (await tx.execute(query, params)).fetchall()}
        for index in positions:
            found[index] = loops.get(settles[index][1])
    return found


def _distinct_posts(settles: list[_PostSettle]) -> bool:
    """Whether _settle_posts settles these in one statement: each of another post."""
    return one_round([item_id for _, item_id, _ in settles])


def _call(row: Sequence[Any]) -> Call:
    """A claimed post from a row of claim_posts: the post, its event, its loop, and the
    returned message a bounce or abuse report is about (None for other events)."""
    item = from_row.post(row[:12])
    kind, delivery_id, message_id, account_id, time, data = row[12:18]
    event = Event(EventKind(kind), delivery_id, message_id, account_id, time, json.loads(data))
    raw = row[27]
    return Call(item, loop_from_row(row[18:27]), item.event_id, event, bytes(raw) if raw is not None else None)
