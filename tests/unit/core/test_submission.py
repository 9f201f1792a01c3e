"""Checking what clients hand in: addresses, data, option headers, options."""

from __future__ import annotations

import email
import email.policy

import pytest

from returnpath.core.intake import (
    build,
    check_data,
    check_from,
    origin_fields,
    parse_dsn,
    parse_maxdelivertime,
    parse_tags,
    parse_time,
    received_header,
    split_option_headers,
    validate_address,
    validate_recipient,
)
from returnpath.core.model import DsnOptions, Trace
from returnpath.errors import AddressError, MessageError, OptionError

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 UTC
MIME = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    "address",
    [
        "a@example.com",
        "first.last+tag@sub.example.co.uk",
        '"quoted local"@example.com',
        "x@[127.0.0.1]",
        "x@[IPv6:2001:db8::1]",
        "jörg@exämple.de",
    ],
)
def test_valid_addresses(address: str) -> None:
    assert validate_address(address) == address


@pytest.mark.parametrize("address", ["x@[127.0.0.1]", "x@[192.0.2.1]", "x@[IPv6:2001:db8::1]"])
def test_a_recipient_may_not_be_an_address_literal(address: str) -> None:
    """A sender may have one (it is replaced by the tracking address); a recipient is delivered
    to by its domain's MX records, which a literal has not."""
    with pytest.raises(AddressError, match=r"is an address literal: .* write the recipient's domain"):
        validate_recipient(address)
    assert validate_recipient("b@example.net") == "b@example.net"


@pytest.mark.parametrize(
    "address, reason",
    [
        ("", "empty"),
        ("nodomain", "local@domain"),
        ("@example.com", "local@domain"),
        ("a@", "local@domain"),
        ("a b@example.com", "invalid local part"),
        ("a..b@example.com", "invalid local part"),
        ("a@example", "invalid domain"),
        ("a@-bad.com", "invalid domain"),
        ("a@exa mple.com", "invalid domain"),
        ("a@[300.1.1.1]", "invalid address literal"),
        ("a@[IPv6:1::2::3]", "invalid address literal"),
        ("x" * 65 + "@example.com", "longer than 64"),
        ("a@" + "b" * 250 + ".com", "254"),
        ("a\r\n@example.com", "control"),
        ("a\u2028b@example.com", "invisible formatting"),
        ("a\x85b@example.com", "invisible formatting"),
        ("evil\u202egro.elpmaxe@example.com", "invisible formatting"),
        ("a\u200bb@example.com", "invisible formatting"),
        ("a@exa\u200dmple.com", "invisible formatting"),
    ],
)
def test_invalid_addresses_say_what_is_wrong(address: str, reason: str) -> None:
    with pytest.raises(AddressError, match=reason):
        validate_address(address)


@pytest.mark.parametrize(
    "data",
    [
        b"Subject: x\r\n\r\nline\nsmuggled\r\n",
        b"Subject: x\r\n\r\nfirst\r\n\n.\nMAIL FROM:<evil@example.com>\r\n",
        b"Subject: x\r\n\r\nfirst\r\n.\r\r\nx\r\n",
        b"Subject: x\r\n\r\nbare\rcr\r\n",
    ],
)
def test_bare_lf_and_cr_are_refused(data: bytes) -> None:
    with pytest.raises(MessageError, match="bare LF or CR"):
        check_data(data)


def test_lines_longer_than_998_octets_are_refused() -> None:
    check_data(b"Subject: x\r\n\r\n" + b"a" * 998 + b"\r\n")
    with pytest.raises(MessageError, match="longer than 998"):
        check_data(b"Subject: x\r\n\r\n" + b"a" * 999 + b"\r\n")


def test_empty_message_is_refused() -> None:
    with pytest.raises(MessageError, match="empty"):
        check_data(b"\r\n")


def test_option_headers_are_removed_and_everything_else_kept() -> None:
    raw = (
        b"From: a@example.com\r\nX-Returnpath-Tags: news, weekly\r\nSubject: hi\r\n"
        b"X-RETURNPATH-Trackbounces: false\r\nX-Returnpath-Dsn: notify=FAILURE,DELAY;\r\n ret=HDRS\r\n"
        b"X-Other: stays\r\n\r\nX-Returnpath-Tags: in the body stays\r\n"
    )
    mime, options = split_option_headers(raw)
    assert mime == (
        b"From: a@example.com\r\nSubject: hi\r\nX-Other: stays\r\n\r\nX-Returnpath-Tags: in the body stays\r\n"
    )
    assert options == {"tags": "news, weekly", "trackbounces": "false", "dsn": "notify=FAILURE,DELAY; ret=HDRS"}


