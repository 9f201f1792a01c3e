"""DKIM signatures for a message of a sending domain (RFC 6376, RFC 8463).

`DkimSigner(domain, keys).sign(message, now)` returns the ``DKIM-Signature`` header fields to
put in front of a stored message: one per key, RSA-SHA256 first (every verifier knows it, and
verifiers that look only at the first signature find it) and Ed25519-SHA256 second. The relay
signs once per message, after adding its own header fields and before the first attempt, and
stores the result with the message, so that every retry and every recipient gets the same
bytes; the VERP envelope sender is not part of any signature.

What is signed, and how:

* **relaxed/relaxed** canonicalisation (RFC 6376 3.4.2, 3.4.4): robust against what relays do
  to messages in transit (refolding header fields, trailing spaces, blank lines at the end).
* **h=** lists the fields of `SIGNED_FIELDS` the message has, each as often as it occurs, so
  that every instance is signed; ``From`` once more than it occurs ("oversigning", 8.15): the
  extra entry signs the absence of another From, so a second From added in transit (which
  some mail clients would show instead of the first) breaks the signature. Fields added after
  signing that are not in h= (a ``Received`` line, say) leave it valid.
* **t=** is the signing time (`now`); there is no ``x=``: a message may wait days in queues.
* The body hash (``bh=``) is computed once and shared by both signatures, since both use
  SHA-256 over the same canonical body; the canonical header fields are made once too.
* RFC 8463 3: the Ed25519 signature is over the SHA-256 hash of the canonicalised header data,
  not over the data itself (PureEdDSA over a 32-byte input).
* Each field is folded at tag boundaries and in h= after a colon, to lines of at most 78
  characters (RFC 5322 2.1.1's "should"). The folding is in place *before* the header data is
  hashed: relaxed canonicalisation turns a fold into a space, so folding afterwards would
  change what was signed wherever it cut between characters. The ``b=`` value is the
  exception: verifiers remove it whole, whitespace included, before hashing (3.5), so it is
  folded freely when it is filled in.

Canonicalisation and message parsing are dkimpy's (``dkim.rfc822_parse`` and
``dkim.canonicalization.CanonicalizationPolicy``, its public functions), a library that has
been verified against other implementations for years; the key operations are OpenSSL's,
through ``cryptography``: dkimpy's RSA is pure Python. `python bench/dkim_sign.py --rounds 5`,
one run on the shared 2-core machine (load ~3.5), both signatures per message: 2 KB messages
937/s here against 112/s with dkimpy's `dkim.sign` (8.4x), 20 KB 296/s against 53/s (5.6x);
RSA alone 2 KB 803/s against 114/s. At 20 KB most of our time was then dkimpy's body
canonicalisation (regular expressions over the body) and its parsing of the body's lines; the
signer now skips both where they cannot change the bytes (`_parse`, `_canonical_body`; tests
in tests/dkim/test_signer_shortcuts.py), and a later run (load ~4.5) gave 20 KB 524/s against
50/s, 2 KB 981/s. What is left is mostly OpenSSL's RSA-2048 signature (`openssl speed
rsa2048`: 0.75 ms here), so a relay that spends ~3 ms of CPU a message pays about a third
more with signing: bench/relay.py's docstring has the end-to-end figures.
"""

from __future__ import annotations

import base64
import hashlib
from collections import Counter
from collections.abc import Sequence

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils
from dkim.canonicalization import CanonicalizationPolicy, correct_empty_body, strip_trailing_lines

import dkim

from ..errors import MessageError
from .keys import DomainKey

# Issue 11's list: the originator and recipient fields, the subject, date and id, the MIME
# fields that say how to read the body, and the list fields whose change would redirect an
# unsubscription. In this order in h=.
SIGNED_FIELDS = (
    b"from",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
    b"reply-to",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
)
OVERSIGNED_FIELDS = frozenset({b"from"})
HEADER_NAME = b"DKIM-Signature"
CANONICALIZATION = b"relaxed/relaxed"
LINE_WIDTH = 78
FOLD = b"\r\n\t"


