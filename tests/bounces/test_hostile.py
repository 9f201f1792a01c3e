"""Recognition never raises and stays bounded, whatever comes back.

Malformed, truncated, binary and hostile input: the answer is a verdict (worst case
`other`), never an exception; line endings do not change it; a 50 MB message costs a few
times its size in memory.
"""

from __future__ import annotations

import base64
import random
import tracemalloc

import pytest

from returnpath.bounces import BounceVerdict, Kind, recognise
from tests import corpus

DSN = b"""\
From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: bounce-123@bounces.example.com
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"

--BOUNDARY
Content-Type: text/plain

<nobody@example.org>: host mx.example.org[192.0.2.1] said: 550 5.1.1 <nobody@example.org>:
    Recipient address rejected: User unknown (in reply to RCPT TO command)

--BOUNDARY
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; nobody@example.org
Original-Recipient: rfc822;nobody@example.org
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.example.org
Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.org>: Recipient address rejected:
    User unknown

--BOUNDARY
Content-Type: message/rfc822

From: app@example.com
To: nobody@example.org
Subject: hello

hello
--BOUNDARY--
"""


def _expect_dsn(verdict: BounceVerdict) -> None:
    assert verdict.kind is Kind.DSN
    (r,) = verdict.recipients
    assert (r.address, r.action, r.status, r.code, r.reason, r.hard, r.command) == (
        "nobody@example.org",
        "failed",
        "5.1.1",
        550,
        "userunknown",
        True,
        "RCPT",
    )


def test_the_sample_dsn_is_read() -> None:
    _expect_dsn(recognise(DSN))


@pytest.mark.parametrize("ending", [b"\r\n", b"\r"], ids=["CRLF", "CR"])
def test_line_endings_do_not_change_the_answer(ending: bytes) -> None:
    _expect_dsn(recognise(DSN.replace(b"\n", ending)))


def test_mixed_line_endings() -> None:
    lines = DSN.split(b"\n")
    mixed = b"".join(line + (b"\r\n", b"\n", b"\r")[i % 3] for i, line in enumerate(lines))
    _expect_dsn(recognise(mixed))


def test_every_corpus_email_answers_the_same_with_crlf_and_cr() -> None:
    for path in sorted((corpus.require() / "maildir" / "bsd").glob("*.eml")):
        raw = path.read_bytes().replace(b"\r\n", b"\n")  # some bsd/ files have CRLF already
        lf = recognise(raw).as_dict()
        assert recognise(raw.replace(b"\n", b"\r\n")).as_dict() == lf, path.name
        assert recognise(raw.replace(b"\n", b"\r")).as_dict() == lf, path.name


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n\n\n",
        b"\r",
        b"From: \n",
        b"no headers at all, just text",
        b":\n:\n: :\n",
        b"Content-Type: multipart/report; report-type=delivery-status\n\nno boundary here",
        b'Content-Type: multipart/mixed; boundary=""\n\n--\n--\n',
        b'Content-Type: multipart/mixed; boundary="a"\n\n--a\n',
        b'Content-Type: multipart/mixed; boundary="a"\n\n--a--\n',
        b"Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
        b"Content-Type: message/delivery-status\n\nFinal-Recipient:\nStatus: 9.9.9999999999\n",
        b"Content-Type: message/rfc822\n\n",
        b"Content-Type: text/plain; charset=x-no-such-charset\n\n\xff\xfe\xfd",
        b"Content-Type: text/plain; charset=utf-7\n\n+AGEAYgBj-+ZZZ-",
        b"Content-Type: text/plain; charset=iso-2022-jp\n\n\x1b$B%f!<\x1b(",
        b"Content-Transfer-Encoding: base64\n\n!!!not base64===\n",
        b"Content-Transfer-Encoding: quoted-printable\n\n=ZZ=\n=",
        b"Subject: =?utf-8?B?broken?= =?x-unknown?Q?=FF?=\nFrom: =?utf-8?q?=ff=fe?=\n\nx",
        b"From: \xff\xfe\x00\x01@\xc3\x28\nSubject: \x80\x81\x82\n\n\x00\x00",
        (
            b"Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\n"
            b"Content-Type: message/feedback-report\n\nFeedback-Type: abuse\nOriginal-Rcpt-To: <>\n--b--"
        ),
        b"X-" + b"A" * 100_000 + b": " + b"B" * 100_000 + b"\n\n" + b"C" * 100_000,
    ],
    ids=lambda raw: repr(raw[:40]),
)
def test_malformed_input_gives_a_verdict(raw: bytes) -> None:
    verdict = recognise(raw)
    assert isinstance(verdict, BounceVerdict)
    verdict.as_dict()  # and the verdict itself is well-formed


def test_random_binary_gives_a_verdict() -> None:
    rng = random.Random(3)
    for size in (1, 10, 100, 1000, 10_000, 100_000):
        for _ in range(5):
            assert isinstance(recognise(rng.randbytes(size)), BounceVerdict)


def test_every_truncation_of_a_dsn_gives_a_verdict() -> None:
    for cut in range(0, len(DSN), 7):
        assert isinstance(recognise(DSN[:cut]), BounceVerdict)


def test_a_dsn_cut_after_its_status_part_is_still_read() -> None:
    cut = DSN.index(b"--BOUNDARY\nContent-Type: message/rfc822")
    _expect_dsn(recognise(DSN[:cut]))


def test_deeply_nested_multiparts() -> None:
    depth = 5000
    raw = (
        b"".join(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i) for i in range(depth))
        + b"Content-Type: text/plain\n\nhello\n"
    )
    assert recognise(raw).kind is Kind.OTHER


def test_deeply_nested_attached_messages() -> None:
    raw = b"Content-Type: message/rfc822\n\n" * 5000 + b"Subject: x\n\nhello\n"
    assert recognise(raw).kind is Kind.OTHER


def test_thousands_of_parts() -> None:
    parts = b"".join(
        b"--b\nContent-Type: message/delivery-status\n\n"
        b"Final-Recipient: rfc822; user%d@example.org\nAction: failed\n"
        b"Status: 5.1.1\n\n" % i
        for i in range(20_000)
    )
    raw = b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n' + parts + b"--b--\n"
    verdict = recognise(raw)
    assert verdict.kind is Kind.DSN  # the first report part is read, the rest are ignored


def test_a_dsn_whose_fields_are_base64() -> None:
    fields = DSN.split(b"message/delivery-status\n\n", 1)[1].split(b"\n--BOUNDARY", 1)[0]
    raw = DSN.replace(
        b"Content-Type: message/delivery-status\n\n" + fields,
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n" + base64.encodebytes(fields),
    )
    _expect_dsn(recognise(raw))


def test_a_50_mb_message_is_read_in_bounded_memory() -> None:
    size = 50 * 1024 * 1024
    line = b"x" * 76 + b"\r\n"
    raw = DSN.replace(b"\n", b"\r\n").replace(b"hello\r\n", line * (size // len(line)))
    tracemalloc.start()
    try:
        verdict = recognise(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    _expect_dsn(verdict)
    assert peak < 3 * len(raw), f"peak {peak / 2**20:.0f} MiB for {len(raw) / 2**20:.0f} MiB"


def test_a_50_mb_single_part_of_garbage() -> None:
    raw = b"Subject: x\n\n" + random.Random(5).randbytes(50 * 1024 * 1024)
    assert isinstance(recognise(raw), BounceVerdict)
