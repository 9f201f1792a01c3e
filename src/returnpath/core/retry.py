"""What an attempt's outcome means for its delivery: done, retry when, or give up.

Defaults follow Postfix: the first retry after minutes, doubling up to about an hour between
attempts, and giving up after five days (maximal_queue_lifetime).
"""

from __future__ import annotations

from dataclasses import dataclass

from .events import Event, EventKind, attempt_event
from .model import DeliveryJob, DeliveryState, Outcome, Verdict


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first: float = 300.0  # seconds from the first failed attempt to the second
    factor: float = 2.0  # each wait is this many times the one before
    max_interval: float = 4000.0  # no wait longer than this
    lifetime: float = 5 * 86400.0  # give up this long after submission

    def interval(self, failed_attempts: int) -> float:
        """The wait after the `failed_attempts`-th failed attempt (1 for the first)."""
        wait = self.first * self.factor ** max(0, failed_attempts - 1)
        return min(wait, self.max_interval)


@dataclass(frozen=True, slots=True)
class Settlement:
    """The new state of a delivery after an attempt, and the event that records it (none for
    a forwarded copy of returned mail: its outcomes are not events of the application's mail)."""

    state: DeliveryState
    next_attempt_at: float | None
    event: Event | None


def settle(job: DeliveryJob, outcome: Outcome, now: float, policy: RetryPolicy) -> Settlement:
    """Decide what an attempt's outcome means. `job.attempts` counts the attempts before it."""
    settlement = _settle(job, outcome, now, policy)
    if job.forward:
        # The copy of a bounce sent on to the application's own envelope: its state and
        # attempts are kept, but a `failure` or `delivery` of it would read as one of the
        # application's own message.
        return Settlement(settlement.state, settlement.next_attempt_at, None)
    return settlement


def _settle(job: DeliveryJob, outcome: Outcome, now: float, policy: RetryPolicy) -> Settlement:
    attempt = job.attempts + 1
    if outcome.verdict is Verdict.ACCEPTED:
        return Settlement(DeliveryState.DELIVERED, None, attempt_event(EventKind.DELIVERY, job, outcome, attempt, now))
    if outcome.verdict is Verdict.PERMANENT:
        return Settlement(DeliveryState.FAILED, None, attempt_event(EventKind.FAILURE, job, outcome, attempt, now))
    if now >= job.expires_at:
        # The retry window has closed: fail with the last reply.
        return Settlement(
            DeliveryState.FAILED, None, attempt_event(EventKind.FAILURE, job, outcome, attempt, now, expired=True)
        )
    # The last retry falls on the close of the window, so the whole window is used.
    retry_at = min(now + policy.interval(attempt), job.expires_at)
    return Settlement(
        DeliveryState.DEFERRED,
        retry_at,
        attempt_event(EventKind.DEFERRED, job, outcome, attempt, now, retry_at=round(retry_at, 3)),
    )


def expires_at(created_at: float, policy: RetryPolicy, maxdelivertime: float | None) -> float:
    """When a delivery's retry window closes: the policy's lifetime or the message's own limit."""
    limit = created_at + policy.lifetime
    return limit if maxdelivertime is None else min(limit, maxdelivertime)
