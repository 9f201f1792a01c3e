"""Delivery status reports (RFC 3464) that give no Diagnostic-Code: where a recipient's
error text is found instead — the prose about that recipient, not the prose's summary of the
returned message, and else the comment the reporting MTA wrote after the Status.

Oracle Communications Messaging Server (the iPlanet / Sun Java System / PMDF line) writes
such reports for its delays: "This report relates to a message you sent with the following
header fields: ... To: addr", then "Recipient address: addr ... Reason: ...", and in the
report "Status: 4.4.1 (reason)" with no Diagnostic-Code.
"""

from __future__ import annotations

import pytest

from returnpath.bounces import recognise

SUMMARY = """This report relates to a message you sent with the following header fields:

  Message-id: <20261201090000.12345@relay.example.com>
  Date: Tue, 01 Dec 2026 09:00:00 +0000
  From: Shop News <news@shop.example.com>
  To: bob@example.org
  Subject: Our December offers
"""


def report(text: str, status: str, action: str = "delayed") -> bytes:
    return f"""From: Internet Mail Delivery <postmaster@mta.example.net>
To: b7xq4k2m9c3v8a5s6d2f4g7h1j@bounces.example.com
Subject: Delivery Notification: Delivery has been delayed
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

{text}
--B
Content-Type: message/delivery-status

Reporting-MTA: dns;mta.example.net (tcp_intranet-daemon)

Action: {action}
Status: {status}
Final-recipient: rfc822;bob@example.org

--B--
""".encode()


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("Remote system is not responding (TCP active open: Failed connect()  Error: Connection timed out)", "expired"),
        ("Remote SMTP server has rejected address (552 5.2.2 Mailbox full)", "mailboxfull"),
        ("Error: Connection refused", "networkerror"),
    ],
)
def test_the_prose_about_the_recipient_not_its_summary_line(reason: str, expected: str) -> None:
    text = f"""{SUMMARY}
Your message has been enqueued and undeliverable for 1 day to the following recipients:

  Recipient address: bob@example.org
  Original address: bob@example.org
  Reason: {reason}
"""
    (row,) = recognise(report(text, "4.4.1")).recipients
    assert (row.address, row.action, row.reason) == ("bob@example.org", "delayed", expected)
    assert reason.split(" (")[0] in row.diagnostic


def test_a_summary_line_is_read_when_the_prose_says_nothing_else_of_the_recipient() -> None:
    (row,) = recognise(report(SUMMARY, "4.4.1")).recipients
    assert row.address == "bob@example.org"
    assert "To: bob@example.org" in row.diagnostic


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        ("4.4.1 (Remote system is not responding: Connection timed out)", "delayed", "expired"),
        ("5.2.2 (mailbox full)", "failed", "mailboxfull"),
        ("5.0.0 (host not found)", "failed", "hostunknown"),
    ],
)
def test_the_status_comment_when_the_prose_names_no_one(status: str, action: str, expected: str) -> None:
    (row,) = recognise(report("Your message could not be delivered.\n", status, action)).recipients
    assert (row.address, row.action, row.reason) == ("bob@example.org", action, expected)
    assert row.diagnostic == status.split("(", 1)[1].rstrip(")")


def test_a_recipient_the_prose_names_by_its_display_name() -> None:
    # Exchange 2000/2003 names a recipient its directory resolved by display name, writes the
    # name in X-Display-Name and gives no Diagnostic-Code: the prose under the name is the
    # recipient's error text
    raw = report(
        "The following recipient(s) could not be reached:\n\n"
        "      Board of Directors on 12/12/2026 2:03 PM\n"
        "            You do not have permission to send to this recipient.  For assistance, contact your "
        "system administrator.\n"
        "            <exch.example.org #5.7.1>\n",
        "5.7.1",
        "failed",
    ).replace(
        b"Final-recipient: rfc822;bob@example.org\n",
        b"Final-recipient: rfc822;bob@example.org\nX-Display-Name: Board of Directors\n",
    )
    (row,) = recognise(raw).recipients
    assert (row.address, row.reason) == ("bob@example.org", "filtered")
    assert "You do not have permission to send to this recipient" in row.diagnostic
