"""The per-software detectors (bounces/lhost/) over the Sisimai corpus, plus hand-made samples.

For every non-standard bounce of the corpus: the detector named below is the first in
`lhost.ORDER` to claim it, and it finds every expected recipient, with the status the email
gives (Sisimai's made-up x.0.9xx statuses are not expected) and, where the detector states a
reason itself, Sisimai's reason. No detector claims a failure in a DSN, an auto-reply, a
complaint or a message that is not a bounce.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from returnpath.bounces import WEAK_REASONS, lhost, recognise
from returnpath.bounces.dsn import find_command
from returnpath.bounces.lhost import exim, yahoo
from returnpath.bounces.mail import Mail
from returnpath.bounces.rules import Found
from tests import corpus

SISIMAI = corpus.require()  # skips this module without the corpus (fails it under CI)

# The corpus's engine -> the detector that should claim its non-standard bounces.
DETECTOR_FOR_ENGINE = {
    "Activehunter": "sendmail",
    "AmazonSES": "amazonses",
    "AmazonWorkMail": "amazonworkmail",
    "ApacheJames": "apachejames",
    "Biglobe": "sendmail",
    "DragonFly": "dragonfly",
    "EinsUndEins": "gmx",
    "Exchange2003": "exchange2003",
    "Exim": "exim",
    "EZweb": "ezweb",
    "FML": "fml",
    "GMX": "gmx",
    "Gmail": "gmail",
    "Google": "postfix",
    "GoogleGroups": "googlegroups",
    "IMailServer": "imailserver",
    "InterScanMSS": "trendmicro",
    "KDDI": "kddi",
    "MailFoundry": "mailfoundry",
    "MailMarshalSMTP": "mailmarshal",
    "MailRu": "exim",
    "MessagingServer": "messagingserver",
    "MXLogic": "exim",
    "mFILTER": "mfilter",
    "Notes": "notes",
    "Office365": "exchange2007",
    "OpenSMTPD": "opensmtpd",
    "Postfix": "postfix",
    "qmail": "qmail",
    "Sendmail": "sendmail",
    "V5sendmail": "sendmail",
    "Verizon": "verizon",
    "X1": "sendmail",
    "X2": "qmail",
    "X3": "x3",
    "X4": "qmail",
    "X6": "x6",
    "Yahoo": "yahoo",
    "Zoho": "zoho",
}
# Files whose engine says too little (a receiving host, or "RFC3464" for a broken report).
DETECTOR_FOR_FILE = {
    "rhost-franceptt-03.eml": "exim",
    "rhost-franceptt-04.eml": "gmx",
    "rhost-franceptt-07.eml": "postfix",
    "rfc3464-04.eml": "sendmail",
    "rfc3464-06.eml": "sendmail",
    "rfc3464-35.eml": "sendmail",
    "rfc3464-37.eml": "smail",
    "rfc3464-38.eml": "generic",
    "rfc3464-39.eml": "exchange2003",
}
KNOWN_MISSES = {
    "lhost-apachejames-01.eml": "expected.json names 11 zeros, the email 12: an anonymising slip",
    "lhost-v5sendmail-01.eml": "we read kijitora@example.com from the unsent message; "
    "Sisimai's row says 'kijitora@exampl'",
}


# Emails of not/ that report a failure all the same (see test_corpus.KNOWN_MISSES).
NOT_BOUNCES_THAT_ARE = {"rb-issue-368-bug.eml": "a postmaster's 'Mailbox full' rejection notice"}


def _emails() -> dict[str, dict[str, Any]]:
    emails: dict[str, dict[str, Any]] = json.loads((SISIMAI / "expected.json").read_text(encoding="utf-8"))["emails"]
    return emails


EMAILS = _emails()


def claim(path: str) -> tuple[str | None, list[Found]]:
    """The first detector that claims the email, and what it found."""
    mail = Mail.parse((SISIMAI / path).read_bytes())
    for detector in lhost.ORDER:
        found = detector.detect(mail)
        if found is not None:
            return detector.name, list(found)
    return None, []


def _case(path: str) -> object:
    name = path.rsplit("/", 1)[-1]
    if name in KNOWN_MISSES:
        return pytest.param(path, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[name]))
    return path


NON_STANDARD = [
    _case(p) for p, e in sorted(EMAILS.items()) if e["kind"] == "non-standard-bounce" and p.split("/")[1] != "not"
]
OTHERS = [
    pytest.param(p, marks=pytest.mark.xfail(strict=True, reason=NOT_BOUNCES_THAT_ARE[p.rsplit("/", 1)[-1]]))
    if p.rsplit("/", 1)[-1] in NOT_BOUNCES_THAT_ARE
    else p
    for p, e in sorted(EMAILS.items())
    if e["kind"] != "non-standard-bounce"
]


@pytest.mark.parametrize("path", NON_STANDARD)
def test_the_right_detector_finds_every_expected_recipient(path: str) -> None:
    entry = EMAILS[path]
    name = path.rsplit("/", 1)[-1]
    detector, found = claim(path)
    assert detector == DETECTOR_FOR_FILE.get(name, DETECTOR_FOR_ENGINE.get(entry["engine"]))
    by_address = {f.address.lower(): f for f in found}
    for row in entry["expected"]:
        f = by_address.get(row["recipient"].lower())
        assert f is not None, f"{row['recipient']} not in {sorted(by_address)}"
        if row["deliverystatus"] and not row["status_is_sisimai_pseudo"]:
            assert f.status == row["deliverystatus"]
        if row["replycode"]:
            assert f.code == int(row["replycode"])
        if f.reason is not None and f.reason not in WEAK_REASONS:
            # a reason the detector states itself must be Sisimai's (a weak one may still give
            # way to a specific one that the words show: test_corpus checks the verdict)
            assert f.reason == row["reason"]
        assert f.pattern, "every recipient says which pattern matched"


@pytest.mark.parametrize("path", OTHERS)
def test_no_detector_claims_a_failure_in_anything_else(path: str) -> None:
    detector, found = claim(path)
    assert [f for f in found if f.action in ("failed", "delayed")] == []
    if EMAILS[path]["kind"] in ("dsn", "auto-reply", "not-bounce"):
        assert detector is None


def test_not_bounces_folder_is_never_claimed() -> None:
    for path in sorted((SISIMAI / "maildir" / "not").glob("*.eml")):
        if path.name in NOT_BOUNCES_THAT_ARE:
            continue
        assert claim(str(path.relative_to(SISIMAI)))[0] is None


def test_line_endings_do_not_change_the_answer() -> None:
    for path in sorted(p for p in EMAILS if p.startswith(("maildir/dos/", "maildir/mac/"))):
        twin = "maildir/bsd/" + path.split("/", 2)[2]
        if twin in EMAILS and (SISIMAI / twin).exists():
            assert claim(path) == claim(twin), path


# ---- hand-made samples: the same formats with other values and line endings -------------

SAMPLES = [
    (
        "qmail",
        "failure notice",
        """Hi. This is the qmail-send program at mx.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<a@example.org>:
