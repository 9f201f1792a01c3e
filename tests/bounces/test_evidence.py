"""`recognise(raw, recipient=...)`: the delivery's own recipient as evidence for a failure
notice that names it only in its text, mangled, or not at all — and for nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from returnpath.bounces import Kind, recognise
from returnpath.cli import main

QMAIL_HEAD = b"""\
From: MAILER-DAEMON@mail.example.net
To: b0123@bounces.example.com
Subject: failure notice

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

"""
COPY = b"""
--- Below this line is a copy of the message.

From: app@example.com
Subject: hello

hi
"""
NAMELESS = QMAIL_HEAD + b"Sorry, no mailbox here by that name. (#5.1.1)\n" + COPY
TRUNCATED = QMAIL_HEAD + b"<kim@example.n>:\nSorry, no mailbox here by that name. (#5.1.1)\n" + COPY
ALIAS_DOMAIN = (
    QMAIL_HEAD + b"<kim@mail.example.net>:\n192.0.2.1 does not like recipient.\n"
    b"Remote host said: 552 5.2.2 Mailbox full\n" + COPY
)
AUTOREPLY = b"""\
From: Kim <kim@example.net>
To: b0123@bounces.example.com
Subject: Out of Office: hello
Auto-Submitted: auto-replied

I am away until Monday; your mail could not be read before then.
"""
HUMAN = b"""\
From: Kim <kim@example.net>
To: b0123@bounces.example.com
Subject: Re: hello

Thanks, got it. 550 reasons to smile.
"""
FORWARDED_DSN = b"""\
From: MAILER-DAEMON@mx.example.org
To: b0123@bounces.example.com
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message to kim@example.net was forwarded and could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.org

Final-Recipient: rfc822; kim.private@elsewhere.example
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B--
"""


def test_a_notice_naming_nobody_fails_the_known_recipient() -> None:
    verdict = recognise(NAMELESS, recipient="Kim@Example.NET")
    assert verdict.kind is Kind.BOUNCE
    [row] = verdict.failed
    assert (row.address, row.status, row.reason, row.hard) == ("kim@example.net", "5.1.1", "userunknown", True)
    assert "named nowhere" in row.rule
    assert "no mailbox here" in row.diagnostic and "Below this line" not in row.diagnostic


def test_without_the_recipient_the_same_notice_names_nobody() -> None:
    verdict = recognise(NAMELESS)
    assert verdict.kind is Kind.BOUNCE and verdict.recipients == ()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(TRUNCATED, "userunknown"), (ALIAS_DOMAIN, "mailboxfull")],
    ids=["truncated-domain", "alias-domain"],
)
def test_a_mangled_address_is_read_as_the_known_recipient(raw: bytes, reason: str) -> None:
    named = recognise(raw)
    assert [r.address for r in named.failed] != ["kim@example.net"]
    [row] = recognise(raw, recipient="kim@example.net").failed
    assert row.address == "kim@example.net" and row.reason == reason
    assert "the report reads" in row.rule


def test_a_different_address_is_kept() -> None:
    # a qmail block naming somebody else entirely, with the recipient nowhere in the text
    raw = QMAIL_HEAD + b"<lee@other.example>:\nSorry, no mailbox here by that name. (#5.1.1)\n" + COPY
    [row] = recognise(raw, recipient="kim@example.net").failed
    assert row.address == "lee@other.example"


def test_a_dsn_naming_where_the_mail_was_forwarded_keeps_its_final_recipient() -> None:
    [row] = recognise(FORWARDED_DSN, recipient="kim@example.net").failed
    assert row.address == "kim.private@elsewhere.example" and row.reason == "userunknown"


@pytest.mark.parametrize(
    ("raw", "kind"), [(AUTOREPLY, Kind.AUTOREPLY), (HUMAN, Kind.OTHER)], ids=["autoreply", "human"]
)
def test_what_is_no_failure_report_stays_what_it_is(raw: bytes, kind: Kind) -> None:
    verdict = recognise(raw, recipient="kim@example.net")
    assert verdict == recognise(raw)
    assert verdict.kind is kind and verdict.failed == ()


def test_parse_recipient_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nameless.eml").write_bytes(NAMELESS)
    assert main(["parse", "--json", "--recipient", "kim@example.net", str(tmp_path / "nameless.eml")]) == 0
    line = json.loads(capsys.readouterr().out)
    assert [(r["address"], r["action"], r["reason"]) for r in line["recipients"]] == [
        ("kim@example.net", "failed", "userunknown")
    ]
    assert main(["parse", str(tmp_path / "nameless.eml")]) == 0
    assert capsys.readouterr().out.strip().endswith("nameless.eml: bounce")


@pytest.mark.parametrize(
    "bad", ["kim", "kim@", "@example.net", "kim@localhost", "a b@example.net", "<kim@example.net>"]
)
def test_parse_recipient_must_be_an_address(tmp_path: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "nameless.eml").write_bytes(NAMELESS)
    with pytest.raises(SystemExit) as exit:
        main(["parse", "--recipient", bad, str(tmp_path / "nameless.eml")])
    assert exit.value.code == 2
    assert "--recipient" in capsys.readouterr().err


EXIM_HEAD = b"""\
From: Mail Delivery System <Mailer-Daemon@mail.example.org>
To: b0123@bounces.example.com
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

