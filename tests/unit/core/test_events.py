"""A refusal during our own delivery gets its `reason` and `hard` from the same classifier as a
returned report (issue 9: "one classifier for every refusal"): the same reply, refused at RCPT
or reported later in a DSN, is the same reason."""

from __future__ import annotations

import pytest

from returnpath.bounces import recognise
from returnpath.core.events import EventKind, attempt_event, refusal_fields
from returnpath.core.model import DeliveryJob, Outcome, Step, Verdict

# (step, code, status, text, reason, hard): replies as the receiving servers document them.
REFUSALS = [
    # Postfix's local recipient table; Gmail's "The email account that you tried to reach does not exist"
    (Step.RCPT, 550, "5.1.1", "5.1.1 <gone@example.net>: Recipient address rejected: User unknown", "userunknown", True),
    (Step.RCPT, 550, "5.1.1", "5.1.1 The email account that you tried to reach does not exist.", "userunknown", True),
    # a full mailbox: Gmail 452 4.2.2 "The recipient's inbox is out of storage space"; Exim 552 over quota
    (Step.RCPT, 552, "5.2.2", "5.2.2 Mailbox full", "mailboxfull", False),
    # Microsoft 365's 550 5.7.1 for a sender's IP on its block list
    (Step.RCPT, 550, "5.7.1", "5.7.1 Service unavailable, Client host [192.0.2.1] blocked using Spamhaus", "blocked", False),
    # refused at MAIL FROM: it is the sender that was refused, whatever the words (soft, as Sisimai
    # has it: the sender can be put right, the recipient may be fine)
    (Step.MAIL, 553, "5.1.8", "5.1.8 Sender address rejected: Domain not found", "rejected", False),
    # a greeting that refuses this client (Spamhaus-listed IPs get 554 from most MTAs)
    (Step.CONNECT, 554, "5.7.1", "5.7.1 Service unavailable; client [192.0.2.1] blocked using zen.spamhaus.org", "blocked", False),
    # the message itself refused after the data as spam (Gmail 550 5.7.1 "likely unsolicited mail")
    (Step.EOM, 550, "5.7.1", "5.7.1 Our system has detected that this message is likely unsolicited mail.", "spamdetected", False),
]  # fmt: skip


@pytest.mark.parametrize("step, code, status, text, reason, hard", REFUSALS)
def test_a_refusal_during_smtp_is_classified(
    step: Step, code: int, status: str, text: str, reason: str, hard: bool
) -> None:
    fields = refusal_fields(Outcome(Verdict.PERMANENT, step, code, status, text))
    assert (fields["reason"], fields["hard"]) == (reason, hard), fields["rule"]
    assert fields["command"] == {"connect": "CONN", "rcpt": "RCPT", "mail": "MAIL", "eom": "DATA"}[step.value]


@pytest.mark.parametrize("step, code, status, text, reason, hard", [r for r in REFUSALS if r[0] is Step.RCPT])
def test_the_same_refusal_reported_later_in_a_dsn_gets_the_same_reason(
    step: Step, code: int, status: str, text: str, reason: str, hard: bool
) -> None:
    dsn = (
        "From: MAILER-DAEMON@relay.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain\r\n\r\nThe message could not be delivered.\r\n--b\r\n"
        "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; relay.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; gone@example.net\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {code} {text}\r\n--b--\r\n"
    ).encode()
    [row] = recognise(dsn).recipients
    sync = refusal_fields(Outcome(Verdict.PERMANENT, step, code, status, text))
    assert (row.reason, row.hard) == (sync["reason"], sync["hard"]) == (reason, hard)


def test_a_delivery_whose_retry_window_closed_is_expired_and_soft() -> None:
    fields = refusal_fields(Outcome(Verdict.TEMPORARY, Step.RCPT, 452, "4.2.2", "4.2.2 Mailbox full"), expired=True)
    assert (fields["reason"], fields["hard"], fields["command"]) == ("expired", False, "RCPT")


@pytest.mark.parametrize(
    ("kind", "action", "hard"), [(EventKind.FAILURE, "failed", True), (EventKind.DEFERRED, "delayed", False)]
)
def test_a_refusal_during_smtp_has_the_fields_of_one_reported_later(kind: EventKind, action: str, hard: bool) -> None:
    """A log reader's filter on `action` or `dsn` finds the refusals of our own dialogue and the
    ones a DSN reported (core/returns.py) alike."""
    job = DeliveryJob("d" * 26, "m" * 26, "a" * 26, "gone@example.net", "b…@bounces.test", b"", 0, 0.0, 100.0, ("t",))
    outcome = Outcome(Verdict.PERMANENT, Step.RCPT, 550, "5.1.1", "5.1.1 User unknown", "mx.example.net")
    data = attempt_event(kind, job, outcome, 1, 1.0).data
    assert (data["type"], data["action"], data["dsn"], data["state"]) == ("sync", action, False, "rcpt")
    assert (data["reason"], data["hard"], data["command"]) == ("userunknown", hard, "RCPT")