class DkimSigner:
    """Signs messages of one domain with its current keys (an RSA key, and usually an Ed25519 one)."""

    def __init__(self, domain: str, keys: Sequence[DomainKey]) -> None:
        if not keys:
            raise ValueError("a DkimSigner needs at least one key")
        self.domain = domain.rstrip(".").lower()
        self.keys = tuple(keys)
        self._policy = CanonicalizationPolicy.from_c_value(CANONICALIZATION)

    def sign(self, message: bytes, now: float) -> bytes:
        """The DKIM-Signature fields for `message` (CRLF line ends, as stored), each ending in
        CRLF, to be put before its first line. MessageError if it has no From field or a
        header section that cannot be parsed."""
        try:
            headers, body = _parse(message)
        except dkim.MessageFormatError as exc:
            raise MessageError(f"cannot sign a message whose header cannot be parsed: {exc}") from exc
        names = Counter(bytes(name).lower() for name, _ in headers)
        if not names[b"from"]:
            raise MessageError("cannot sign a message without a From field")
        signed = [name for name in SIGNED_FIELDS for _ in range(names[name] + (name in OVERSIGNED_FIELDS))]
        canonical = self._policy.canonicalize_headers(headers)
        header_data = b"".join(name + b":" + value for name, value in _select(canonical, signed))
        body_hash = base64.b64encode(hashlib.sha256(_canonical_body(self._policy, body)).digest())
        return b"".join(self._signature(key, header_data, signed, body_hash, int(now)) for key in self.keys)

    def _signature(self, key: DomainKey, header_data: bytes, signed: list[bytes], body_hash: bytes, now: int) -> bytes:
        """One DKIM-Signature field: its tags folded, hashed with the signed fields, b= filled in."""
        tags = [
            b"v=1",
            b"a=" + key.algorithm.signature_algorithm.encode("ascii"),
            b"c=" + CANONICALIZATION,
            b"d=" + self.domain.encode("ascii"),
            b"s=" + key.selector.encode("ascii"),
            b"t=" + str(now).encode("ascii"),
        ]
        field = _fold_tags(HEADER_NAME + b":", tags, signed, body_hash)
        # RFC 6376 3.7: the signature field itself, with an empty b= and without its final CRLF,
        # is hashed last, canonicalised like the others.
        ((name, value),) = self._policy.canonicalize_headers([(HEADER_NAME, field[len(HEADER_NAME) + 1 :])])
        digest = hashlib.sha256(header_data + name + b":" + value.rstrip(b"\r\n")).digest()
        private = key.private_key
        if isinstance(private, ed25519.Ed25519PrivateKey):
            signature = private.sign(digest)  # RFC 8463 3: Ed25519 over the SHA-256 hash
        else:
            signature = private.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        return _fill_b(field, base64.b64encode(signature)) + b"\r\n"


def _parse(message: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """dkim.rfc822_parse(message), without its work on the body where that work changes
    nothing. It splits the whole message into lines and joins the body's again with CRLF,
    which at 20 KB took longer than the RSA signature. A stored message has CRLF line ends, so
    when its body has no bare LF the join gives the body back as it is: only the header
    section is parsed, and the body is the bytes after the first empty line. Anything else
    (a bare LF anywhere, no empty line) takes dkimpy's whole way."""
    end = message.find(b"\r\n\r\n") + 4
    if end >= 4 and message.count(b"\n", end) == message.count(b"\r\n", end):
        headers, rest = dkim.rfc822_parse(message[:end])
        if rest == b"":  # the header section ended there, not at an earlier bare-LF empty line
            return headers, message[end:]
    return dkim.rfc822_parse(message)  # type: ignore[no-any-return]


def _canonical_body(policy: CanonicalizationPolicy, body: bytes) -> bytes:
    """policy.canonicalize_body(body) (relaxed), skipping its two regular-expression passes
    where they cannot change anything. Relaxed body canonicalisation (RFC 6376 3.4.4) removes
    spaces and tabs before a line end and turns every run of them into one space; dkimpy does
    each with re.sub, which at 20 KB cost more than the RSA signature, rewriting every single
    space as itself. A body without a tab, two spaces in a row or a space before CRLF is left
    as it is by both, so only the end of the body is canonicalised, with dkimpy's functions."""
    if b"\t" in body or b"  " in body or b" \r\n" in body:
        return policy.canonicalize_body(body)  # type: ignore[no-any-return]
    return correct_empty_body(strip_trailing_lines(body))  # type: ignore[no-any-return]


def _select(headers: list[tuple[bytes, bytes]], signed: list[bytes]) -> list[tuple[bytes, bytes]]:
    """The fields that `signed` (h=) names, in its order: each name takes the last instance not
    yet taken, from the bottom up; a name listed more often than it occurs takes nothing
    (RFC 6376 5.4.2)."""
    remaining: dict[bytes, list[tuple[bytes, bytes]]] = {}
    for name, value in headers:
        remaining.setdefault(name, []).append((name, value))
    return [remaining[name].pop() for name in signed if remaining.get(name)]


def _fold_tags(start: bytes, tags: list[bytes], signed: list[bytes], body_hash: bytes) -> bytes:
    """The field up to an empty b=, its tags separated by "; ", folded to LINE_WIDTH: before a
    tag, or after a colon of h= (RFC 6376 3.5 allows FWS around h='s colons)."""
    # Pieces that stay whole, each with what joins it to the one before: a space between
    # tags, nothing between the names of h=, each of which keeps its colon.
    names = [name + b":" for name in signed[:-1]] + [signed[-1] + b";"]
    pieces = [(b" ", tag + b";") for tag in tags] + [(b" ", b"h=" + names[0])] + [(b"", name) for name in names[1:]]
    pieces += [(b" ", b"bh=" + body_hash + b";"), (b" ", b"b=")]
    lines = [start]
    for joint, piece in pieces:
        width = len(lines[-1]) + (len(lines) > 1)  # a continuation line starts with a tab
        if width + len(joint) + len(piece) <= LINE_WIDTH:
            lines[-1] += joint + piece
        else:
            lines.append(piece)  # the fold takes the joint's place
    return FOLD.join(lines)


def _fill_b(field: bytes, b: bytes) -> bytes:
    """`field` (ending in "b=") with `b` appended, folded to LINE_WIDTH anywhere."""
    column = len(field) - (field.rfind(b"\n") + 1)  # the last line's width, its tab included
    room = max(LINE_WIDTH - column, 0)
    filled = field + b[:room]
    for i in range(room, len(b), LINE_WIDTH - 1):
        filled += FOLD + b[i : i + LINE_WIDTH - 1]
    return filled
