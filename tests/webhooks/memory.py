"""An outbox held in memory: a test double of the `Outbox` port.

The real outbox lives in the store (its rows written in the same transaction as their event,
claimed with leases, SQLite and PostgreSQL passing one conformance suite): that is the lead's
next step. Until it exists, this double lets the dispatcher run end to end against a real HTTP
receiver. It keeps the contract the store must keep: due items only, leases (an expired one
may be claimed again), paused loops and `skip_loops` left out, at most `per_loop` items of one
loop, oldest event first, a settlement ignored from an owner that lost its lease, and each
settle answered with the item's loop as it is now (None once removed).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from returnpath.core.events import Event
from returnpath.core.feedback import Call, Loop, Post, PostSettlement, PostState

WINDOW = 3 * 86400.0


@dataclass(frozen=True, slots=True)
class Recorded:
    """One attempt as the outbox saw it."""

    item_id: str
    owner: str
    settlement: PostSettlement


class MemoryOutbox:
    def __init__(self, window: float = WINDOW) -> None:
        self.window = window
        self.loops: dict[str, Loop] = {}
        self.items: dict[str, Post] = {}
        self.events: dict[int, tuple[Event, bytes | None]] = {}
        self.attempts: list[Recorded] = []
        self.released: list[tuple[str, float]] = []  # (item id, due at)
        self._pending: dict[str, dict[str, None]] = {}  # loop id -> its pending item ids, in event order
        self._leases: dict[str, tuple[str, float]] = {}  # item id -> (owner, until)
        self._event_ids = itertools.count(1)
        self._item_ids = itertools.count(1)

    # ---- what the store does when it commits an event ------------------------------------------

    def add_loop(self, loop: Loop) -> Loop:
        self.loops[loop.id] = loop
        return loop

    def remove_loop(self, loop_id: str) -> None:
        """Remove a loop with its items, as the store does."""
        del self.loops[loop_id]
        for item_id in self._pending.pop(loop_id, {}):
            self._leases.pop(item_id, None)
        self.items = {item_id: item for item_id, item in self.items.items() if item.loop_id != loop_id}

    def publish(self, event: Event, now: float, returned_mime: bytes | None = None) -> list[Post]:
        """Store an event and, with it, one item for each loop that wants it."""
        event_id = next(self._event_ids)
        self.events[event_id] = (event, returned_mime)
        made = []
        for loop in self.loops.values():
            if loop.wants(event):
                item = Post(
                    f"{next(self._item_ids):08d}",
                    loop.id,
                    event_id,
                    event.time,
                    now,
                    now + self.window,
                    next_attempt_at=now,
                )
                self.items[item.id] = item
                self._pending.setdefault(loop.id, {})[item.id] = None
                made.append(item)
        return made

    # ---- the port ------------------------------------------------------------------------------

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
        skip = set(skip_loops)
        found: list[Post] = []
        for loop_id, pending in self._pending.items():
            if loop_id in skip or not self.loops[loop_id].active:
                continue
            taken = 0
            for item_id in pending:  # events are published in time order, so this is event order
                item = self.items[item_id]
                lease = self._leases.get(item_id)
                if item.next_attempt_at is not None and item.next_attempt_at <= now and not (lease and lease[1] > now):
                    found.append(item)
                    taken += 1
                    if taken >= per_loop:
                        break
        found.sort(key=lambda i: (i.event_time, i.event_id))
        calls = []
        for item in found[:limit]:
            self._leases[item.id] = (owner, lease_until)
            event, mime = self.events[item.event_id]
            calls.append(Call(item, self.loops[item.loop_id], item.event_id, event, mime))
        return calls

    async def settle(self, owner: str, item_id: str, settlement: PostSettlement) -> Loop | None:
        if item_id not in self.items:  # its loop was removed
            return None
        if self._leases.get(item_id, ("", 0.0))[0] != owner:
            return self.loops[self.items[item_id].loop_id]
        del self._leases[item_id]
        self.items[item_id] = settlement.apply(self.items[item_id])
        self.attempts.append(Recorded(item_id, owner, settlement))
        if settlement.state is not PostState.PENDING:
            self._pending[self.items[item_id].loop_id].pop(item_id, None)
        return self.loops[self.items[item_id].loop_id]

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        for item_id in item_ids:
            if self._leases.get(item_id, ("", 0.0))[0] == owner:
                del self._leases[item_id]
                self.items[item_id] = replace(self.items[item_id], next_attempt_at=due_at)
                self.released.append((item_id, due_at))

    # ---- for assertions ------------------------------------------------------------------------

    def in_state(self, state: PostState, loop_id: str | None = None) -> list[Post]:
        return [i for i in self.items.values() if i.state is state and (loop_id is None or i.loop_id == loop_id)]

    def settled(self, loop_id: str | None = None) -> bool:
        """True when every item (of the loop) is done or dead."""
        if loop_id is None:
            return not any(self._pending.values())
        return not any(
            i.state is PostState.PENDING for i in self.items.values() if loop_id is None or i.loop_id == loop_id
        )

    def attempts_of(self, item_id: str) -> list[PostSettlement]:
        return [r.settlement for r in self.attempts if r.item_id == item_id]
