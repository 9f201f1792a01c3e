"""Feedback loops on SQLite: the loops, the fan-out of events into `loop_posts`, and the
`core.ports.Outbox` the dispatcher works from. The SQL lives in queries.sql."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Sequence
from typing import Any

from ...core import ids
from ...core.events import Event, EventKind
from ...core.feedback import Call, Loop, PostSettlement
from .. import rows as from_row
from ..sql import load_queries
from ..wakeups import LocalWakeups
from .sqlite_database import SqliteDatabase

Q = load_queries(__package__, "queries.sql")

WINDOW = 3 * 86400.0  # the retry window of a new (or replayed) post; [webhooks] retry_window


def fan_out(conn: sqlite3.Connection, event_id: int, event: Event, now: float, window: float) -> int:
    """Insert one post per loop (paused ones too) of the event's account that wants its
    kind, in the caller's transaction. Events of no account go nowhere. Returns the count."""
    if not event.account_id:
        return 0
    loop_ids = [row[0] for row in conn.execute(Q["fan_out_loops"], (event.account_id, event.kind.value))]
    conn.executemany(
        Q["insert_post"],
        [(ids.new_id(now), loop_id, event_id, event.time, now, now + window, now) for loop_id in loop_ids],
    )
    return len(loop_ids)


def loop_from_row(row: Sequence[Any]) -> Loop:
    """A loop from a row whose last column is its event kinds as a JSON list."""
    return from_row.loop(row[:-1], json.loads(row[-1] or "[]"))


class SqliteOutbox:
    """`core.ports.Outbox` over the store's SQLite file."""

    def __init__(self, db: SqliteDatabase, wakeups: LocalWakeups) -> None:
        self.db = db
        self.wakeups = wakeups

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call `listener` (a dispatcher's `notify`) whenever this process has committed new
        items, so that they are posted at once rather than at the next poll."""
        self.wakeups.subscribe("posts", listener)

    def committed(self) -> None:
        self.wakeups.wake(("posts",))

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
        if limit <= 0 or per_loop <= 0:
            return []
        skip = json.dumps(sorted(skip_loops))

        def op(conn: sqlite3.Connection) -> list[Call]:
            # Up to `per_loop` of each loop, then the oldest `limit` of those, leased and read in
            # one transaction: nobody can claim or settle them in between.
            due: list[tuple[float, int, str]] = []
            for (loop_id,) in conn.execute(Q["claimable_loops"], {"skip": skip}).fetchall():
                rows = conn.execute(Q["due_of_loop"], {"loop_id": loop_id, "now": now, "per_loop": per_loop})
                due.extend((event_time, event_id, item_id) for item_id, event_time, event_id in rows)
            claimed = [item_id for _, _, item_id in sorted(due)[:limit]]
            if not claimed:
                return []
            conn.execute(Q["lease_posts"], {"owner": owner, "until": lease_until, "ids": json.dumps(claimed)})
            return _calls(conn, claimed)

        return await self.db.write(op)

    async def settle(self, owner: str, item_id: str, settlement: PostSettlement) -> Loop | None:
        params = from_row.post_settle_params(owner, item_id, settlement)

        def op(conn: sqlite3.Connection) -> Loop | None:
            conn.execute(Q["settle_post"], params)
            row = conn.execute(Q["loop_of_post"], (item_id,)).fetchone()
            return None if row is None else loop_from_row(row)

        return await self.db.write(op)

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        if item_ids:
            args = (due_at, owner, json.dumps(list(item_ids)))
            await self.db.write(lambda conn: conn.execute(Q["release_posts"], args))


def _calls(conn: sqlite3.Connection, item_ids: list[str]) -> list[Call]:
    rows = conn.execute(Q["post_calls"], (json.dumps(item_ids),)).fetchall()
    loop_ids = sorted({row[1] for row in rows})
    loops = {row[0]: loop_from_row(row) for row in conn.execute(Q["loops_by_id"], (json.dumps(loop_ids),))}
    raws: dict[str, bytes | None] = {}
    calls = []
    for row in rows:
        item = from_row.post(row[:12])
        kind, delivery_id, message_id, account_id, time, data = row[12:]
        event = Event(EventKind(kind), delivery_id, message_id, account_id, time, json.loads(data))
        mime = None
        return_id = event.data.get("return")
        if event.kind in (EventKind.BOUNCE, EventKind.ABUSE) and isinstance(return_id, str):
            if return_id not in raws:  # one bytes object per returned message
                raw = conn.execute(Q["return_raw"], (return_id,)).fetchone()
                raws[return_id] = bytes(raw[0]) if raw else None
            mime = raws[return_id]
        calls.append(Call(item, loops[item.loop_id], item.event_id, event, mime))
    return calls
