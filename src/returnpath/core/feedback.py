"""The values of feedback loops: a loop (one webhook registration) and its posts.

Glossary (../core/model.py has the rest):
- a *loop* is one URL an account registered, with the event kinds it wants, the body format
  and a signing secret;
- a *post* is one event to be posted to one loop. It is written in the same transaction as
  its event, then posted, retried and finally kept as done or dead. The posts waiting are the
  loops' *outbox* (the store's `Outbox`, which the dispatcher claims from). The API and CLI
  of version 0.1 called them the loop's "deliveries" (those paths and commands still
  answer); a delivery is one message to one recipient.

Values only: no I/O. The store keeps them, the dispatcher posts them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import NamedTuple

from ..errors import LoopError
from .events import Event, EventKind


class Format(enum.StrEnum):
    """How an event is written in the body of the POST."""

    FORM = "form"  # application/x-www-form-urlencoded: SMTPeter's "POST variables" (the default)
    JSON = "json"  # application/json: one object with the same names


class PostState(enum.StrEnum):
    """Where a post stands."""

    PENDING = "pending"  # waiting for its first or next attempt (or in flight, under a lease)
    DONE = "done"  # the loop answered 2xx
    DEAD = "dead"  # given up: kept with its last status and error, and can be replayed


@dataclass(frozen=True, slots=True)
class Loop:
    """One feedback loop of an account: where to post which events, and how."""

    id: str
    account_id: str
    url: str
    events: frozenset[EventKind]
    secret: str  # "whsec_" + base64, see signing.py
    format: Format = Format.FORM
    active: bool = True  # a paused loop keeps its pending items until it is resumed
    previous_secret: str | None = None  # the secret before the last rotation, still signed with...
    previous_until: float | None = None  # ...until then, so receivers can switch without losing posts

    def secrets_at(self, now: float) -> tuple[str, ...]:
        """The secrets a post made at `now` is signed with: the loop's, and during the grace
        period after a rotation the one before it too."""
        if self.previous_secret and self.previous_until is not None and now < self.previous_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)

    def wants(self, event: Event) -> bool:
        """True when this loop receives `event`: its account's, and of a kind it asked for.

        Pausing does not matter here: a paused loop still gets its posts, posted when it
        is resumed.
        """
        return event.account_id == self.account_id and event.kind in self.events


@dataclass(frozen=True, slots=True)
class Post:
    """One event to be posted to one loop, with what its attempts came to so far."""

    id: str
    loop_id: str
    event_id: int
    event_time: float  # the event's time: items of one loop are posted in this order (best effort)
    created_at: float
    expires_at: float  # no retry after this: the retry window (a replay opens a new one)
    state: PostState = PostState.PENDING
    attempts: int = 0
    next_attempt_at: float | None = None  # None once done or dead
    last_attempt_at: float | None = None
    last_status: int | None = None  # the HTTP status of the last answer; None when none came
    last_error: str | None = None  # what went wrong last, in words (or the start of the answer)

    @property
    def webhook_id(self) -> str:
        """The Standard Webhooks message id: the same for every retry of this item, so that
        receivers can drop duplicates."""
        return f"msg_{self.id}"


@dataclass(frozen=True, slots=True)
class PostSettlement:
    """An item's new state after an attempt, as the outbox records it."""

    state: PostState
    attempts: int
    next_attempt_at: float | None
    at: float  # when the attempt was made
    status: int | None
    error: str | None

    def apply(self, item: Post) -> Post:
        """The item as it is after this settlement (what the outbox stores)."""
        return replace(
            item,
            state=self.state,
            attempts=self.attempts,
            next_attempt_at=self.next_attempt_at,
            last_attempt_at=self.at,
            last_status=self.status,
            last_error=self.error,
        )


@dataclass(frozen=True, slots=True)
class Answer:
    """What one post came to. `status` is None when no HTTP answer came."""

    status: int | None
    error: str | None = None  # what went wrong, in words; None for a 2xx
    retry_after: str | None = None  # the Retry-After header, as sent
    refused: bool = False  # not sent: the target is not allowed (see targets.py)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        """A failure that waiting may cure: the receiver is down, slow or busy."""
        if self.refused:
            return False
        return self.status is None or self.status in (408, 429) or self.status >= 500


@dataclass(frozen=True, slots=True)
class Call:
    """A claimed post with everything posting it needs."""

    item: Post
    loop: Loop
    event_id: int
    event: Event
    returned_mime: bytes | None  # the returned message a bounce or abuse event is about


class PostView(NamedTuple):
    """A post as the API and CLI list it: whether it is in flight
    now, and what its event was (its kind and the delivery it is about)."""

    item: Post
    in_flight: bool
    event: EventKind
    delivery_id: str


def parse_events(names: Iterable[str]) -> frozenset[EventKind]:
    """Event type names as an API or CLI user gives them, checked."""
    kinds: set[EventKind] = set()
    known = ", ".join(k.value for k in EventKind)
    for name in names:
        try:
            kinds.add(EventKind(str(name).strip().lower()))
        except ValueError:
            raise LoopError(f"unknown event type {name!r}: expected some of {known}", "events") from None
    if not kinds:
        raise LoopError(f"a loop needs at least one event type: some of {known}", "events")
    return frozenset(kinds)


def parse_format(name: str) -> Format:
    try:
        return Format(name.strip().lower())
    except ValueError:
        raise LoopError(f"unknown format {name!r}: expected form or json", "format") from None
