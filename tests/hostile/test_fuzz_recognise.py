"""Fuzzing recognition with hypothesis: returned mail built from the pieces bounces are made of
(failure-notice headers, report fields, MIME structure, encodings), garbled at random.

`recognise` swallows any exception so that one bad message cannot stop the returned-mail
worker, so "it did not raise" says nothing on its own: these tests call the steps it is made
of — parsing, the DSN, ARF and auto-reply readers and every per-software detector — and
require each to answer without raising, since a step that raises silently loses its answer.
And the answer must not depend on the message's line endings.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from returnpath.bounces import arf, autoreply, dsn, recognise, rules
from returnpath.bounces.mail import Mail

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NAMES = ["From", "To", "Subject", "Content-Type", "Content-Transfer-Encoding", "Auto-Submitted", "X-Failed-Recipients",
         "Return-Path", "Message-ID", "MIME-Version", "Date", "Precedence", "X-Autoreply", "Feedback-Type"]  # fmt: skip
VALUES = [
    "MAILER-DAEMON@mx.example.net", "Mail Delivery System <postmaster@example.net>", "<>",
    "Undelivered Mail Returned to Sender", "Delivery Status Notification (Failure)", "failure notice",
    "Returned mail: see transcript for details", "Automatic reply: out of office", "=?utf-8?b?w6nDqQ==?=",
    "=?iso-2022-jp?B?GyRCJTEbKEI=?=", "=?broken?q?x", "multipart/report; report-type=delivery-status; boundary=B",
    "multipart/report; report-type=feedback-report; boundary=B", "multipart/mixed; boundary=\"B\"",
    "multipart/alternative; boundary=", "message/rfc822", "message/delivery-status", "text/plain; charset=utf-8",
    "text/plain; charset=unknown-8bit", "base64", "quoted-printable", "7bit", "auto-replied", "bulk",
    "gone@example.org", "abuse", "",
]  # fmt: skip
FIELDS = [
    "Final-Recipient: rfc822; {a}", "Original-Recipient: rfc822;{a}", "Action: failed", "Action: delayed",
    "Action: delivered", "Action: ", "Status: 5.1.1", "Status: 4.2.2", "Status: 9.9.999", "Status: 5.",
    "Diagnostic-Code: smtp; 550 5.1.1 <{a}>: Recipient address rejected: User unknown",
    "Diagnostic-Code: X-Postfix; host mx[192.0.2.1] said: 552 5.2.2 mailbox full", "Diagnostic-Code:",
    "Remote-MTA: dns; mx.example.org", "Reporting-MTA: dns; relay.example.net", "Last-Attempt-Date: not a date",
    "Arrival-Date: Mon, 1 Jan 2024 00:00:00 +0000", "Feedback-Type: abuse", "User-Agent: SomeGenerator/1.0",
    "Version: 1", "Original-Rcpt-To: {a}", "Reported-Domain: example.com",
]  # fmt: skip
LINES = [
    "<{a}>: host mx.example.org[192.0.2.1] said: 550 5.1.1 User unknown (in reply to RCPT TO command)",
    "The following address failed:", "    {a}", "  ----- The following addresses had permanent fatal errors -----",
    "Hi. This is the qmail-send program at example.net.", "<{a}>:", "Sorry, no mailbox here by that name. (#5.1.1)",
    "--- Below this line is a copy of the message.", "550 Requested action not taken: mailbox unavailable",
    "I am out of the office until Monday.", "--B", "--B--", "", ".", "..", "=", "=4", "=\n", "\t", "\x00", "\xff",
    "\u202e", "Content-Type: message/delivery-status", "Content-Type: message/rfc822", "Content-Type: text/rfc822-headers",
]  # fmt: skip
ADDRESSES = ["gone@example.org", "b7xq4k2m9c3v8a5s6d2f4g7h1j@bounces.example.com", "@", "a@", "<>", "x@[192.0.2.1]",
             "\"quoted local\"@example.org", "ünï@exämple.org", ""]  # fmt: skip

garbage = st.text(st.characters(codec="utf-8", exclude_characters="\r"), max_size=40)


@st.composite
def returned_mail(draw: st.DrawFn) -> bytes:
    address = draw(st.sampled_from(ADDRESSES))
    piece = st.one_of(st.sampled_from(FIELDS), st.sampled_from(LINES), garbage)
    headers = draw(st.lists(st.tuples(st.sampled_from(NAMES), st.one_of(st.sampled_from(VALUES), garbage)), max_size=8))
    body = draw(st.lists(piece, max_size=40))
    lines = [f"{name}: {value}" for name, value in headers] + [""] + body
    text = "\n".join(line.replace("{a}", address) for line in lines)
    data = text.encode("utf-8", "surrogateescape")
    if draw(st.booleans()):  # cut anywhere, as a truncated bounce is
        data = data[: draw(st.integers(0, len(data)))]
    return data


def steps(raw: bytes) -> None:
    mail = Mail.parse(raw)
    for reader in (arf.read, arf.read_jmrp, arf.read_unsubscribe, dsn.read, autoreply.read):
        reader(mail)
    report = dsn.read(mail)
    if report is not None:
        dsn.recipients(report, mail.body)
    for inner in mail.attached_mails(containing=b"elivery-status"):
        dsn.read(inner)
    for detector in rules.DETECTORS:
        detector.detect(mail)


@FUZZ
@given(returned_mail())
def test_no_step_of_recognition_raises(raw: bytes) -> None:
    steps(raw)


@FUZZ
@given(st.binary(max_size=2000))
def test_no_step_of_recognition_raises_on_bytes(raw: bytes) -> None:
    steps(raw)


@FUZZ
@given(returned_mail())
def test_line_endings_do_not_change_the_answer(raw: bytes) -> None:
    lf = raw.replace(b"\r", b"")
    assert recognise(lf.replace(b"\n", b"\r\n")) == recognise(lf)
