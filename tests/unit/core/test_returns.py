"""Which events a returned message makes (the lower half of DESIGN.md's table)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from returnpath.bounces import recognise
from returnpath.bounces.verdict import BounceVerdict, Kind, Recipient
from returnpath.core.events import EventKind
from returnpath.core.model import DeliveryState, DeliveryView, DsnOptions, Returned
from returnpath.core.returns import NOT_COMPLAINTS, route

NOW = 1_800_000_000.0
DELIVERY = "0" * 25 + "1"


def view(envelope: str | None = None, trackbounces: bool = True, dsn: DsnOptions | None = None) -> DeliveryView:
    return DeliveryView(
        id=DELIVERY,
        message_id="m" * 26,
        account_id="a" * 26,
        recipient="Gone@example.net",
        mail_from="app@example.com",
        envelope=envelope,
        envelope_sender="b…@bounces.test",
        state=DeliveryState.DELIVERED,
        attempts=1,
        created_at=NOW,
        updated_at=NOW,
        next_attempt_at=None,
        expires_at=NOW + 1,
        tags=("t",),
        trackbounces=trackbounces,
        dsn=dsn,
    )


def returned(deliveries: tuple[str, ...] = (DELIVERY,)) -> Returned:
    return Returned("r" * 26, "", ("b…@bounces.test",), deliveries, "192.0.2.1", NOW, b"raw")


def row(action: str, address: str = "gone@example.net", **kw: object) -> Recipient:
    fields: dict[str, object] = {
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
    return Recipient(address=address, action=action, **fields)  # type: ignore[arg-type]


def kinds(outcome) -> list[EventKind]:  # type: ignore[no-untyped-def]
    return [e.kind for e in outcome.events]


def test_a_failed_dsn_is_a_bounce_and_an_async_failure() -> None:
    outcome = route(returned(), BounceVerdict(Kind.DSN, (row("failed"),)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.FAILURE]
    assert outcome.failed == (DELIVERY,)
    bounce, failure = outcome.events
    assert (bounce.data["action"], bounce.data["status"], bounce.data["reason"]) == ("failed", "5.1.1", "userunknown")
    assert (
        bounce.data["kind"] == "dsn"
        and bounce.data["mailfrom"] == ""
        and bounce.data["raw"] == "returnpath returned " + "r" * 26
    )
    assert failure.data == {
        "recipient": "Gone@example.net",
        "envelope": "b…@bounces.test",
        "own_envelope": None,
        "tags": ["t"],
        "type": "async",
        "state": "bounce",
        "action": "failed",
        "dsn": True,
        "attempt": 1,
        "status": "5.1.1",
        "code": 550,
        "description": "550 5.1.1 no such user",
        "remote": "mx.example.net",
        "command": "RCPT",
        "reason": "userunknown",
        "hard": True,
        "rule": "dsn:Status",
    }


def test_a_recognised_non_standard_bounce_is_marked_not_dsn() -> None:
    outcome = route(returned(), BounceVerdict(Kind.BOUNCE, (row("failed"),)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.FAILURE]
    assert outcome.events[1].data["dsn"] is False


def test_a_report_naming_another_recipient_keeps_both() -> None:
    verdict = BounceVerdict(Kind.DSN, (row("failed", address="alias@example.org"),))
    failure = route(returned(), verdict, {DELIVERY: view()}, NOW).events[1]
    assert failure.data["recipient"] == "Gone@example.net"
    assert failure.data["reported_recipient"] == "alias@example.org"


@pytest.mark.parametrize(
    "verdict", [BounceVerdict(Kind.AUTOREPLY), BounceVerdict(Kind.OTHER), BounceVerdict(Kind.BOUNCE)]
)
def test_anything_else_is_only_a_bounce(verdict: BounceVerdict) -> None:
    outcome = route(returned(), verdict, {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE] and outcome.failed == ()


def test_a_delayed_dsn_is_an_async_deferral() -> None:
    outcome = route(returned(), BounceVerdict(Kind.DSN, (row("delayed", status="4.4.7"),)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.DEFERRED] and outcome.failed == ()
    assert outcome.events[1].data["type"] == "async" and outcome.events[1].data["status"] == "4.4.7"
    # The bounce line says what it reports, as a failure's does.
    bounce = outcome.events[0].data
    assert (bounce["action"], bounce["status"], bounce["reason"]) == ("delayed", "4.4.7", "userunknown")


def test_a_delay_notice_that_is_no_dsn_is_an_async_deferral_marked_not_dsn() -> None:
    outcome = route(returned(), BounceVerdict(Kind.BOUNCE, (row("delayed", status="4.2.2"),)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.DEFERRED] and outcome.failed == ()
    assert (outcome.events[1].data["type"], outcome.events[1].data["dsn"]) == ("async", False)


def test_a_complaint_is_an_abuse_event() -> None:
    complaint = row("failed", address="complainer@example.org", feedback_type="abuse", reason="feedback")
    outcome = route(returned(), BounceVerdict(Kind.COMPLAINT, (complaint,)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.ABUSE] and outcome.failed == ()
    assert outcome.events[1].data["emailfrom"] == "complainer@example.org"
    assert outcome.events[1].data["feedbacktype"] == "abuse"


@pytest.mark.parametrize("feedback_type", ["not-spam", "auth-failure", "Not-Spam"])
def test_a_report_that_complains_of_nothing_makes_no_abuse_event(feedback_type: str) -> None:
    # RFC 6650's not-spam (the reader rescued the mail) and RFC 6591's auth-failure (a DMARC
    # failure report): an application that stops mailing on `abuse` must not stop for these
    report = row("", address="reader@example.org", feedback_type=feedback_type, reason="feedback")
    outcome = route(returned(), BounceVerdict(Kind.COMPLAINT, (report,)), {DELIVERY: view()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE] and outcome.events[0].data["kind"] == "complaint"


def test_each_delivery_of_a_digest_gets_its_own_complainer() -> None:
    # a digest of reports about two deliveries names two complainers: each delivery's abuse
    # event names the one who complained of it, not the digest's first
    first = row("", address="first@example.org", feedback_type="abuse", reason="feedback")
    second = row("", address="second@example.org", feedback_type="fraud", reason="feedback")
    other = "0" * 25 + "2"
    views = {
        DELIVERY: replace(view(), recipient="first@example.org"),
        other: replace(view(), id=other, recipient="Second@example.org"),
    }
    outcome = route(returned((DELIVERY, other)), BounceVerdict(Kind.COMPLAINT, (first, second)), views, NOW)
    abuse = {e.delivery_id: e.data["emailfrom"] for e in outcome.events if e.kind is EventKind.ABUSE}
    assert abuse == {DELIVERY: "first@example.org", other: "second@example.org"}


def test_a_success_dsn_is_noted_on_the_bounce() -> None:
    outcome = route(
        returned(), BounceVerdict(Kind.DELIVERY, (row("delivered", status="2.0.0"),)), {DELIVERY: view()}, NOW
    )
    assert kinds(outcome) == [EventKind.BOUNCE] and outcome.events[0].data["dsn_action"] == "delivered"


def test_a_message_for_no_known_delivery_is_still_logged() -> None:
    outcome = route(returned(deliveries=()), BounceVerdict(Kind.OTHER), {}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE] and outcome.events[0].account_id == ""


@pytest.mark.parametrize(
    "own, verdict, notify, forwarded",
    [
        (None, BounceVerdict(Kind.DSN, (row("failed"),)), None, False),  # no envelope of its own
        ("me@app.example", BounceVerdict(Kind.DSN, (row("failed"),)), None, True),  # failures by default
        ("me@app.example", BounceVerdict(Kind.DSN, (row("delayed"),)), None, False),
        ("me@app.example", BounceVerdict(Kind.DSN, (row("delayed"),)), ("DELAY",), True),
        ("me@app.example", BounceVerdict(Kind.DSN, (row("failed"),)), ("NEVER",), False),
        ("me@app.example", BounceVerdict(Kind.AUTOREPLY), ("NEVER",), True),  # not a DSN: always
        ("me@app.example", BounceVerdict(Kind.BOUNCE, (row("failed"),)), None, True),
        ("me@app.example", BounceVerdict(Kind.BOUNCE), None, True),  # a bounce, no recipient found
        # Anything at all can be sent to a tracking address: what is not recognised as
        # returned mail (spam, a human reply, a MIME bomb) is never relayed on.
        ("me@app.example", BounceVerdict(Kind.OTHER), None, False),
        ("me@app.example", BounceVerdict(Kind.COMPLAINT), None, False),  # an `abuse` event instead
    ],
)
def test_forwarding_to_the_applications_own_envelope(
    own: str | None, verdict: BounceVerdict, notify: tuple[str, ...] | None, forwarded: bool
) -> None:
    dsn = DsnOptions(notify=notify) if notify else None
    outcome = route(returned(), verdict, {DELIVERY: view(envelope=own, dsn=dsn)}, NOW)
    assert bool(outcome.forward) is forwarded


def test_no_forwarding_when_tracking_was_off() -> None:
    outcome = route(
        returned(), BounceVerdict(Kind.AUTOREPLY), {DELIVERY: view("me@app.example", trackbounces=False)}, NOW
    )
    assert outcome.forward == ()


def failed_before(envelope: str | None = None) -> DeliveryView:
    failed = view(envelope)
    failed.state = DeliveryState.FAILED
    return failed


@pytest.mark.parametrize("kind", [Kind.DSN, Kind.BOUNCE])
def test_a_delivery_that_failed_already_gets_a_bounce_event_only(kind: Kind) -> None:
    """The same DSN again, or a copy to postmaster@ quoting the tracking address: a delivery
    fails once, so no second failure (and no second post to the failure loop)."""
    outcome = route(returned(), BounceVerdict(kind, (row("failed"),)), {DELIVERY: failed_before()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE] and outcome.failed == ()
    assert outcome.events[0].data["reason"] == "userunknown"  # the bounce still says what it reported


def test_a_late_delay_report_of_a_failed_delivery_is_a_bounce_event_only() -> None:
    outcome = route(returned(), BounceVerdict(Kind.DSN, (row("delayed"),)), {DELIVERY: failed_before()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE]


def test_a_repeated_failure_report_is_not_forwarded_again() -> None:
    verdict = BounceVerdict(Kind.DSN, (row("failed"),))
    assert route(returned(), verdict, {DELIVERY: failed_before("me@app.example")}, NOW).forward == ()
    assert route(returned(), verdict, {DELIVERY: view("me@app.example")}, NOW).forward != ()


def test_a_complaint_about_a_failed_delivery_is_still_an_abuse_event() -> None:
    complaint = row("failed", feedback_type="abuse", reason="feedback")
    outcome = route(returned(), BounceVerdict(Kind.COMPLAINT, (complaint,)), {DELIVERY: failed_before()}, NOW)
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.ABUSE]


NOTICES = Path(__file__).parents[2] / "bounces" / "notices"
EXPECTED: dict[str, dict[str, Any]] = json.loads((NOTICES / "expected.json").read_text(encoding="utf-8"))["emails"]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["kind"] in ("complaint", "other")))
def test_what_the_parser_reads_as_a_complaint_reaches_the_abuse_event(name: str) -> None:
    # the notices set's complaints (ARF of every type, JMRP, digests, SpamCop) through
    # recognise and route: an `abuse` event naming the complainer and the report's type;
    # replies, abuse desks' letters, DMARC and TLS aggregate reports make none, and neither do
    # the ARF reports that complain of nothing (a not-spam mark, a DMARC failure report)
    entry = EXPECTED[name]
    outcome = route(returned(), recognise((NOTICES / name).read_bytes()), {DELIVERY: view()}, NOW)
    types = {r.get("feedback_type") for r in entry["recipients"]}
    if entry["kind"] == "other" or (types and types <= NOT_COMPLAINTS):
        assert EventKind.ABUSE not in kinds(outcome)
        return
    assert kinds(outcome) == [EventKind.BOUNCE, EventKind.ABUSE] and outcome.failed == ()
    abuse = outcome.events[1].data
    if entry["recipients"]:
        first = entry["recipients"][0]
        assert (abuse["emailfrom"], abuse["feedbacktype"]) == (first["address"], first["feedback_type"])