"""
POSTFIX_HEAD = b"""\
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
To: b0123@bounces.example.com
Subject: Undelivered Mail Returned to Sender

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

"""
SENDMAIL_HEAD = b"""\
From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.org>
To: b0123@bounces.example.com
Subject: Returned mail: see transcript for details

   ----- The following addresses had permanent fatal errors -----
"""


@pytest.mark.parametrize(
    "raw",
    [
        EXIM_HEAD + b"  kim.private@elsewhere.example\n    (generated from kim@example.net)\n"
        b"    host mx.elsewhere.example [192.0.2.9]\n"
        b"    SMTP error from remote mail server after RCPT TO:<kim.private@elsewhere.example>:\n"
        b"    550 5.1.1 User unknown\n\n",
        EXIM_HEAD + b"  kim.private@elsewhere.example\n    (ultimately generated from kim@example.net)\n"
        b"    host mx.elsewhere.example [192.0.2.9]\n"
        b"    SMTP error from remote mail server after RCPT TO:<kim.private@elsewhere.example>:\n"
        b"    550 5.1.1 User unknown\n\n",
        POSTFIX_HEAD + b"<kim.private@elsewhere.example> (expanded from\n    <kim@example.net>): host\n"
        b"    mx.elsewhere.example[192.0.2.9] said: 550 5.1.1 User unknown (in reply to RCPT\n"
        b"    TO command)\n\n",
        SENDMAIL_HEAD + b"<kim.private@elsewhere.example>\n    (reason: 550 5.1.1 User unknown)\n"
        b"    (expanded from: <kim@example.net>)\n\n   ----- Transcript of session follows -----\n"
        b"... while talking to mx.elsewhere.example.:\n>>> RCPT To:<kim.private@elsewhere.example>\n"
        b"<<< 550 5.1.1 User unknown\n\n   ----- Original message follows -----\n",
    ],
    ids=["exim-generated", "exim-ultimately", "postfix-expanded", "sendmail-expanded"],
)
def test_an_address_the_recipient_was_expanded_into_is_kept(raw: bytes) -> None:
    # without a delivery-status part the text is all there is: it names the recipient only as
    # the alias the failed address came from, which is no misreading to mend
    mail = raw + b"\nFrom: app@example.com\nSubject: hello\n\nhi\n"
    [row] = recognise(mail).failed
    assert row.address == "kim.private@elsewhere.example" and row.reason == "userunknown"
    assert recognise(mail, recipient="kim@example.net").failed == (row,)