def test_message_without_option_headers_is_untouched() -> None:
    assert split_option_headers(MIME) == (MIME, {})


def test_options_parse_from_header_strings_and_json_values() -> None:
    assert parse_tags("a, b ,c") == ("a", "b", "c")
    assert parse_tags(["x"]) == ("x",)
    assert parse_time("2030-01-02 03:04:05", "t") == 1893553445.0
    assert parse_dsn("notify=failure,delay; ret=hdrs; envid=abc") == DsnOptions(("FAILURE", "DELAY"), "HDRS", "abc")
    assert parse_dsn({"notify": ["NEVER"]}) == DsnOptions(("NEVER",))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: parse_tags([1]), "list of strings"),
        (lambda: parse_tags(["x"] * 40), "at most"),
        (lambda: parse_time("tomorrow", "maxdelivertime"), "YYYY-MM-DD"),
        (lambda: parse_maxdelivertime("2027-01-15 08:00:00", NOW), "'2027-01-15 08:00:00' .UTC. is not in the future"),
        (lambda: parse_maxdelivertime("2020-01-01 00:00:00", NOW), "is not in the future"),
        (lambda: parse_dsn({"notify": ["SOMETIMES"]}), "NEVER alone"),
        (lambda: parse_dsn({"notify": ["NEVER", "FAILURE"]}), "NEVER alone"),
        (lambda: parse_dsn({"ret": "ALL"}), "FULL or HDRS"),
        (lambda: parse_dsn({"colour": "red"}), "unknown fields"),
        (lambda: parse_dsn({"envid": "a b"}), "printable ASCII"),
    ],
)
def test_bad_options_say_what_is_wrong(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(OptionError, match=message):
        call()


def test_build_validates_everything_and_dedupes_recipients() -> None:
    submission = build(
        "a@example.com",
        ["b@example.net", "b@example.net", "c@example.net"],
        MIME,
        {
            "tags": ["t"],
            "trackbounces": "false",
            "envelope": "bounce@example.com",
            "maxdelivertime": "2030-01-01 00:00:00",
        },
        max_recipients=10,
        max_size=1000,
        now=NOW,
    )
    assert submission.recipients == ("b@example.net", "c@example.net")
    assert submission.trackbounces is False and submission.envelope == "bounce@example.com"
    assert submission.tags == ("t",) and submission.maxdelivertime == 1893456000.0


def test_build_limits() -> None:
    with pytest.raises(AddressError, match="too many recipients"):
        build("", [f"r{i}@example.net" for i in range(3)], MIME, {}, max_recipients=2, max_size=1000, now=NOW)
    with pytest.raises(MessageError, match="limit is 10"):
        build("", ["r@example.net"], MIME, {}, max_recipients=2, max_size=10, now=NOW)
    with pytest.raises(AddressError, match="no recipients"):
        build("", [], MIME, {}, max_recipients=2, max_size=1000, now=NOW)


@pytest.mark.parametrize(
    "header",
    [
        b"From: a@example.com\r\n",
        b'FROM:  "Ann Example" <ann@example.com>\r\n',
        b"From: =?utf-8?q?J=C3=B6rg?=\r\n <jorg@example.de>\r\n",  # folded, an encoded display name
        b"From: a@example.com, b@example.com\r\nSender: a@example.com\r\n",  # several mailboxes, one field
        b"Resent-From: x@example.org\r\nFrom: a@example.com\r\n",
    ],
)
def test_a_message_with_one_from_field_naming_an_address_passes(header: bytes) -> None:
    check_from(header + b"Subject: hi\r\n\r\nFrom: in the body, not a field\r\n")


@pytest.mark.parametrize(
    ("mime", "message"),
    [
        (b"Subject: hi\r\n\r\nbody\r\n", "no From: field"),
        (b"Subject: hi\r\n\r\nFrom: a@example.com\r\n", "no From: field"),  # only in the body
        (b"X-From: a@example.com\r\n\r\nbody\r\n", "no From: field"),
        (b"From: a@example.com\r\nFrom: b@example.com\r\n\r\nbody\r\n", "2 From: fields"),
        (b"From: undisclosed\r\n\r\nbody\r\n", "names no address"),
        (b"From: Ann <ann>\r\n\r\nbody\r\n", "names no address"),
        (b"From: \r\n\r\nbody\r\n", "names no address"),
    ],
)
def test_a_message_without_exactly_one_from_field_naming_an_address_is_refused(mime: bytes, message: str) -> None:
    with pytest.raises(MessageError, match=message):
        check_from(mime)
    with pytest.raises(MessageError, match=message):
        build("a@example.com", ["b@example.net"], mime, {}, max_recipients=2, max_size=1000, now=NOW)


# ---- the Received line ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trace", "first"),
    [
        (Trace("ESMTPSA", "192.0.2.10", "app.example.com"), "from app.example.com ([192.0.2.10])"),
        (Trace("ESMTPA", "::ffff:192.0.2.10", "app"), "from app ([192.0.2.10])"),
        (Trace("HTTP", "2001:db8::1"), "from [IPv6:2001:db8::1]"),
        (Trace("ESMTPA", "192.0.2.10", "x (y)\r\nInjected: 1"), "from x__y___Injected:_1 ([192.0.2.10])"),
    ],
)
def test_the_received_line_names_the_client_us_the_protocol_and_the_message(trace: Trace, first: str) -> None:
    header = received_header(trace, "relay.example.com", "0" * 26, 1_800_000_000.5)
    lines = header.decode("ascii").split("\r\n")
    assert lines[0] == f"Received: {first}"
    assert lines[1] == f"\tby relay.example.com (returnpath) with {trace.protocol} id {'0' * 26};"
    assert lines[2] == "\tFri, 15 Jan 2027 08:00:00 +0000" and lines[3] == ""
    parsed = email.message_from_bytes(header + b"Subject: hi\r\n\r\nbody\r\n", policy=email.policy.default)
    assert parsed["Subject"] == "hi" and list(parsed.keys()) == ["Received", "Subject"]


