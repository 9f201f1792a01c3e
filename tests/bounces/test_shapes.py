"""Where a notice's shape decides what it reports: a bounce carried by a list digest or by a
person's forward of his own mail, or quoted in a person's reply, is no failure of ours, while the same notice on its own (or
passed on by whoever got it at our tracking address) is; RFC 6533's "utf-8" addresses keep
their non-ASCII characters. A list's notice to its owner of a bounce sent to the list is no
failure of ours either; a bounce of a bounce passed on to the address it says failed is the
bounce it returns; several notices attached together are each read; an HTML notice's
source line ends are white space. Built from the notices in tests/bounces/notices/."""

from __future__ import annotations

from pathlib import Path

from returnpath.bounces import Kind, recognise
from returnpath.bounces.mail import Mail, html_to_text

NOTICES = Path(__file__).parent / "notices"
TRACKING = b"b0123abcd@bounces.example.net"


def _failed(raw: bytes) -> set[str]:
    return {r.address for r in recognise(raw).failed}


def test_a_bounce_inside_a_list_digest_is_no_failure_but_the_same_bounce_alone_is() -> None:
    digest = (NOTICES / "digest-01.eml").read_bytes()
    assert recognise(digest).kind is Kind.OTHER
    # the same bounce, the digest's message/rfc822 section, sent on its own
    section = digest.split(b"Content-Type: message/rfc822\n\n", 1)[1].split(b"\n--===============4815162342==.d", 1)[0]
    verdict = recognise(section)
    assert verdict.kind in (Kind.BOUNCE, Kind.DSN)
    assert _failed(section) == {"l.fontaine@example.net"}


def test_a_forward_of_a_notice_about_the_forwarders_own_mail_is_no_failure() -> None:
    forward = (NOTICES / "fwd-attached-01.eml").read_bytes()
    assert recognise(forward).kind is Kind.OTHER
    assert not _failed(forward)


def test_a_forward_of_a_notice_that_came_to_our_tracking_address_is_that_notice() -> None:
    # the same forward, but the notice it carries was sent to our tracking address and
    # returns our message: a help desk passing on our bounce
    forward = (NOTICES / "fwd-attached-01.eml").read_bytes()
    ours = forward.replace(b"To: marc.girard@example.com\n", b"To: " + TRACKING + b"\n", 1)
    assert ours != forward
    assert _failed(ours) == {"l.fontaine@example.net"}


def test_utf8_addresses_keep_their_characters_and_escapes_are_decoded() -> None:
    assert _failed((NOTICES / "enc-global-01.eml").read_bytes()) == {"josé.garcía@example.org"}
    assert _failed((NOTICES / "enc-utf8esc-01.eml").read_bytes()) == {"zoë.müller@example.org"}


def test_an_rfc822_address_takes_no_letters_from_the_text_around_it() -> None:
    # outside the utf-8 type an address is ASCII (RFC 5321): a Japanese notice that writes
    # "宛先:" right before it does not glue those letters to the local part
    raw = (NOTICES / "enc-global-01.eml").read_bytes()
    ascii_only = raw.replace("utf-8; josé.garcía@example.org".encode(), "rfc822; 宛先:jgarcia@example.org".encode())
    assert "jgarcia@example.org" in _failed(ascii_only)


def test_a_bounce_forwarded_inline_by_the_deliverys_own_recipient_is_no_failure() -> None:
    # Marc got our mail (the tracking address is his delivery's) and forwards a bounce of his
    # own mail to it: he wrote this message himself, so his mailbox is alive
    forward = (NOTICES / "fwd-inline-01.eml").read_bytes()
    verdict = recognise(forward, recipient="marc.girard@example.com")
    assert verdict.kind is Kind.OTHER
    assert not verdict.failed


