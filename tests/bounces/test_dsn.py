"""Delivery status reports (RFC 3464) that give no Diagnostic-Code: where a recipient's
error text is found instead — the prose about that recipient, not the prose's summary of the
returned message, and else the comment the reporting MTA wrote after the Status.

Oracle Communications Messaging Server (the iPlanet / Sun Java System / PMDF line) writes
such reports for its delays: "This report relates to a message you sent with the following
header fields: ... To: addr", then "Recipient address: addr ... Reason: ...", and in the
report "Status: 4.4.1 (reason)" with no Diagnostic-Code.

Reports broken in transit too: one delivery-status part per recipient, a Diagnostic-Code or
Status cut short where the notice was truncated (the prose that quotes the reply whole is
read), an empty Final-Recipient (the returned message's one recipient).
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


# ---- reports broken in transit (blind batch 32) --------------------------------------------


def postfix_report(notification: str, status_parts: list[str], returned: str = "") -> bytes:
    """A Postfix-shaped multipart/report with one or more delivery-status parts."""
    parts = [f"Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n{notification}"]
    parts += [
        f"Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n{s}" for s in status_parts
    ]
    if returned:
        parts.append(
            f"Content-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n{returned}"
        )
    body = "".join(f"--QID.1/mx.example.org\n{p}\n" for p in parts) + "--QID.1/mx.example.org--\n"
    return f"""From: MAILER-DAEMON@mx.example.org (Mail Delivery System)
To: b7xq4k2m9c@bounces.example.com
Subject: Undelivered Mail Returned to Sender
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
	boundary="QID.1/mx.example.org"

{body}""".encode()


PER_MESSAGE = "Reporting-MTA: dns; mx.example.org\nArrival-Date: Tue, 01 Dec 2026 09:59:58 +0000\n\n"


def test_one_delivery_status_part_per_recipient_is_one_report() -> None:
    # a gateway that rebuilds a report per recipient leaves two delivery-status parts
    first = PER_MESSAGE + "Final-Recipient: rfc822; ann@example.org\nAction: failed\nStatus: 5.1.1\n"
    second = PER_MESSAGE + "Final-Recipient: rfc822; bob@example.net\nAction: delayed\nStatus: 4.2.2\n"
    rows = {
        r.address: (r.action, r.status, r.reason) for r in recognise(postfix_report("", [first, second])).recipients
    }
    assert rows == {
        "ann@example.org": ("failed", "5.1.1", "userunknown"),
        "bob@example.net": ("delayed", "4.2.2", "mailboxfull"),
    }


PROSE = """<carl@example.org>: host mx.example.org[192.0.2.1] said: 554 5.7.1
    <carl@example.org>: {words} (in reply to RCPT TO command)
"""


@pytest.mark.parametrize(
    ("words", "expected"),
    [("Relay access denied", "norelaying"), ("Recipient address rejected: Mailbox full", "mailboxfull")],
)
def test_a_diagnostic_cut_short_is_read_in_the_prose_that_quotes_it_whole(words: str, expected: str) -> None:
    cut = PER_MESSAGE + "Final-Recipient: rfc822; carl@example.org\nAction: failed\nStatus: 5.7.1\n"
    cut += "Diagnostic-Code: smtp; 554 5.7.1 <carl@exam"  # the notice ends here
    raw = postfix_report(PROSE.format(words=words), []).replace(b"--QID.1/mx.example.org--\n", b"")
    raw += b"--QID.1/mx.example.org\nContent-Type: message/delivery-status\n\n" + cut.encode()
    (row,) = recognise(raw).recipients
    assert (row.address, row.action, row.reason) == ("carl@example.org", "failed", expected)


def test_a_diagnostic_whole_is_read_over_the_prose() -> None:
    # the prose is read only where the fields give no cause: here they do
    whole = PER_MESSAGE + "Final-Recipient: rfc822; carl@example.org\nAction: failed\nStatus: 5.7.1\n"
    whole += "Diagnostic-Code: smtp; 554 5.7.1 <carl@example.org>: Sender address rejected: Access denied\n"
    (row,) = recognise(postfix_report(PROSE.format(words="Relay access denied"), [whole])).recipients
    assert row.reason != "norelaying"


def test_a_status_cut_short_is_read_in_the_prose_about_the_recipient() -> None:
    # Exchange names the recipient twice: over the words for people, and under the
    # diagnostic for administrators with the reply
    prose = """Delivery has failed to these recipients or groups:

dana@example.org
The recipient's mailbox is full and can't accept messages now.

Diagnostic information for administrators:

dana@example.org
#554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException ##
"""
    cut = PER_MESSAGE + "Final-Recipient: rfc822;dana@example.org\nAction: failed\nStatus: 5."
    (row,) = recognise(postfix_report(prose, [cut])).recipients
    assert (row.address, row.status, row.reason) == ("dana@example.org", "5.2.2", "mailboxfull")


@pytest.mark.parametrize("final", ["rfc822;<>", "rfc822;", "RFC822; <>"])
def test_an_empty_final_recipient_is_the_one_the_returned_message_was_sent_to(final: str) -> None:
    fields = PER_MESSAGE + f"Final-Recipient: {final}\nAction: failed\nStatus: 5.1.1\nX-Display-Name: Lee, Eve\n"
    returned = "From: Shop <news@shop.example>\nTo: eve.lee@example.org\nSubject: Offers\n"
    (row,) = recognise(postfix_report("Delivery has failed.\n", [fields], returned)).recipients
    assert (row.address, row.action, row.status, row.reason) == (
        "eve.lee@example.org",
        "failed",
        "5.1.1",
        "userunknown",
    )
    # with two recipients in the returned message, which one failed is unknown
    two = returned.replace("To: eve.lee@example.org", "To: eve.lee@example.org, max@example.org")
    assert not recognise(postfix_report("Delivery has failed.\n", [fields], two)).failed
