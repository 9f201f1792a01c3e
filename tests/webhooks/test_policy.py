"""What an answer does to a post, and to its endpoint's circuit."""

from __future__ import annotations

import pytest

from returnpath.core.feedback import Answer, Post, PostState
from returnpath.webhooks.policy import Backoff, Breaker, BreakerPolicy, Circuit, retry_after, settle

NOW = 1_800_000_000.0
BACKOFF = Backoff(first=10, factor=2, max_interval=3600, min_interval=1, max_retry_after=3600, client_error_attempts=3)


def item(attempts: int = 0, expires_at: float = NOW + 3 * 86400) -> Post:
    return Post("00000001", "loop", 7, NOW - 5, NOW - 5, expires_at, attempts=attempts, next_attempt_at=NOW)


def test_the_backoff_ceiling_doubles_up_to_an_hour() -> None:
    assert [BACKOFF.ceiling(n) for n in (1, 2, 3, 4, 9, 10, 30)] == [10, 20, 40, 80, 2560, 3600, 3600]


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_done(status: int) -> None:
    s = settle(item(), Answer(status), NOW, 0.5, BACKOFF)
    assert (s.state, s.attempts, s.next_attempt_at, s.status, s.error) == (PostState.DONE, 1, None, status, None)


@pytest.mark.parametrize(
    "answer",
    [
        Answer(500, "HTTP 500: oops"),
        Answer(502),
        Answer(503),
        Answer(408),
        Answer(429),
        Answer(None, "no answer within 10s"),
        Answer(None, "cannot connect: refused"),
    ],
    ids=lambda a: str(a.status or a.error),
)
def test_busy_or_broken_receivers_are_retried_with_full_jitter(answer: Answer) -> None:
    s = settle(item(attempts=3), answer, NOW, 0.25, BACKOFF)  # the 4th attempt: ceiling 80s
    assert (s.state, s.attempts, s.next_attempt_at) == (PostState.PENDING, 4, NOW + 20)
    assert s.error == (answer.error or f"HTTP {answer.status}") and s.status == answer.status


def test_the_jitter_never_retries_sooner_than_the_minimum() -> None:
    assert settle(item(), Answer(500), NOW, 0.0, BACKOFF).next_attempt_at == NOW + 1


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("120", 120),
        ("0", 1),
        ("86400", 3600),  # at least the minimum, at most the cap
        ("Fri, 15 Jan 2027 08:01:00 GMT", 60),
        ("Fri, 15 Jan 2027 07:00:00 GMT", 1),
        ("soon", 10 * 0.5),  # not understood: the backoff
    ],
)
def test_retry_after_is_honoured_within_limits(header: str, wait: float) -> None:
    s = settle(item(), Answer(429, retry_after=header), NOW, 0.5, BACKOFF)
    assert s.next_attempt_at == NOW + wait


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("  30 ", 30.0),
        ("-5", None),
        ("1.5", None),
        ("Fri, 15 Jan 2027 08:00:30 GMT", 30.0),
        ("Friday, 15-Jan-27 08:00:30 GMT", 30.0),
        ("Fri Jan 15 08:00:30 2027", 30.0),
        ("Fri, 15 Jan 2027 08:00:30 -0000", 30.0),
        ("tomorrow", None),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str | None, seconds: float | None) -> None:
    assert retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "answer",
    [
        Answer(400),
        Answer(401),
        Answer(404),
        Answer(410),
        Answer(301, "HTTP 301: redirects to /x"),
        Answer(None, "loopback address", refused=True),
    ],
    ids=lambda a: str(a.status or "refused"),
)
def test_a_client_error_is_retried_three_times_in_all_then_dead(answer: Answer) -> None:
    first, second = settle(item(0), answer, NOW, 0.5, BACKOFF), settle(item(1), answer, NOW, 0.5, BACKOFF)
    assert first.state is second.state is PostState.PENDING
    third = settle(item(2), answer, NOW, 0.5, BACKOFF)
    assert (third.state, third.attempts, third.next_attempt_at) == (PostState.DEAD, 3, None)


def test_a_client_error_honours_no_retry_after() -> None:
    s = settle(item(), Answer(404, retry_after="3000"), NOW, 0.5, BACKOFF)
    assert s.next_attempt_at == NOW + 5


def test_the_last_retry_falls_on_the_close_of_the_window_then_it_is_dead() -> None:
    s = settle(item(attempts=20, expires_at=NOW + 100), Answer(503), NOW, 0.9, BACKOFF)
    assert (s.state, s.next_attempt_at) == (PostState.PENDING, NOW + 100)
    s = settle(item(attempts=21, expires_at=NOW + 100), Answer(503), NOW + 100, 0.9, BACKOFF)
    assert (s.state, s.error) == (PostState.DEAD, "HTTP 503 (retry window closed)")


def test_a_settlement_applies_to_its_item() -> None:
    s = settle(item(attempts=1), Answer(500, "HTTP 500: oops"), NOW, 0.5, BACKOFF)
    after = s.apply(item(attempts=1))
    assert (after.attempts, after.last_status, after.last_error, after.last_attempt_at, after.next_attempt_at) == (
        2,
        500,
        "HTTP 500: oops",
        NOW,
        NOW + 10,
    )


# ---- the circuit breaker ------------------------------------------------------------------------

POLICY = BreakerPolicy(threshold=3, cooldown=5, factor=2, max_cooldown=15)


def test_failures_in_a_row_open_the_circuit_and_a_success_in_between_resets_them() -> None:
    b = Breaker()
    for _ in range(2):
        b = b.record(False, NOW, POLICY)
    b = b.record(True, NOW, POLICY).record(False, NOW, POLICY).record(False, NOW, POLICY)
    assert b.circuit is Circuit.CLOSED and b.admits(NOW)
    b = b.record(False, NOW, POLICY)
    assert (b.circuit, b.open_until, b.admits(NOW + 4.9)) == (Circuit.OPEN, NOW + 5, False)


def test_after_the_cool_down_one_trial_goes_and_its_answer_decides() -> None:
    b = Breaker(Circuit.OPEN, 3, 1, NOW + 5)
    assert b.admits(NOW + 5)
    trial = b.start(NOW + 5)
    assert trial.circuit is Circuit.HALF_OPEN and not trial.admits(NOW + 5)  # one trial at a time
    assert trial.record(True, NOW + 6, POLICY) == Breaker()
    again = trial.record(False, NOW + 6, POLICY)
    assert (again.circuit, again.trips, again.open_until) == (Circuit.OPEN, 2, NOW + 6 + 10)  # the cool-down grows
    assert again.start(NOW + 16).record(False, NOW + 16, POLICY).open_until == NOW + 16 + 15  # up to its cap


def test_answers_of_posts_started_before_it_opened_do_not_extend_the_cool_down() -> None:
    b = Breaker(Circuit.OPEN, 3, 1, NOW + 5)
    assert b.record(False, NOW + 1, POLICY) == b
