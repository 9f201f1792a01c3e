"""The two ports of the dispatcher: the outbox it works from and the poster it posts with.

The outbox is kept by the store (the SQLite and PostgreSQL backends implement `Outbox`; an
item is written in the same transaction as its event). The poster is HTTP (`poster.py` posts
with httpx). The dispatcher sees only these, so both can be swapped and tested apart.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core.events import Event
from .model import Loop, OutboxItem
from .policy import Answer, Settlement


@dataclass(frozen=True, slots=True)
class Call:
    """A claimed outbox item with everything posting it needs."""

    item: OutboxItem
    loop: Loop
    event_id: int
    event: Event
    returned_mime: bytes | None  # the returned message a bounce or abuse event is about


class Outbox(Protocol):
    """The outbox items of every loop. Items are leased while one dispatcher posts them, so
    several processes (or nodes) can share the work and a dead one's items come back."""

    async def claim(self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int,
                    skip_loops: Collection[str] = ()) -> list[Call]:
        """Lease up to `limit` pending items that are due (`next_attempt_at <= now`) and not
        leased (or whose lease ran out), of active loops, none of `skip_loops`, at most
        `per_loop` of one loop; oldest event first."""
        ...

    async def settle(self, owner: str, item_id: str, settlement: Settlement) -> None:
        """Record an attempt (the item's new state, attempts, last status and error) and drop
        the lease. Does nothing when `owner` no longer holds the lease."""
        ...

    async def release(self, owner: str, item_ids: Sequence[str], due_at: float) -> None:
        """Drop the leases `owner` holds on these items without an attempt: they are due again
        at `due_at` (an endpoint's circuit is open, or the dispatcher is stopping)."""
        ...


class Poster(Protocol):
    """Posts one request and says what came of it. Never raises for what the network or the
    receiver did: that is an `Answer` without a status."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Answer: ...

    async def close(self) -> None: ...
