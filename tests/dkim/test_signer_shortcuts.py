"""The signer's shortcuts around dkimpy give what dkimpy gives.

signer.py parses only the header section when the body needs no line-end repair, and skips
dkimpy's whitespace passes over a body they would leave as it is. Each case here must come out
byte for byte as dkimpy's own `rfc822_parse` and relaxed `canonicalize_body` make it, whether
the shortcut applies or not: the signatures' verification (test_signatures.py) covers the
common messages, these the edges where a shortcut could go wrong.
"""

from __future__ import annotations

import pytest
from dkim.canonicalization import CanonicalizationPolicy

import dkim
from returnpath.dkim.signer import _canonical_body, _parse

HEAD = b"From: a@example.com\r\nSubject: hi\r\n"
CASES = {
    "plain": HEAD + b"\r\nHello, world.\r\n",
    "blank lines at the end": HEAD + b"\r\nHello.\r\n\r\n\r\n",
    "empty body": HEAD + b"\r\n",
    "only blank lines": HEAD + b"\r\n\r\n\r\n",
    "no line end at the end": HEAD + b"\r\nHello.",
    "no body, no empty line": HEAD,
    "two spaces": HEAD + b"\r\nHello,  world.\r\n",
    "a tab": HEAD + b"\r\nHello,\tworld.\r\n",
    "a space before the line end": HEAD + b"\r\nHello. \r\nNext.\r\n",
    "a space at the very end": HEAD + b"\r\nHello. ",
    "a bare LF in the body": HEAD + b"\r\nHello.\nNext.\r\n",
    "a bare CR in the body": HEAD + b"\r\nHello.\rNext.\r\n",
    "an empty line with a bare LF in the header": b"From: a@example.com\n\nSubject: hi\r\n\r\nHello.\r\n",
    "LF line ends throughout": b"From: a@example.com\nSubject: hi\n\nHello.\n",
    "a folded header field": b"From: a@example.com\r\nSubject: a\r\n\tlong one\r\n\r\nHello.\r\n",
    "an empty line in the body": HEAD + b"\r\nHello.\r\n\r\nAgain.\r\n",
}


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_the_header_and_body_are_dkimpys(raw: bytes) -> None:
    assert _parse(raw) == tuple(dkim.rfc822_parse(raw))


@pytest.mark.parametrize("raw", CASES.values(), ids=CASES.keys())
def test_the_canonical_body_is_dkimpys(raw: bytes) -> None:
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/relaxed")
    body = dkim.rfc822_parse(raw)[1]
    assert _canonical_body(policy, body) == policy.canonicalize_body(body)
