"""Events as the core makes them (core.retry.settle, core.returns.route), for the webhook tests:
the payloads are checked against the data the real producers write, not against a copy."""

from __future__ import annotations

from returnpath.bounces.verdict import BounceVerdict, Kind, Recipient
from returnpath.core.events import Event, EventKind
from returnpath.core.feedback import Format, Loop
from returnpath.core.model import (
    DeliveryJob,
    DeliveryState,
    DeliveryView,
    Outcome,
    Returned,
    Step,
    Verdict,
)
from returnpath.core.retry import RetryPolicy, settle
from returnpath.core.returns import route
from returnpath.webhooks.signing import new_secret

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
ACCOUNT = "a" * 26
DELIVERY = "d" * 26
MESSAGE = "m" * 26
RETURN = "r" * 26
BOUNCE_MIME = (
    "From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n"
    "<gone@example.net>: user unknown \u2014 caf\u00e9\r\n"
).encode()
ARF_MIME = b"From: abuse@isp.example\r\nContent-Type: multipart/report; report-type=feedback-report\r\n\r\n..."


def job(account: str = ACCOUNT, delivery: str = DELIVERY, expires_at: float = NOW + 86400) -> DeliveryJob:
    return DeliveryJob(
        delivery,
        MESSAGE,
        account,
        "gone@example.net",
        f"b{delivery}@bounces.example.test",
        b"",
        0,
        NOW - 60,
        expires_at,
        tags=("welcome", "batch 7"),
    )


def attempt(
    verdict: Verdict,
    code: int | None,
    status: str | None,
    text: str,
    *,
    step: Step = Step.RCPT,
    at: float = NOW,
    account: str = ACCOUNT,
    expires_at: float = NOW + 86400,
) -> Event:
    """The event of one SMTP attempt, made by core.retry.settle."""
    outcome = Outcome(verdict, step, code, status, text, "mx.example.net[192.0.2.25]:25")
    return settle(job(account, expires_at=expires_at), outcome, at, RetryPolicy()).event


def delivered(at: float = NOW, account: str = ACCOUNT) -> Event:
    return attempt(Verdict.ACCEPTED, 250, "2.0.0", "2.0.0 Ok: queued as 4XyZ", step=Step.EOM, at=at, account=account)


def refused(at: float = NOW, account: str = ACCOUNT) -> Event:
    return attempt(
        Verdict.PERMANENT, 550, "5.1.1", "5.1.1 <gone@example.net>: Recipient address rejected", at=at, account=account
    )


def deferred(at: float = NOW, account: str = ACCOUNT) -> Event:
    return attempt(Verdict.TEMPORARY, 451, "4.7.1", "4.7.1 Greylisted, try again later", at=at, account=account)


def expired(at: float = NOW) -> Event:
    return attempt(Verdict.TEMPORARY, None, None, "connection refused", step=Step.CONNECT, at=at, expires_at=at)


def _view(account: str = ACCOUNT) -> DeliveryView:
    return DeliveryView(
        id=DELIVERY,
        message_id=MESSAGE,
        account_id=account,
        recipient="gone@example.net",
        mail_from="app@example.com",
        envelope="bounces@app.example",
        envelope_sender="b@x",
        state=DeliveryState.DELIVERED,
        attempts=1,
        created_at=NOW,
        updated_at=NOW,
        next_attempt_at=None,
        expires_at=NOW + 1,
        tags=("welcome",),
        trackbounces=False,
    )


def _row(action: str, **kw: object) -> Recipient:
    fields: dict[str, object] = {
        "address": "gone@example.net",
        "status": "5.1.1",
        "code": 550,
        "diagnostic": "550 5.1.1 no such user",
        "remote_mta": "mx.example.net",
        "command": "RCPT",
        "reason": "userunknown",
        "hard": True,
        "rule": "dsn:Status",
    }
    fields.update(kw)
    return Recipient(action=action, **fields)  # type: ignore[arg-type]


def returned(verdict: BounceVerdict, at: float = NOW, account: str = ACCOUNT) -> list[Event]:
    """The events of one returned message, made by core.returns.route."""
    message = Returned(
        RETURN,
        "MAILER-DAEMON@mx.example.net",
        (f"b{DELIVERY}@bounces.example.test",),
        (DELIVERY,),
        "192.0.2.25",
        at,
        BOUNCE_MIME,
    )
    return list(route(message, verdict, {DELIVERY: _view(account)}, at).events)


def dsn_failure(at: float = NOW, account: str = ACCOUNT) -> list[Event]:
    """bounce + failure (async)."""
    return returned(BounceVerdict(Kind.DSN, (_row("failed"),)), at, account)


def dsn_delay(at: float = NOW) -> list[Event]:
    """bounce + deferred (async)."""
    return returned(
        BounceVerdict(
            Kind.DSN, (_row("delayed", status="4.4.7", code=None, hard=False, reason="expired", command=None),)
        ),
        at,
    )


def complaint(at: float = NOW) -> list[Event]:
    """bounce + abuse."""
    row = _row("failed", address="complainer@isp.example", feedback_type="abuse", reason="feedback")
    return returned(BounceVerdict(Kind.COMPLAINT, (row,)), at)


def autoreply(at: float = NOW) -> list[Event]:
    """bounce only."""
    return returned(BounceVerdict(Kind.AUTOREPLY), at)


def every_kind(at: float = NOW, account: str = ACCOUNT) -> list[Event]:
    """One event of each kind, and a bounce of each sort, in time order."""
    events = [
        delivered(at, account=account),
        refused(at + 1, account=account),
        deferred(at + 2, account=account),
        *dsn_failure(at + 3, account),
        *returned(
            BounceVerdict(Kind.COMPLAINT, (_row("failed", address="complainer@isp.example", feedback_type="abuse"),)),
            at + 4,
            account,
        ),
    ]
    assert {e.kind for e in events} == set(EventKind)
    return events


def mime_of(event: Event) -> bytes | None:
    """What the store gives the dispatcher with an event: the returned message it is about."""
    return BOUNCE_MIME if event.kind in (EventKind.BOUNCE, EventKind.ABUSE) else None


def loop(
    loop_id: str, url: str, *kinds: EventKind, fmt: Format = Format.FORM, account: str = ACCOUNT, active: bool = True
) -> Loop:
    return Loop(loop_id, account, url, frozenset(kinds or EventKind), new_secret(), fmt, active)