Sorry, no mailbox here by that name. (#5.1.1)

<b@example.org>:
198.51.100.7 does not like recipient.
Remote host said: 552 5.2.2 <b@example.org>: Mailbox full
Giving up on 198.51.100.7.

--- Below this line is a copy of the message.

Return-Path: <me@example.net>
To: a@example.org, b@example.org
""",
        [("a@example.org", "5.1.1", None, None), ("b@example.org", "5.2.2", 552, "RCPT")],
    ),
    (
        "exim",
        "Mail delivery failed: returning message to sender",
        """This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  c@example.com
    host mx.example.com [203.0.113.9]
    SMTP error from remote mail server after RCPT TO:<c@example.com>:
    550 5.1.1 <c@example.com>: Recipient address rejected

------ This is a copy of the message, including all the headers. ------
To: c@example.com
""",
        [("c@example.com", "5.1.1", 550, "RCPT")],
    ),
    (
        "postfix",
        "Undelivered Mail Returned to Sender",
        """This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<d@example.com>: host mx.example.com[203.0.113.5] said: 554 5.7.1 Spam
    message rejected (in reply to end of DATA command)
""",
        [("d@example.com", "5.7.1", 554, "DATA")],
    ),
    (
        "opensmtpd",
        "Delivery status notification: error",
        """    Hi!

    This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.

    An error has occurred while attempting to deliver a message for
    the following list of recipients:

e@example.com: 550 5.1.1 <e@example.com>: user does not exist

    Below is a copy of the original message:
""",
        [("e@example.com", "5.1.1", 550, None)],
    ),
    (
        # the next hop's quoted reply gives the status; without one, AsyncOS's own class
        "ironport",
        "Delivery Status Notification (Failure)",
        """The following message to <f@example.com> was undeliverable.
The reason for the problem:
5.3.0 - Other mail system problem 552-'5.2.2 <f@example.com>: Mailbox full'

The following message to <g@example.com> was undeliverable.
The reason for the problem:
5.1.2 - Bad destination host 'DNS Hard Error looking up example.com (MX):  NXDomain'
""",
        [("f@example.com", "5.2.2", 552, None), ("g@example.com", "5.1.2", None, None)],
    ),
    (
        # L-Soft LSMTP's fields for LISTSERV (flufl.bounce's simplematch list, simple_18)
        "lsmtp",
        "Undelivered mail",
        """An error was detected while processing the enclosed message.  A list of
the affected recipients follows.   This list is in a special format that
allows software like LISTSERV to automatically take action on incorrect
addresses; you can safely ignore the numeric codes.

--> Error description:
Error-for:  h@example.com
Error-Code: 0
Error-Text: Mailer mx.example.com said:
            "554 Message looping (received 6 times)"
Error-for:  i@example.com
Error-Code: 3
Error-Text: Mailer mx.example.com said: "550 5.1.1 User unknown"

Error-End:  Two errors reported.
""",
        [("h@example.com", None, 554, None), ("i@example.com", "5.1.1", 550, None)],
    ),
    (
        # phquery's nameserver error report: an address, or the bare directory name (a row
        # without address), never the example addresses of the Error Detail (flufl.bounce's
        # yale detector and simplematch pattern for mta1.service.uci.edu; yale_01, simple_37)
        "phquery",
        "Returned mail - nameserver error report",
        """ --------Message not delivered to the following:

 j@example.edu
 kijitora    No matches to nameserver query

 --------Error Detail (phquery V4.1):

 The message, "No matches to nameserver query," is generated whenever
 the on-line directory fails to locate a ph alias.  If mike.fox@example.edu
 fails, try michael.j.fox@example.edu.

 --------Unsent Message below:

From: me@example.net
""",
        [("j@example.edu", None, None, None), ("", None, None, None)],
    ),
]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize(("name", "subject", "body", "rows"), SAMPLES, ids=[s[0] for s in SAMPLES])
def test_hand_made_samples(
    name: str, subject: str, body: str, rows: list[tuple[str, str, int | None, str | None]], newline: str
) -> None:
    raw = (
        f"From: MAILER-DAEMON@mx.example.net\nTo: me@example.net\nSubject: {subject}\n"
        f"Content-Type: text/plain; charset=us-ascii\n\n{body}"
    ).replace("\n", newline)
    mail = Mail.parse(raw.encode())
    claimed = next(((d.name, d.detect(mail)) for d in lhost.ORDER if d.detect(mail) is not None), (None, None))
    assert claimed[0] == name
    got = [(f.address, f.status, f.code, f.command) for f in claimed[1] or []]
    assert got == rows


def _exim_bounce(block: str) -> bytes:
    """Exim's failure bounce (deliver.c's default text) around one recipient block."""
    return f"""From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: me@example.net
