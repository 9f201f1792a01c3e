"""Complaints that are not one RFC 5965 report: a loop's digest of several reports, SpamCop's
plain-text report; and the abuse reports that are no complaint (X-ARF). Built from the
notices in tests/bounces/notices/ and variants of them in the same families."""

from __future__ import annotations

from pathlib import Path

import pytest

from returnpath.bounces import Kind, recognise

NOTICES = Path(__file__).parent / "notices"
TRACKING = "b0123abcd@bounces.example.net"


def _report(rcpt: str, feedback_type: str, boundary: str) -> str:
    return (
        f"From: fbl@loop.example\nTo: {TRACKING}\nSubject: report\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\n\n'
        f"--{boundary}\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        f"--{boundary}\nContent-Type: message/feedback-report\n\nFeedback-Type: {feedback_type}\n"
        f"User-Agent: Loop/1\nVersion: 1\nOriginal-Rcpt-To: <{rcpt}>\n\n"
        f"--{boundary}\nContent-Type: text/rfc822-headers\n\nReturn-Path: <{TRACKING}>\nTo: {rcpt}\n"
        f"Subject: news\n\n--{boundary}--\n"
    )


def _digest(head: str, *reports: str) -> bytes:
    parts = "".join(f"--D\nContent-Type: message/rfc822\n\n{r}\n" for r in reports)
    return (f'{head}To: {TRACKING}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="D"\n\n'
            f"--D\nContent-Type: text/plain\n\nreports\n\n{parts}--D--\n").encode()  # fmt: skip


def test_a_digest_of_reports_names_each_complainer_with_the_type_of_his_report() -> None:
    verdict = recognise((NOTICES / "arf-bundle-01.eml").read_bytes())
    assert verdict.kind is Kind.COMPLAINT
    assert {(r.address, r.feedback_type) for r in verdict.recipients} == {
        ("ben.archer@isp-mail.example", "abuse"),
        ("l.moreau@isp-mail.example", "fraud"),
    }
    three = _digest(
        "From: Feedback Loop <loop@isp.example>\nSubject: 3 complaints\n",
        _report("a@isp.example", "abuse", "r1"),
        _report("b@isp.example", "virus", "r2"),
        _report("a@isp.example", "abuse", "r3"),  # the same person twice: one row
    )
    verdict = recognise(three)
    assert verdict.kind is Kind.COMPLAINT
    assert [(r.address, r.feedback_type) for r in verdict.recipients] == [
        ("a@isp.example", "abuse"),
        ("b@isp.example", "virus"),
    ]


@pytest.mark.parametrize(
    "head",
    [
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered Mail Returned to Sender\n",
        "From: Mail Delivery System <postmaster@mx.example.org>\nSubject: report\n",
        "From: someone@example.org\nSubject: Mail delivery failed: returning message to sender\n",
    ],
)
def test_a_bounce_of_a_report_that_was_sent_on_is_no_complaint(head: str) -> None:
    # an application relaying a loop's report on: its bounce carries the report attached
    verdict = recognise(_digest(head, _report("a@isp.example", "abuse", "r1")))
    assert verdict.kind is not Kind.COMPLAINT


def test_a_message_with_a_report_and_other_attachments_is_no_digest() -> None:
    mixed = _digest(
        "From: someone@example.org\nSubject: see attached\n",
        _report("a@isp.example", "abuse", "r1"),
        "Subject: x\n\nhello\n",
    )
    assert recognise(mixed).kind is not Kind.COMPLAINT


@pytest.mark.parametrize(
    "subject",
    [
        "[SpamCop (http://shop.example/orders/10482) id:7342195561]Your order 10482 has shipped",
        "[SpamCop (198.51.100.7) id:6123004711]Last chance",
        "[SpamCop (https://t.example/c/a?b=1) id:12]",
    ],
)
def test_spamcops_plain_text_report_is_a_complaint_that_names_nobody(subject: str) -> None:
    raw = (NOTICES / "spamcop-01.eml").read_bytes()
    head, body = raw.split(b"\n\n", 1)
    head = b"\n".join(
        b"Subject: " + subject.encode() if line.startswith(b"Subject:") else line for line in head.split(b"\n")
    )
    verdict = recognise(head + b"\n\n" + body)
    assert verdict.kind is Kind.COMPLAINT and verdict.recipients == ()
    # the body alone (a subject some client rewrote) says it too
    plain = raw.replace(b"Subject: [SpamCop (http://shop.example/orders/10482) id:7342195561]", b"Subject: ")
    assert recognise(plain).kind is Kind.COMPLAINT


def test_a_person_who_mentions_spamcop_does_not_complain_by_report() -> None:
    raw = (
        f"From: Dieter <d@isp.example>\nTo: {TRACKING}\nSubject: Re: [SpamCop] your list\n\n"
        "I reported this to SpamCop (spamcop.net) already. [ SpamCop ] stop it.\n"
    ).encode()
    assert recognise(raw).kind is Kind.OTHER


@pytest.mark.parametrize(("value", "report_type"), [("Yes", "spam"), ("yes", "login-attack"), ("YES", "malware")])
def test_an_x_arf_network_abuse_report_is_neither_a_bounce_nor_a_complaint(value: str, report_type: str) -> None:
    raw = (NOTICES / "abusix-01.eml").read_bytes()
    raw = raw.replace(b"X-ARF: Yes", b"X-ARF: " + value.encode()).replace(
        b"Report-Type: spam", b"Report-Type: " + report_type.encode()
    )
    verdict = recognise(raw)
    assert verdict.kind is Kind.OTHER and not verdict.failed


def test_a_dmarc_failure_report_is_an_arf_report_with_its_own_type() -> None:
    # RFC 6591: a feedback report (so a complaint row, as Sisimai reads them) whose type,
    # auth-failure, tells it from a person's complaint
    for name, address in (
        ("dmarcfail-01.eml", "ines.santos@isp-mail.example"),
        ("dmarcfail-02.eml", "a.volkov@mail.ru"),
    ):
        verdict = recognise((NOTICES / name).read_bytes())
        assert verdict.kind is Kind.COMPLAINT
        assert [(r.address, r.feedback_type) for r in verdict.recipients] == [(address, "auth-failure")]
