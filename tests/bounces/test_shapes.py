"""Where a notice's shape decides what it reports: a bounce carried by a list digest or by a
person's forward of his own mail, or quoted in a person's reply, is no failure of ours, while the same notice on its own (or
passed on by whoever got it at our tracking address) is; RFC 6533's "utf-8" addresses keep
their non-ASCII characters. Built from the notices in tests/bounces/notices/."""

from __future__ import annotations

from pathlib import Path

from returnpath.bounces import Kind, recognise

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
