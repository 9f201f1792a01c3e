"""Our DKIM signatures, checked by three verifiers that share no code with us or each other.

Each message is signed for example.com with its RSA and Ed25519 keys, whose records the
loopback DNS server publishes as `domains add` prints them (split into 255-octet strings).
Every RSA signature is checked by dkimpy, Mail::DKIM and OpenDKIM; every Ed25519 signature by
dkimpy and OpenDKIM (Debian 12's Mail::DKIM does not know Ed25519; see verifiers.py).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from returnpath.dkim.keys import DomainKey
from returnpath.dkim.signer import DkimSigner
from tests.dkim.conftest import DOMAIN, NOW
from tests.dkim.verifiers import all_say
from tests.dkim.verifiers import results_by_kind as verdicts
from tests.dns_server import DnsServer

pytestmark = pytest.mark.usefixtures("verifiers")


def message(*headers: str, body: bytes = b"Hello,\r\n\r\nthis is a test.\r\n") -> bytes:
    return "".join(h + "\r\n" for h in headers).encode("utf-8") + b"\r\n" + body


BASE = (
    "From: Billing <billing@example.com>",
    "To: Ann <ann@example.org>",
    "Subject: Your invoice",
    "Date: Tue, 01 Dec 2026 10:11:07 +0000",
    "Message-ID: <a1b2c3@relay.example.com>",
)
PLAIN = message(*BASE)
EIGHT_BIT = message(
    *BASE[:2],
    "Subject: Ihre Rechnung =?utf-8?q?f=C3=BCr_Dezember?=",
    *BASE[3:],
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    body="Grüße aus Köln — 東京 ✓\r\nZweite Zeile mit Umlauten: äöüß\r\n".encode(),
)
UTF8_HEADER = message(  # SMTPUTF8 mail (RFC 6532): UTF-8 in the header itself
    "From: Jürgen <jürgen@example.com>", "To: ann@example.org", "Subject: Grüße", *BASE[3:]
)
LONG_LINES = message(*BASE, body=b"x" * 990 + b"\r\n" + b"word " * 197 + b"\r\n")
FOLDED = message(
    BASE[0],
    "To: Ann <ann@example.org>,\r\n\tBob <bob@example.org>,\r\n  Carol   <carol@example.org>",
    "Subject: A subject that is long enough to be folded by the sending\r\n application over\r\n\t two lines",
    *BASE[3:],
    "X-Custom:   spaced    out   \t",
    body=b"Line with trailing spaces   \r\n\r\nTabs\tand  spaces\r\n\r\n\r\n",
)
ATTACHMENT = base64.encodebytes(bytes(range(256)) * 40).replace(b"\n", b"\r\n")
MULTIPART = message(
    *BASE,
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed;\r\n boundary="b1_rp"',
    body=(
        b"This is a MIME message.\r\n"
        b'--b1_rp\r\nContent-Type: multipart/alternative; boundary="b2_rp"\r\n\r\n'
        b"--b2_rp\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        b"Hello =E2=9C=93\r\n"
        b"--b2_rp\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello</p>\r\n"
        b"--b2_rp--\r\n"
        b"--b1_rp\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="data.bin"\r\n\r\n' + ATTACHMENT + b"--b1_rp--\r\n"
    ),
)
LIST_MAIL = message(
    *BASE,
    "Cc: Dan <dan@example.org>",
    "Cc: Eve <eve@example.org>",
    "Reply-To: support@example.com",
    "List-Unsubscribe: <https://example.com/u/123>, <mailto:unsub-123@example.com>",
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=us-ascii",
    "Content-Transfer-Encoding: 7bit",
)
EMPTY_BODY = message(*BASE, body=b"")

MESSAGES = {
    "plain": PLAIN,
    "8-bit body": EIGHT_BIT,
    "UTF-8 header": UTF8_HEADER,
    "990-octet lines": LONG_LINES,
    "folded headers": FOLDED,
    "multipart with attachment": MULTIPART,
    "Cc, Reply-To, List-Unsubscribe": LIST_MAIL,
    "empty body": EMPTY_BODY,
}


def sign(raw: bytes, keys: tuple[DomainKey, DomainKey]) -> bytes:
    return DkimSigner(DOMAIN, keys).sign(raw, NOW) + raw


def results_by_kind(
    signed: bytes, dns: DnsServer, folder: Path, keys: tuple[DomainKey, DomainKey]
) -> dict[str, dict[str, str]]:
    """{"rsa": {verifier: result}, "ed25519": {...}}, for the verifiers that check each kind."""
    return verdicts(signed, dns, folder, {key.algorithm.value: key.selector for key in keys})


@pytest.mark.parametrize("raw", MESSAGES.values(), ids=MESSAGES.keys())
def test_every_verifier_accepts_both_signatures(
    raw: bytes, published: DnsServer, domain_keys: tuple[DomainKey, DomainKey], tmp_path: Path
) -> None:
    results = results_by_kind(sign(raw, domain_keys), published, tmp_path, domain_keys)
    assert all_say("pass", results), results
    # The verifiers asked our server for both records (no other resolver answered for it).
    asked = {name for name, rtype, _ in published.queries if rtype == "TXT"}
    assert asked == {f"{key.selector}._domainkey.{DOMAIN}" for key in domain_keys}


def test_header_fields_added_in_transit_leave_the_signatures_valid(
    published: DnsServer, domain_keys: tuple[DomainKey, DomainKey], tmp_path: Path
) -> None:
    signed = sign(LIST_MAIL, domain_keys)
    # What relays on the way do: trace fields on top, a spam verdict, a refolded To (relaxed).
    travelled = (
        b"Received: from relay.example.com (relay.example.com [192.0.2.1])\r\n\tby mx.example.org; Tue, 1 Dec 2026 10:11:09 +0000\r\n"
        + b"X-Spam-Status: No\r\n"
        + signed.replace(b"To: Ann <ann@example.org>", b"To: Ann\r\n   <ann@example.org>  ")
    )
    assert all_say("pass", results_by_kind(travelled, published, tmp_path, domain_keys))


@pytest.mark.parametrize("where", ["top", "bottom"])
def test_a_second_from_added_in_transit_breaks_the_signatures(
    where: str, published: DnsServer, domain_keys: tuple[DomainKey, DomainKey], tmp_path: Path
) -> None:
    signed = sign(PLAIN, domain_keys)
    forged = b"From: Billing <billing@evil.example>\r\n"
    if where == "top":
        tampered = forged + signed
    else:
        head, body = signed.split(b"\r\n\r\n", 1)
        tampered = head + b"\r\n" + forged + b"\r\n" + body
    results = results_by_kind(tampered, published, tmp_path, domain_keys)
    assert all_say("fail", results), results


CHANGES = {
    "body": (b"this is a test.", b"this is a tesT."),
    "body appended": (b"this is a test.\r\n", b"this is a test.\r\nP.S. click here\r\n"),
    "signed Subject": (b"Subject: Your invoice", b"Subject: Your invoicE"),
    "signed To": (b"To: Ann <ann@example.org>", b"To: Ann <ann@evil.example>"),
    "signed Message-ID": (b"<a1b2c3@relay", b"<a1b2c4@relay"),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_a_message_changed_in_transit_fails(
    change: tuple[bytes, bytes], published: DnsServer, domain_keys: tuple[DomainKey, DomainKey], tmp_path: Path
) -> None:
    signed = sign(PLAIN, domain_keys)
    old, new = change
    assert signed.count(old) == 1
    results = results_by_kind(signed.replace(old, new), published, tmp_path, domain_keys)
    assert all_say("fail", results), results


def test_a_signature_under_a_key_that_is_not_published_is_not_a_pass(
    published: DnsServer, domain_keys: tuple[DomainKey, DomainKey], tmp_path: Path
) -> None:
    """The verifiers really look the key up: the same message, its RSA record gone."""
    signed = sign(PLAIN, domain_keys)
    rsa_key = domain_keys[0]
    del published.zone[f"{rsa_key.selector}._domainkey.{DOMAIN}"]
    results = results_by_kind(signed, published, tmp_path, domain_keys)
    assert not any(r == "pass" for r in results["rsa"].values()), results
    assert all_say("pass", {"ed25519": results["ed25519"]})


def test_the_signature_fields_are_folded_and_sign_what_the_issue_lists(
    domain_keys: tuple[DomainKey, DomainKey],
) -> None:
    fields = DkimSigner(DOMAIN, domain_keys).sign(LIST_MAIL, NOW)
    assert fields.endswith(b"\r\n") and fields.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
    lines = fields.split(b"\r\n")[:-1]
    assert max(len(line) for line in lines) <= 78
    assert all(line.startswith((b"DKIM-Signature: ", b"\t")) for line in lines)
    unfolded = re.sub(rb"\r\n\t", b" ", fields).split(b"\r\n")[:-1]
    assert [re.search(rb" a=([\w-]+);", f).group(1) for f in unfolded] == [b"rsa-sha256", b"ed25519-sha256"]  # type: ignore[union-attr]
    for field in unfolded:
        tags = dict(t.strip().split(b"=", 1) for t in field.split(b":", 1)[1].split(b";"))
        assert tags[b"c"] == b"relaxed/relaxed" and tags[b"d"] == b"example.com" and tags[b"t"] == b"1796119867"
        assert tags[b"h"].replace(b" ", b"").split(b":") == [
            *[b"from"] * 2,  # oversigned: once more than it occurs
            b"to",
            b"cc",
            b"cc",  # both Cc fields
            b"subject",
            b"date",
            b"message-id",
            b"mime-version",
            b"content-type",
            b"content-transfer-encoding",
            b"reply-to",
            b"list-unsubscribe",
            b"list-unsubscribe-post",
        ]


def test_signing_the_same_message_at_the_same_time_gives_the_same_bytes(
    domain_keys: tuple[DomainKey, DomainKey],
) -> None:
    # RSA PKCS#1 v1.5 and Ed25519 are deterministic: a message signed again after a crash
    # between signing and storing gets the same fields.
    signer = DkimSigner(DOMAIN, domain_keys)
    assert signer.sign(MULTIPART, NOW) == signer.sign(MULTIPART, NOW)


def test_a_message_without_from_is_not_signed(domain_keys: tuple[DomainKey, DomainKey]) -> None:
    from returnpath.errors import MessageError

    with pytest.raises(MessageError, match="without a From"):
        DkimSigner(DOMAIN, domain_keys).sign(message(*BASE[1:]), NOW)
