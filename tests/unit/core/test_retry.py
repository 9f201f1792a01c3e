"""What an attempt's outcome does to its delivery."""

from __future__ import annotations

import pytest

from returnpath.core.events import EventKind
from returnpath.core.model import DeliveryJob, DeliveryState, Outcome, Step, Verdict
from returnpath.core.retry import RetryPolicy, expires_at, settle

NOW = 1_800_000_000.0
POLICY = RetryPolicy(first=300, factor=2, max_interval=4000, lifetime=5 * 86400)


def job(attempts: int = 0, expiry: float = NOW + 86400) -> DeliveryJob:
    return DeliveryJob(
        "d" * 26, "m" * 26, "a" * 26, "x@example.net", "b@bounces.test", b"", attempts, NOW, expiry, tags=("t",)
    )


def outcome(verdict: Verdict, code: int | None = 451, step: Step = Step.RCPT) -> Outcome:
    return Outcome(verdict, step, code, "4.2.2" if code else None, "reply text", "mx[1.2.3.4]:25")


def test_backoff_grows_and_is_capped() -> None:
    assert [POLICY.interval(n) for n in range(1, 7)] == [300, 600, 1200, 2400, 4000, 4000]


def test_accepted_is_a_delivery() -> None:
    s = settle(job(), outcome(Verdict.ACCEPTED, 250, Step.EOM), NOW, POLICY)
    assert s.state is DeliveryState.DELIVERED and s.next_attempt_at is None
    assert s.event.kind is EventKind.DELIVERY and s.event.data["attempt"] == 1


def test_permanent_is_a_sync_failure_with_the_step_and_reply() -> None:
    s = settle(job(), outcome(Verdict.PERMANENT, 550), NOW, POLICY)
    assert s.state is DeliveryState.FAILED
    assert s.event.kind is EventKind.FAILURE
    assert {k: s.event.data[k] for k in ("type", "state", "code", "status", "description", "remote", "tags")} == {
        "type": "sync",
        "state": "rcpt",
        "code": 550,
        "status": "4.2.2",
        "description": "reply text",
        "remote": "mx[1.2.3.4]:25",
        "tags": ["t"],
    }


@pytest.mark.parametrize("attempts, wait", [(0, 300), (1, 600), (4, 4000)])
def test_temporary_is_deferred_with_backoff(attempts: int, wait: float) -> None:
    s = settle(job(attempts), outcome(Verdict.TEMPORARY), NOW, POLICY)
    assert s.state is DeliveryState.DEFERRED and s.next_attempt_at == NOW + wait
    assert s.event.kind is EventKind.DEFERRED and s.event.data["attempt"] == attempts + 1


def test_the_last_retry_falls_on_the_close_of_the_window() -> None:
    s = settle(job(3, expiry=NOW + 100), outcome(Verdict.TEMPORARY), NOW, POLICY)
    assert s.state is DeliveryState.DEFERRED and s.next_attempt_at == NOW + 100


def test_temporary_after_the_window_closed_fails_with_the_last_reply() -> None:
    s = settle(job(7, expiry=NOW), outcome(Verdict.TEMPORARY, None, Step.CONNECT), NOW, POLICY)
    assert s.state is DeliveryState.FAILED and s.event.kind is EventKind.FAILURE
    assert s.event.data["expired"] is True and s.event.data["state"] == "connect"
    assert s.event.data["type"] == "sync"


def test_maxdelivertime_shortens_the_window() -> None:
    assert expires_at(NOW, POLICY, None) == NOW + 5 * 86400
    assert expires_at(NOW, POLICY, NOW + 60) == NOW + 60


@pytest.mark.parametrize("verdict", [Verdict.ACCEPTED, Verdict.PERMANENT, Verdict.TEMPORARY])
def test_a_forwarded_copy_of_returned_mail_settles_without_an_event(verdict: Verdict) -> None:
    """Its outcome is kept on its delivery, but never reads as a `delivery` or `failure` of the
    application's mail in its logs and loops."""
    forward = job()
    forward.forward = True
    s = settle(forward, outcome(verdict), NOW, POLICY)
    assert s.event is None
    assert s.state is settle(job(), outcome(verdict), NOW, POLICY).state