Subject: Mail delivery failed: returning message to sender

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

{block}

------ This is a copy of the message, including all the headers. ------
""".encode()


def test_exim_names_the_generating_address_of_an_undisclosed_one() -> None:
    # a router with hide_child_in_errmsg (Exim's specification, "Generic options for
    # routers") hides the failed child address; the one it was generated from is our
    # recipient (flufl.bounce's simple_16 test email)
    raw = _exim_bounce("  an undisclosed address\n    (generated from bob@example.com)")
    found = exim.DETECTOR.detect(Mail.parse(raw))
    assert [f.address for f in found or []] == ["bob@example.com"]
    assert [r.address for r in recognise(raw).failed] == ["bob@example.com"]


def test_yahoo_names_the_recipient_in_its_summary_of_the_message() -> None:
    # Yahoo's newer notice: qmail's words about "the following message", the recipient in a
    # summary's To line, not in a "<address>:" block (flufl.bounce's simplematch list, its
    # yahoo_12); the returned copy's own To lines are not read
    raw = b"""From: MAILER-DAEMON@yahoo.com
To: me@example.net
Content-Type: text/plain

I'm afraid I wasn't able to deliver the following message.
This is a permanent error; I've given up. Sorry it didn't work out.

Subject: Our offers
To: kijitora@yahoo.com