def test_delivery_status_fields_quoted_in_a_persons_reply_are_no_failure_but_forwarded_are() -> None:
    # human-06: a help desk answers "fixed" and quotes, with ">", the fields of Monday's
    # failure; the same quoted fields in a "Fwd:" pass that failure on and are read
    reply = (NOTICES / "human-06.eml").read_bytes()
    assert b"> Action: failed" in reply
    assert recognise(reply).kind is Kind.OTHER
    assert not _failed(reply)
    forward = reply.replace(b"Subject: RE: delivery problem", b"Subject: Fwd: delivery problem", 1)
    assert forward != reply
    assert _failed(forward) == {"accounts@example.org"}
    # unquoted fields in a reply (a report pasted without quoting) are still read
    pasted = reply.replace(b"\n> ", b"\n")
    assert _failed(pasted) == {"accounts@example.org"}


# ---- wrapped, doubled and HTML-only notices (blind batch 32) --------------------------------


def dsn_notice(to: str, recipient: str, status: str, diagnostic: str, returned: str, *, frm: str) -> str:
    """A sendmail-shaped DSN sent to `to` about `recipient`, returning `returned`."""
    return f"""Return-Path: <>
From: Mail Delivery Subsystem <MAILER-DAEMON@{frm}>
To: <{to}>
Subject: Returned mail: see transcript for details
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{frm}.B"

--{frm}.B

   ----- The following addresses had permanent fatal errors -----
<{recipient}>
    (reason: {diagnostic})

--{frm}.B
Content-Type: message/delivery-status

Reporting-MTA: dns; {frm}

Final-Recipient: RFC822; {recipient}
Action: failed
Status: {status}
Diagnostic-Code: SMTP; {diagnostic}

--{frm}.B
Content-Type: message/rfc822

{returned}
--{frm}.B--
"""


OURS = f"Return-Path: <{TRACKING.decode()}>\nFrom: Shop <news@shop.example>\nTo: ann@example.org\nSubject: Offers\n\nHello\n"


def double_bounce(delivered_to: str) -> bytes:
    first = dsn_notice(
        TRACKING.decode(), "ann@example.org", "5.1.1", "550 5.1.1 User unknown", OURS, frm="mx.example.org"
    )
    second = dsn_notice(
        "postmaster@mx.example.org", TRACKING.decode(), "4.4.7", "Connection timed out", first, frm="mx2.example.org"
    )
    return f"Delivered-To: {delivered_to}\n{second}".encode()


def test_a_double_bounce_passed_on_to_the_address_it_says_failed_is_the_first_bounce() -> None:
    # a postmaster's redirect of the bounce that could not reach our tracking address
    assert _failed(double_bounce(TRACKING.decode())) == {"ann@example.org"}


def test_a_double_bounce_kept_by_the_postmaster_reports_the_bounces_recipient() -> None:
    # as Sisimai reads one (lhost-sendmail-41): the bounce's recipient failed
    assert _failed(double_bounce("postmaster@mx.example.org")) == {TRACKING.decode()}


def test_a_double_bounce_forwarded_as_an_attachment_to_that_address_is_the_first_bounce() -> None:
    inner = double_bounce("postmaster@mx.example.org").decode()
    forward = f"""From: IT <it@example.org>
To: {TRACKING.decode()}
Subject: Fwd: Returned mail: see transcript for details
Date: Tue, 01 Dec 2026 11:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="F"

--F
Content-Type: text/plain

--F
Content-Type: message/rfc822

{inner}
--F--
"""
    assert _failed(forward.encode()) == {"ann@example.org"}


def owner_notice(attached: str) -> bytes:
    return f"""Return-Path: <news-bounces@lists.example.org>
From: news-owner@lists.example.org
Sender: "News" <news-bounces@lists.example.org>
To: {TRACKING.decode()}
Subject: Uncaught bounce notification
Date: Tue, 01 Dec 2026 10:00:00 +0000
X-Mailman-Version: 2.1.39
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="M"

--M
Content-Type: text/plain

The attached message was received as a bounce, but either the bounce
format was not recognized, or no member addresses could be extracted
from it.

--M
Content-Type: message/rfc822

{attached}
--M--
""".encode()


