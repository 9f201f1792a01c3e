"""What an answer means for a post, and for its endpoint. Pure: `now` and the random
value of the jitter are arguments.

An item:
- 2xx: done.
- 408, 429, 5xx, a timeout or a connection error: retried, with exponential backoff and full
  jitter (a random wait between nothing and the backoff, so that items that failed together do
  not come back together), or after `Retry-After` (seconds or an HTTP date) when the answer
  gives one, within limits; until the retry window closes, then dead.
- any other answer (3xx: redirects are not followed; 4xx; a target that may not be posted to):
  something to fix at the receiver, retried `client_error_attempts` times in all, then dead.

An endpoint (one loop URL) has a circuit breaker: after `threshold` failures in a row it opens
and no post goes there for a cool-down that doubles each time it opens again; then one trial
post (half-open) closes it on success or opens it again. Its items wait meanwhile, and other
endpoints are not held back.
"""

from __future__ import annotations

import datetime
import email.utils
import enum
from dataclasses import dataclass, replace

from ..core.feedback import Answer, Post, PostSettlement, PostState


@dataclass(frozen=True, slots=True)
class Backoff:
    """When to try an item again."""

    first: float = 10.0  # ceiling of the first wait, in seconds
    factor: float = 2.0
    max_interval: float = 3600.0  # the ceiling stops growing here
    min_interval: float = 1.0  # never sooner than this
    max_retry_after: float = 3600.0  # a Retry-After longer than this is cut to it
    client_error_attempts: int = 3  # attempts in all for a 4xx (not 408 or 429) or 3xx

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the `attempts`-th attempt (1 for the first)."""
        return min(self.max_interval, self.first * self.factor ** max(0, attempts - 1))


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait that a Retry-After header asks for (RFC 9110 10.2.3); None when it is
    absent or not understood."""
    if not value:
        return None
    value = value.strip()
    # delay-seconds is 1*DIGIT, ASCII digits only: str.isdigit() also takes "²" (which float()
    # refuses) and "٣" (which it reads as 3).
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" gives a naive time; HTTP dates are UTC
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - now)


def settle(item: Post, answer: Answer, now: float, jitter: float, backoff: Backoff) -> PostSettlement:
    """What an answer does to an item. `item.attempts` counts the attempts before this one;
    `jitter` is a random value in [0, 1)."""
    attempts = item.attempts + 1
    if answer.ok:
        return PostSettlement(PostState.DONE, attempts, None, now, answer.status, None)
    error = answer.error or f"HTTP {answer.status}"
    if not answer.retryable and attempts >= backoff.client_error_attempts:
        return PostSettlement(PostState.DEAD, attempts, None, now, answer.status, error)
    if now >= item.expires_at:
        return PostSettlement(PostState.DEAD, attempts, None, now, answer.status, f"{error} (retry window closed)")
    wait = retry_after(answer.retry_after, now) if answer.retryable else None
    if wait is None:
        wait = jitter * backoff.ceiling(attempts)
    wait = max(backoff.min_interval, min(wait, backoff.max_retry_after))
    # The last retry falls on the close of the window, so the whole window is used.
    return PostSettlement(PostState.PENDING, attempts, min(now + wait, item.expires_at), now, answer.status, error)


# ---- the circuit breaker of an endpoint -------------------------------------------------------


class Circuit(enum.StrEnum):
    CLOSED = "closed"  # posts go through
    OPEN = "open"  # no posts until `open_until`
    HALF_OPEN = "half-open"  # one trial post is in flight; the rest wait for its answer


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 5  # failures in a row that open the circuit
    cooldown: float = 5.0  # the first cool-down, in seconds
    factor: float = 2.0  # each reopening waits this many times longer
    max_cooldown: float = 600.0

    def cooldown_after(self, trips: int) -> float:
        return min(self.max_cooldown, self.cooldown * self.factor ** max(0, trips - 1))


@dataclass(frozen=True, slots=True)
class Breaker:
    """The state of one endpoint's circuit. Each method returns the next state."""

    circuit: Circuit = Circuit.CLOSED
    failures: int = 0  # in a row
    trips: int = 0  # times opened since the last success
    open_until: float = 0.0

    def admits(self, now: float) -> bool:
        """May a post start now? (Open, after its cool-down, admits the one trial.)"""
        if self.circuit is Circuit.OPEN:
            return now >= self.open_until
        return self.circuit is Circuit.CLOSED

    def start(self, now: float) -> Breaker:
        """A post starts (the caller checked `admits`): after a cool-down, it is the trial."""
        if self.circuit is Circuit.OPEN and now >= self.open_until:
            return replace(self, circuit=Circuit.HALF_OPEN)
        return self

    def record(self, ok: bool, now: float, policy: BreakerPolicy) -> Breaker:
        """A post's answer came."""
        if ok:
            return Breaker()
        if self.circuit is Circuit.HALF_OPEN:
            return self._trip(now, policy)
        if self.circuit is Circuit.OPEN:
            return self  # a post started before it opened; the cool-down stands
        failures = self.failures + 1
        if failures >= policy.threshold:
            return replace(self, failures=failures)._trip(now, policy)
        return replace(self, failures=failures)

    def _trip(self, now: float, policy: BreakerPolicy) -> Breaker:
        trips = self.trips + 1
        return replace(self, circuit=Circuit.OPEN, trips=trips, open_until=now + policy.cooldown_after(trips))