---Below this line is a copy of the message.

Received: from mx.example.net by mta.yahoo.com
Subject: Our offers
To: kijitora@yahoo.com, other@example.org
"""
    assert [r.address for r in recognise(raw).failed] == ["kijitora@yahoo.com"]
    elsewhere = raw.replace(b"MAILER-DAEMON@yahoo.com", b"MAILER-DAEMON@mx.example.net")
    assert yahoo.DETECTOR.detect(Mail.parse(elsewhere)) is None  # Yahoo's own notice only


def test_command_phrases_survive_lower_casing() -> None:
    # command() searches the lower-cased text with the phrases lower-cased: an escape such as
    # \S or \W would change meaning, so none may be there
    from returnpath.bounces.lhost import _text

    assert not [p.pattern for _, p in _text._COMMANDS if re.search(r"\\[A-Z]", p.pattern)]
    assert _text.command("Remote host said: 550 5.1.1 ... >>> RCPT TO:<a@example.org>") == "RCPT"
    assert _text.command("SMTP error from remote mail server after end of data: 554 spam") == "DATA"
    # Exim's words for a command it pipelined, and for CHUNKING's BDAT (transports/smtp.c)
    for said in ("after pipelined DATA: 554", "after pipelined end of data: 550", "after BDAT 1834 LAST: 552"):
        assert _text.command(f"SMTP error from remote mail server {said} ...") == "DATA", said
        assert find_command(f"SMTP error from remote mail server {said} ...") == "DATA", said
    assert find_command("SMTP error from remote mail server after pipelined RCPT TO:<a@example.org>: 550") == "RCPT"


_EXCHANGE_DELAY = """{heading}

h@example.org

Subject: Your order 10482 has shipped

{still_trying}

Diagnostic information for administrators:

Generating server: EXCH01.corp.example.net

h@example.org
Remote Server returned '{reply}'

Original message headers:

