"""The two ports of the dispatcher: the outbox it works from and the poster it posts with.

The outbox is kept by the store (the SQLite and PostgreSQL backends implement `Outbox`; an
item is written in the same transaction as its event). The poster is HTTP (`poster.py` posts
with httpx). The dispatcher sees only these, so both can be swapped and tested apart.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from ..core.events import Event, EventKind
from .model import Format, ItemView, Loop, OutboxItem, OutboxState
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

    async def claim(
        self, owner: str, now: float, lease_until: float, *, limit: int, per_loop: int, skip_loops: Collection[str] = ()
    ) -> list[Call]:
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


class LoopStore(Protocol):
    """The loops of each account, as the API and CLI manage them (../loops.py). Every call is
    scoped by the account: another account's loop is not there (None / False)."""

    async def create_loop(self, loop: Loop, now: float | None = None) -> Loop: ...

    async def loops(self, account_id: str) -> list[Loop]: ...

    async def loop(self, account_id: str, loop_id: str) -> Loop | None: ...

    async def update_loop(
        self,
        account_id: str,
        loop_id: str,
        *,
        url: str | None = None,
        events: Iterable[EventKind] | None = None,
        format: Format | None = None,
        active: bool | None = None,
        secret: str | None = None,
        previous_until: float | None = None,
        now: float | None = None,
    ) -> Loop | None:
        """Change what is given; a new `secret` rotates it, the old one signed with too until
        `previous_until`."""
        ...

    async def delete_loop(self, account_id: str, loop_id: str) -> bool:
        """Remove the loop with its outbox items."""
        ...

    async def loop_items(
        self,
        account_id: str,
        loop_id: str,
        *,
        state: OutboxState | str | None = None,
        now: float | None = None,
        limit: int = 100,
    ) -> list[ItemView] | None:
        """The loop's items, newest event first; `state` is an OutboxState or "in_flight"."""
        ...

    async def loop_item(self, account_id: str, loop_id: str, item_id: str) -> OutboxItem | None:
        """One item of the account's loop."""
        ...

    async def replay_item(self, account_id: str, loop_id: str, item_id: str, now: float | None = None) -> bool:
        """A done or dead item pending again, due now, with a new retry window."""
        ...

    async def replay_dead(self, account_id: str, loop_id: str, now: float | None = None) -> int: ...


class Poster(Protocol):
    """Posts one request and says what came of it. Never raises for what the network or the
    receiver did: that is an `Answer` without a status."""

    async def post(self, url: str, headers: Mapping[str, str], body: bytes, *, address: str | None = None) -> Answer:
        """Post to `url`; connect to `address` (checked already) rather than to the URL's host
        name when it is given. TLS is still verified against the host name."""
        ...

    async def close(self) -> None: ...