def test_a_lists_uncaught_bounce_notification_is_the_lists_mail_not_ours() -> None:
    # the attached notice came to the list's bounce address about a member's copy
    copy = "Return-Path: <news-bounces@lists.example.org>\nFrom: a@example.com\nTo: news@lists.example.org\n\nHi\n"
    member = dsn_notice(
        "news-bounces@lists.example.org", "m@example.net", "5.1.1", "550 5.1.1 No such user", copy, frm="mx.example.net"
    )
    verdict = recognise(owner_notice(member))
    assert verdict.kind is Kind.OTHER
    assert not verdict.failed
    # a notice that came to our tracking address, passed on the same way, is that notice
    ours = dsn_notice(
        TRACKING.decode(), "ann@example.org", "5.1.1", "550 5.1.1 No such user", OURS, frm="mx.example.net"
    )
    assert _failed(owner_notice(ours)) == {"ann@example.org"}


def to_us(frm: str, subject: str, ctype: str, parts: list[tuple[str, str]]) -> bytes:
    """A multipart message to our tracking address with these (content type, body) parts."""
    body = "".join(f"--X\nContent-Type: {t}\n\n{text}\n" for t, text in parts) + "--X--\n"
    head = f"From: {frm}\nTo: {TRACKING.decode()}\nSubject: {subject}\nDate: Tue, 01 Dec 2026 10:00:00 +0000\n"
    return f'{head}MIME-Version: 1.0\nContent-Type: {ctype}; boundary="X"\n\n{body}'.encode()


def test_several_notices_attached_together_are_each_read() -> None:
    one = dsn_notice(TRACKING.decode(), "ann@example.org", "5.1.1", "550 5.1.1 User unknown", OURS, frm="a.example.org")
    two = dsn_notice(TRACKING.decode(), "bob@example.net", "5.2.2", "552 5.2.2 Mailbox full", OURS, frm="b.example.net")
    batch = to_us(
        "Mail Delivery System <MAILER-DAEMON@relay.example.com>",
        "2 delivery status notifications",
        "multipart/mixed",
        [("message/rfc822", one), ("message/rfc822", two)],
    )
    rows = {r.address: r.reason for r in recognise(batch).failed}
    assert rows == {"ann@example.org": "userunknown", "bob@example.net": "mailboxfull"}


def test_html_source_line_ends_are_spaces_not_blank_lines() -> None:
    html = (
        "<html><body>\n<font size=2>Your message</font>\n<br>\n<br><font size=2>was not delivered to:</font>\n"
        "<br>\n<br><font size=2>&nbsp; cy@example.org</font>\n<br>\n<br><font size=2>because:</font>\n<br>\n"
        "<br><font size=2>&nbsp; SMTP Protocol Returned a Permanent Error 552 5.2.2 Mailbox full</font>\n</body></html>\n"
    )
    raw = f"""From: Postmaster@example.org
To: {TRACKING.decode()}
Subject: DELIVERY FAILURE: Error transferring to mail.example.org
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/html; charset=us-ascii

{html}"""
    (row,) = recognise(raw.encode()).failed
    assert (row.address, row.status, row.reason) == ("cy@example.org", "5.2.2", "mailboxfull")
    # a part labelled text/html that holds plain text keeps its lines
    assert html_to_text("line one\n\nline two") == "line one\n\nline two"
    assert html_to_text("<pre>a\n  b</pre>\n<p>c\nd</p>") == "a\n  b\nc d\n"


def test_an_html_alternative_with_a_status_the_plain_one_lacks_is_read_too() -> None:
    plain = "Delivery has failed to these recipients or groups:\n\ndee@example.org\nThe e-mail address you entered couldn't be found.\n"
    html = "<p>Delivery has failed to these recipients or groups:</p><p>dee@example.org<br>#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##</p>"
    frm = "Microsoft Exchange <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.org>"
    raw = to_us(frm, "Undeliverable: Offers", "multipart/alternative", [("text/plain", plain), ("text/html", html)])
    assert "RESOLVER.ADR.RecipNotFound" in Mail.parse(raw).body
    (row,) = recognise(raw).failed
    assert (row.address, row.status, row.reason) == ("dee@example.org", "5.1.1", "userunknown")
    # an HTML alternative that says what the plain one says is not read twice
    diagnostic = b"#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##\n"
    same = raw.replace(b"couldn't be found.\n", b"couldn't be found.\n" + diagnostic)
    assert Mail.parse(same).body.count("RESOLVER.ADR.RecipNotFound") == 1