Subject: Your order 10482 has shipped
"""


@pytest.mark.parametrize(
    ("subject", "heading", "still_trying", "reply", "action"),
    [
        (
            "Delivery delayed:Your order 10482 has shipped",
            "Delivery has been delayed to these recipients or groups:",
            "This message hasn't been delivered yet. Delivery will continue to be attempted.",
            "400 4.4.7 Message delayed",
            "delayed",
        ),
        (
            "Übermittlung verzögert:Your order 10482 has shipped",
            "Die Übermittlung an diese Empfänger oder Gruppen ist verzögert:",
            "Diese Nachricht wurde noch nicht übermittelt. Es wird weiterhin versucht, die Nachricht zu übermitteln.",
            "400 4.4.7 Message delayed",
            "delayed",
        ),
        (
            "Undeliverable: Your order 10482 has shipped",
            "Delivery has failed to these recipients or groups:",
            "The message couldn't be delivered before its time ran out.",
            "550 4.4.7 QUEUE.Expired; message expired",
            "failed",
        ),
    ],
    ids=["delay", "delay-de", "expired"],
)
def test_exchange_text_tells_a_delay_from_a_failure(
    subject: str, heading: str, still_trying: str, reply: str, action: str
) -> None:
    # the delay notification without its delivery-status part: its text says it is one
    body = _EXCHANGE_DELAY.format(heading=heading, still_trying=still_trying, reply=reply)
    raw = (
        f"From: postmaster@example.net\nTo: me@example.net\nSubject: {subject}\n"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()
    verdict = recognise(raw)
    assert [(r.address, r.action, r.rule.split(":")[0]) for r in verdict.recipients] == [
        ("h@example.org", action, "lhost/exchange2007")
    ]


def test_exchange_onlines_layout_gives_the_reported_error() -> None:
    # without its delivery-status part, the reply is in "Error Details", not next to the address
    body = (
        "Your message to r@example.ie couldn't be delivered.\n\nr's mailbox is full.\n\n"
        "Action Required                                          Recipient\nMailbox full\n\n"
        "More Info for Email Admins\nStatus code: 554 5.2.2\n\nError Details\n"
        "Error: 554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException."
        "MapiExceptionShutoffQuotaExceeded\nMessage rejected by: DB9PR04MB8123.eurprd04.prod.outlook.com\n"
    )
    raw = (
        "From: Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.onmicrosoft.com>\n"
        f"To: me@example.net\nSubject: Undeliverable: hello\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()
    (row,) = recognise(raw).recipients
    assert (row.address, row.action, row.status, row.reason) == ("r@example.ie", "failed", "5.2.2", "mailboxfull")


def test_courier_delay_warning_read_from_its_text() -> None:
    body = (
        "This is a delivery status notification from mail.example.net,\n"
        "running the Courier mail server, version 1.0.16.\n\n"
        "                     DELAYS IN DELIVERING YOUR MESSAGE\n\n"
        "The delivery of the following E-mail message has been delayed.  This is an\n"
        "advisory notice only; it is sent only to notify you about a temporary delay\n\n"
        "<t@example.net>:\n     mx.example.net [192.0.2.51]:\n >>> RCPT TO:<t@example.net>\n"
        " <<< 451 4.3.0 Temporary system failure, try again later\n"
    )
    raw = (
        "From: Courier mail server at mail.example.net <@>\nTo: me@example.net\n"
        f"Subject: WARNING: delayed mail.\nContent-Type: text/plain; charset=utf-8\n\n{body}"
    ).encode()
    assert [(r.address, r.action) for r in recognise(raw).recipients] == [("t@example.net", "delayed")]


def test_sendmail_reason_folded_over_lines_is_read_whole() -> None:
    # a long "(reason: ...)" folded at 78 columns: the rest of the reply is on the next line
    body = (
        "The original message was received at Mon, 30 Nov 2026 10:15:01 GMT\n\n"
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<m@yahoo.com>\n"
        "    (reason: 554 delivery error: dd This user doesn't have a yahoo.com\n"
        "    account (m@yahoo.com) [0] - mta1045.mail.gq1.yahoo.com)\n\n"
        "   ----- Transcript of session follows -----\n"
        "... while talking to mta7.am0.yahoodns.net.:\n>>> DATA\n"
        "<<< 554 delivery error: dd This user doesn't have a yahoo.com account (m@yahoo.com) [0]\n"
        "554 5.0.0 Service unavailable\n"
    )
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@mta.example.org>\nTo: me@example.net\n"
        f"Subject: Returned mail: see transcript for details\nContent-Type: text/plain\n\n{body}"
    ).encode()
    (row,) = recognise(raw).recipients
    assert "yahoo.com account (m@yahoo.com)" in row.diagnostic
    assert (row.address, row.remote_mta, row.reason) == ("m@yahoo.com", "mta7.am0.yahoodns.net", "userunknown")


def _rows(sender: str, subject: str, body: str, headers: str = "") -> list[tuple[str, str]]:
    """(address, reason) of each recipient of a plain-text notice."""
    raw = (
        f"From: {sender}\nTo: me@example.net\nSubject: {subject}\n{headers}"
        f"Content-Type: text/plain; charset=utf-8\n\n{body}"
    )
    return [(r.address, r.reason) for r in recognise(raw.encode()).recipients]


def _ezweb(sender: str, report: str) -> list[tuple[str, str]]:
    original = "---------------------------------------------------\nFrom: me@example.net\n"
    return _rows(f"<{sender}>", "Mail System Error - Returned Mail", f"{report}\n{original}")


@pytest.mark.parametrize(
    ("sentence", "reason"),
    [
        ("The user(s) account is temporarily over quota.", "mailboxfull"),
        ("The user(s) account is disabled.", "suspend"),
        ("The user(s) account is temporarily limited.", "suspend"),
        ("Your message was not delivered within 3 days and 0 hours.", "expired"),
        ("Each of the following recipients was rejected by a remote mail server.", "filtered"),
    ],
)
@pytest.mark.parametrize("sender", ["Postmaster@ezweb.ne.jp", "Postmaster@au.com"])
@pytest.mark.parametrize("reply", ["", ": 550 user unknown"], ids=["bare", "with-reply"])
def test_ezweb_own_sentence_decides(sentence: str, reason: str, sender: str, reply: str) -> None:
    # EZweb's sentence (Sisimai's EZweb.pm refailures) says more than a bare reply after the
    # address; "Your mail sent on:" is KDDI's opening too, but without its "Could not be
    # delivered to:" line the notice is EZweb's
    report = f"Your mail sent on: Mon, 30 Nov 2026 19:15:00 +0900\n\n{sentence}\n\n<taro.7@ezweb.ne.jp>{reply}\n"
    assert _ezweb(sender, report) == [("taro.7@ezweb.ne.jp", reason)]


@pytest.mark.parametrize(
    ("report", "unsigned"),
    [
        (
            "Each of the following recipients was rejected by a remote mail server.\n\n    Recipient: "
            "<ken@example.jp>\n    >>> RCPT TO:<ken@example.jp>\n    <<< 550 <ken@example.jp>: User unknown\n",
            "userunknown",
        ),
        ("The user(s) account is temporarily over quota.\n\n<ken@example.jp>\n", "mailboxfull"),
    ],
    ids=["transcript", "sentence"],
)
def test_ezweb_spam_sign_makes_any_refusal_the_recipients_filter(report: str, unsigned: str) -> None:
    # "X-SPASIGN: NG": EZweb's spam filter refused it, whatever the words (Sisimai's EZweb.pm);
    # without the sign the words decide
    body = f"{report}\n---------------------------------------------------\nFrom: me@example.net\n"
    subject = "Mail System Error - Returned Mail"
    assert _rows("<Postmaster@ezweb.ne.jp>", subject, body, "X-SPASIGN: NG\n") == [("ken@example.jp", "filtered")]
    assert _rows("<Postmaster@ezweb.ne.jp>", subject, body) == [("ken@example.jp", unsigned)]


def test_ezweb_reply_after_the_address_is_read_without_a_sentence() -> None:
    assert _ezweb("Postmaster@ezweb.ne.jp", "<hana@example.jp>: 552 5.2.2 Mailbox full\n") == [
        ("hana@example.jp", "mailboxfull")
    ]


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        (
            "ERROR_CODE :554, ERROR_CODE :5.7.1 Service unavailable; Client host [192.0.2.5] blocked using "
            "zen.spamhaus.org",
            "blocked",
        ),
        ("ERROR_CODE :550, ERROR_CODE :5.2.2 <a@example.org>... Mailbox Full", "mailboxfull"),
        ("ERROR_CODE :552, ERROR_CODE :5.3.4 Message size exceeds fixed maximum message size", "mesgtoobig"),
        ("ERROR_CODE :550, ERROR_CODE :5.1.1 <a@example.org>... User Unknown", "userunknown"),
    ],
)
def test_zoho_invalid_address_is_a_label_not_the_reason(said: str, reason: str) -> None:
    # Zoho writes "Invalid Address" before every failed recipient's reply, a full mailbox too
    body = (
        "This message was created automatically by mail delivery software.\n"
        "A message that you sent could not be delivered to one or more of its recipients. "
        f"This is a permanent error.\n\na@example.org Invalid Address, {said}\n"
    )
    rows = _rows("mailer-daemon@mail.zoho.com", "Undelivered Mail Returned to Sender", body, "X-Mailer: Zoho Mail\n")
    assert rows == [("a@example.org", reason)]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (
            "550 5.1.90 Your message can't be sent because you've reached your daily limit for message "
            "recipients. For more information, see https://aka.ms/ex-limits",
            "toomanyconn",
        ),
        (
            "550 5.7.1 Unfortunately, messages from [192.0.2.7] weren't sent. Please contact your Internet "
            "service provider since part of their network is on our block list (S3150).",
            "blocked",
        ),
        ("550 5.2.2 The recipient's mailbox is full and can't accept messages now", "mailboxfull"),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "userunknown"),
    ],
)
def test_exchange_quoted_reply_keeps_its_apostrophes(reply: str, reason: str) -> None:
    # "Remote Server returned '...'" closes its quote at the end of the line, not at the
    # reply's first "can't"
    body = (
        "Delivery has failed to these recipients or groups:\n\nk@example.no\nYour message couldn't be delivered.\n\n"
        "Diagnostic information for administrators:\n\nGenerating server: AM6PR04MB5731.eurprd04.prod.outlook.com\n\n"
        f"k@example.no\nRemote Server returned '{reply}'\n\nOriginal message headers:\n\nTo: k@example.no\n"
    )
    assert _rows("postmaster@example.net", "Undeliverable: hello", body) == [("k@example.no", reason)]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        # the remote's last reply names a cause: it decides, as in Postfix's bounce after
        # maximal_queue_lifetime quoting the same reply (Gmail SMTP error reference, Yahoo
        # Sender Hub error codes, Dovecot's quota text)
        (
            "421-4.7.0 The IP address sending this message does not have a PTR record setup, or the\n"
            "    421 4.7.0 corresponding forward DNS entry does not point to the sending IP. - gsmtp",
            "requireptr",
        ),
        (
            "421 4.7.0 [TSS04] Messages from 192.0.2.31 temporarily deferred due to unexpected volume or "
            "user complaints - 4.16.55.1",
            "badreputation",
        ),
        ("452 4.2.2 <a@example.org> Quota exceeded (mailbox for user is full)", "mailboxfull"),
        # no cause, or only one of Sisimai's retry reasons: Exim's give-up words say it, expired
        ("451 4.7.1 Please try again later", "expired"),
        ("450 4.1.1 <a@example.org>: Recipient address rejected: unverified address", "expired"),
    ],
)
def test_exim_gives_the_cause_of_a_retry_timeout_when_the_reply_names_one(reply: str, reason: str) -> None:
    raw = _exim_bounce(
        "  a@example.org\n    host mx.example.org [192.0.2.20]\n"
        f"    SMTP error from remote mail server after RCPT TO:<a@example.org>:\n    {reply}\n"
        "    retry timeout exceeded"
    )
    assert [(r.address, r.action, r.reason) for r in recognise(raw).recipients] == [("a@example.org", "failed", reason)]


def test_sendmail_timeout_return_is_the_verdict_on_every_address() -> None:
    # Sendmail 8.8 without MIME at Timeout.queuereturn: the last attempt's reply per address,
    # then its own "Message could not be delivered for 5 days": each address expired
    body = (
        "   ----- The following addresses had permanent fatal errors -----\n"
        "<a@example.org>\n<b@example.com>\n\n"
        "   ----- Transcript of session follows -----\n"
        "451 <a@example.org>... reply: read error from mx.example.org.\n"
        "<b@example.com>... Deferred: Connection refused by mx.example.com.\n"
        "Message could not be delivered for 5 days\n"
        "Message will be deleted from queue\n\n"
        "   ----- Original message follows -----\n"
    )
    rows = _rows(
        "Mail Delivery Subsystem <MAILER-DAEMON@mta.example.net>", "Returned mail: Cannot send message for 5 days", body
    )
    assert rows == [("a@example.org", "expired"), ("b@example.com", "expired")]