def test_a_message_from_no_network_says_only_by_whom() -> None:
    header = received_header(Trace(None), "relay.example.com", "0" * 26, 1_800_000_000)
    assert header.startswith(b"Received: by relay.example.com (returnpath) id 00000000000000000000000000;\r\n\t")


def test_a_maxdelivertime_a_second_ahead_is_taken() -> None:
    assert parse_maxdelivertime(" 2027-01-15 08:00:01", NOW) == NOW + 1


# ---- Message-ID and Date ------------------------------------------------------------------------


def test_a_message_without_message_id_and_date_gets_both() -> None:
    added = origin_fields(MIME, "relay.example.com", "0" * 26, NOW)
    assert added == b"Message-ID: <" + b"0" * 26 + b"@relay.example.com>\r\nDate: Fri, 15 Jan 2027 08:00:00 +0000\r\n"
    parsed = email.message_from_bytes(added + MIME, policy=email.policy.default)
    assert parsed["Date"].datetime.timestamp() == NOW and parsed["Message-ID"] == f"<{'0' * 26}@relay.example.com>"


@pytest.mark.parametrize(
    ("header", "added"),
    [
        (b"Message-ID: <own@app.example>\r\nDate: Thu, 14 Jan 2027 10:00:00 +0100\r\n", b""),
        (b"message-id:\r\n <own@app.example>\r\n", b"Date: Fri, 15 Jan 2027 08:00:00 +0000\r\n"),
        (b"DATE : Thu, 14 Jan 2027 10:00:00 +0100\r\n", b"Message-ID: <m@h>\r\n"),
        # Names in the body, in a continuation line or in another field's name do not count.
        (
            b"Subject: x\r\n Date: no\r\nResent-Message-ID: <r@x>\r\n",
            b"Message-ID: <m@h>\r\nDate: Fri, 15 Jan 2027 08:00:00 +0000\r\n",
        ),
    ],
)
def test_only_missing_fields_are_added(header: bytes, added: bytes) -> None:
    assert origin_fields(header + b"\r\nDate: in the body\r\nMessage-ID: <body@x>\r\n", "h", "m", NOW) == added


def test_a_message_without_a_header_gets_both() -> None:
    assert origin_fields(b"\r\njust a body\r\n", "h", "m", NOW).count(b"\r\n") == 2
