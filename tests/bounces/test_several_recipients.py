"""Notices about several recipients of one message, each with its own outcome.

A relay sends one transaction per domain, so one notice may name several recipients (the Cc
list at one company, an alias's members): each must come out as its own row, with the cause
the notice gives for that recipient, not for another one in the same notice.
"""

from __future__ import annotations

import pytest

from returnpath.bounces import recognise
from returnpath.bounces.mail import clean_address

TRACKING = "b0123abcd@bounces.example.net"


def _mail(sender: str, subject: str, body: str, content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (
        f"From: {sender}\nTo: {TRACKING}\nSubject: {subject}\nMIME-Version: 1.0\nContent-Type: {content_type}\n\n{body}"
    ).encode()


def _gmail(listed: list[str], details: str, heading: str = "failed permanently") -> bytes:
    """Gmail's text notice (before 2015): the recipients one per indented line, then one
    'Google tried to deliver...' paragraph per refusal."""
    lines = "".join(f"     {a}\n" for a in listed)
    return _mail(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Failure)",
        f"This is an automatically generated Delivery Status Notification\n\n"
        f"Delivery to the following recipients {heading}:\n\n{lines}\n"
        f"Technical details of permanent failure:\n{details}\n\n"
        "----- Original message -----\n\nSubject: hello\n",
    )


def _tried(domain: str, reply: str) -> str:
    return (
        f"Google tried to deliver your message, but it was rejected by the server for the recipient domain "
        f"{domain} by mx.{domain}. [192.0.2.1].\n\nThe error that the other server returned was:\n{reply}\n\n"
    )


def _rows(raw: bytes) -> dict[str, tuple[str, str]]:
    return {r.address: (r.action, r.reason) for r in recognise(raw).recipients}


@pytest.mark.parametrize(
    ("replies", "expected"),
    [
        (  # each refusal's reply names its recipient
            [
                "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in local recipient table",
                "552 5.2.2 <b@example.org>: Recipient address rejected: Mailbox full",
            ],
            {"a@example.org": "userunknown", "b@example.org": "mailboxfull"},
        ),
        (  # the same, in the other order and with sendmail's wording
            [
                "552 5.2.2 <b@example.org>... Mailbox full",
                "550 5.1.1 <a@example.org>... User unknown (state 14).",
            ],
            {"a@example.org": "userunknown", "b@example.org": "mailboxfull"},
        ),
    ],
)
def test_gmail_gives_each_listed_recipient_its_own_refusal(replies: list[str], expected: dict[str, str]) -> None:
    raw = _gmail(["a@example.org", "b@example.org"], "".join(_tried("example.org", r) for r in replies))
    assert _rows(raw) == {a: ("failed", reason) for a, reason in expected.items()}


def test_gmail_one_refusal_for_several_recipients_is_each_ones() -> None:
    # one reply that names none of them: it is about all of them
    raw = _gmail(
        ["a@example.org", "b@example.org", "c@example.org"],
        _tried("example.org", "554 5.7.1 Service unavailable; Client host [192.0.2.9] blocked using zen.spamhaus.org"),
    )
    assert _rows(raw) == {a: ("failed", "blocked") for a in ("a@example.org", "b@example.org", "c@example.org")}


def test_gmail_delay_lists_several_recipients() -> None:
    raw = _mail(
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "Delivery Status Notification (Delay)",
        "This is an automatically generated Delivery Status Notification\n\n"
        "THIS IS A WARNING MESSAGE ONLY.\n\nYOU DO NOT NEED TO RESEND YOUR MESSAGE.\n\n"
        "Delivery to the following recipients has been delayed:\n\n"
        "     a@example.es\n     b@example.es\n\n"
        "Message will be retried for 2 more day(s)\n\n"
        "Technical details of temporary failure:\n"
        "The recipient server did not accept our requests to connect. Learn more at "
        "http://mail.google.com/support/bin/answer.py?answer=7720\n"
        "[mx.example.es. (10): Connection timed out]\n\n"
        "----- Original message -----\n\nSubject: hello\n",
    )
    verdict = recognise(raw)
    assert not verdict.failed
    assert {(r.address, r.action) for r in verdict.recipients} == {
        ("a@example.es", "delayed"),
        ("b@example.es", "delayed"),
    }


@pytest.mark.parametrize(
    ("value", "address"),
    [
        ('rfc822; "anna maria"@example.ch', '"anna maria"@example.ch'),
        ('<"Anna Maria"@Example.CH>', '"anna maria"@example.ch'),
        ('"a..b"@example.org', '"a..b"@example.org'),
        ('"j\tdoe"@example.org', '"j\tdoe"@example.org'),
        # a display name in quotes is no local part
        ('rfc822; "Tanaka, Hiroshi" <h.tanaka@example.jp>', "h.tanaka@example.jp"),
        ('"Smith John" <j.smith@example.org>', "j.smith@example.org"),
    ],
)
def test_quoted_local_part_may_hold_spaces(value: str, address: str) -> None:
    # RFC 5321 section 4.1.2: a Quoted-string local part's qtextSMTP includes the space
    assert clean_address(value) == address


def test_dsn_rows_for_quoted_plus_tagged_and_upper_case_recipients() -> None:
    boundary = "B1"
    blocks = [
        ('"anna maria"@example-firma.ch', "550 5.1.1 User unknown", "5.1.1"),
        ("buchhaltung+rechnungen@example-firma.ch", "550 5.1.1 User unknown", "5.1.1"),
        ("Peter.MUELLER@example-firma.ch", "552 5.2.2 Mailbox full", "5.2.2"),
    ]
    fields = "".join(
        f"Final-Recipient: rfc822; {a}\nAction: failed\nStatus: {s}\nDiagnostic-Code: smtp; {d}\n\n"
        for a, d, s in blocks
    )
    raw = _mail(
        "MAILER-DAEMON@mx.example-firma.ch (Mail Delivery System)",
        "Undelivered Mail Returned to Sender",
        f"--{boundary}\nContent-Type: text/plain\n\nThis is the mail system at host mx.example-firma.ch.\n\n"
        f"--{boundary}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example-firma.ch\n\n{fields}"
        f"--{boundary}--\n",
        content_type=f'multipart/report; report-type=delivery-status; boundary="{boundary}"',
    )
    assert _rows(raw) == {
        '"anna maria"@example-firma.ch': ("failed", "userunknown"),
        "buchhaltung+rechnungen@example-firma.ch": ("failed", "userunknown"),
        "peter.mueller@example-firma.ch": ("failed", "mailboxfull"),
    }
