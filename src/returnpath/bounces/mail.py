"""A returned message split once into its MIME parts, with the views recognisers need.

`Mail.parse(raw)` never raises. Line endings are normalised to LF first (LF, CRLF and CR
copies of a bounce must give the same answer). Every view is computed on first use and
cached; texts are decoded with the declared charset, falling back to UTF-8 and Latin-1, and
capped (`MAX_TEXT`), so that a huge message costs a bounded scan.

Why not `email.message_from_bytes`: the stdlib parser builds the whole tree, decodes every
header and walks every line of every part in Python; on bounce-sized mail it alone is slower
than a whole flufl.bounce run. This module only *splits*: headers with one regular
expression, multiparts at their boundary lines with `bytes` searches, and nothing is decoded
until a recogniser asks for it. The stdlib still does the decoding it is good at (RFC 2047
words, base64, quoted-printable, codecs), and `Mail.message` gives the stdlib's own parse to
code that wants it.

Broken MIME is read the way mail clients read it: a multipart whose boundary never appears
is one text part (the report is usually in it); a missing closing boundary ends the part at
the end of the message; a header block without a blank line ends at the first non-header
line. Nesting is limited to `MAX_DEPTH` levels and `MAX_PARTS` parts.

The views (`Mail`):

- `header(name)`: a header's value, RFC 2047-decoded and unfolded ("" if absent);
- `subject`, `sender` (the From address, lower-case), `content_type`;
- `body`: the bounce's own words — the decoded text of the message's text parts that are
  not inside an attached (returned) message, HTML reduced to text (report parts such as
  message/delivery-status are not text: read them with `parts_of_type`) (a multipart whose
  boundary never appears counts as a text part, so its words are here too);
  `lower_body`: the same, lower-cased once;
- `original`: the returned message as text — the headers and start of an attached
  message/rfc822 or text/rfc822-headers part ("" when the bounce quotes it inline instead);
- `parts`: the leaf parts outside attached messages, in order; `attached`: the parts that
  hold a returned message; `attached_mails()`: those messages as `Mail`s.
"""

from __future__ import annotations

import binascii
import email
import email.header
import email.message
import functools
import html
import re
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

MAX_TEXT = 256 * 1024  # characters of any one text view that are scanned
MAX_PARTS = 200  # parts looked at: past this a message is a MIME bomb, not a bounce
MAX_DEPTH = 20  # nesting of multiparts and attached messages
MAX_PARSE = 16 * 1024 * 1024  # bytes split into parts: reports come first, and what lies
# beyond 16 MB is the returned message's payload (a report after it is not read)

_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
# An internationalised address (RFC 6531: UTF-8 in the local part and domain), read only where
# a report says its address is one: the "utf-8" address type of RFC 6533. Elsewhere letters
# of the text around an address are not taken into it.
_ADDRESS_UTF8 = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# RFC 6533 section 3: in a message/delivery-status (not -global) part, a "utf-8" address writes
# each non-ASCII character as embedded-unicode-char, "\x{HEXPOINT}".
_UNICODE_CHAR = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
# A quoted local part (RFC 5321 section 4.1.2, Quoted-string): its qtextSMTP includes the
# space, and MTAs report such addresses as sent (Postfix's quote_822_local() writes
# `"anna maria"@example.org` in its bounce text and DSN fields); not across a line end.
_QUOTED = re.compile(r'"[^"\r\n@]+"@[\w-]+(?:\.[\w-]+)+')
_ANGLED = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
# An Internet address inside an X.400 O/R address, as a domain-defined attribute: Exchange
# 5.5's "c=US;a= ;p=IKON;o=Nexus2;dda:SMTP=bob@example.com" (its NDRs, flufl.bounce's
# microsoft_01), the "DDA:RFC-822=bob@example.com" of X.400 gateways (RFC 2156, MIXER).
# '=' may stand in a local part, so the address pattern takes the attribute's type with it.
_X400_ATTRIBUTE = re.compile(r"^(?:dda:)?(?:smtp|rfc-?822)=", re.IGNORECASE)

# A header block: an optional mbox "From " line, then fields and their continuation lines.
_HEADER_BLOCK = re.compile(rb"(?:From [^\n]*\n)?(?:[!-9;-~]+[ \t]*:[^\n]*(?:\n|\Z)(?:[ \t][^\n]*(?:\n|\Z))*)*")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)", re.MULTILINE)
_VALUE = re.compile(rb"[ \t]*:[ \t]*([^\n]*(?:\n[ \t][^\n]*)*)")
_PARAM = re.compile(r';\s*([\w*.-]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;\s]*)')
_SURROGATES = re.compile("[\udc80-\udcff]")
_ATTACHED_TYPES = frozenset(
    {
        "message/rfc822",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global",
        "message/global-headers",
        "message/partial",
        "text/rfc822-header",
    }
)


def normalise_newlines(raw: bytes) -> bytes:
    """LF line endings, whatever the message came with (CRLF, CR, or a mix)."""
    if b"\r" not in raw:
        return raw
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def decode_header(value: object, encoded_words: bool = True) -> str:
    """A header value as text: encoded words decoded, folding removed; never raises.

    `encoded_words=False` keeps RFC 2047 words as written (DSN fields are not headers: an
    address like `=?utf-8?B?...?=@example.org` is the address, not an encoding of it).
    """
    if value is None:
        return ""
    if isinstance(value, email.header.Header):
        try:
            text = str(value)
        except Exception:
            text = value.encode()
    else:
        text = str(value)
    if encoded_words and "=?" in text:
        try:
            text = str(email.header.make_header(email.header.decode_header(text)))
        except Exception:  # a broken encoded word: keep it as written
            pass
    if _SURROGATES.search(text):  # undecodable 8-bit bytes kept as surrogates by compat32
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return " ".join(text.split())


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Text from bytes: the declared charset, else UTF-8, else Latin-1; never raises."""
    if b"\x1b$" in data or b"\x1b(" in data:  # ISO-2022-JP, whatever the label says
        charset = "iso-2022-jp" if not charset or charset in ("us-ascii", "ascii") else charset
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError, ValueError):
            continue
    return data.decode("latin-1")


def html_to_text(markup: str) -> str:
    """Rough text of an HTML part: enough to read a bounce written in HTML only.

    Lines are where the markup breaks them (br, p, div, tr, li, headings) and, inside <pre>,
    where its source does; elsewhere a line end of the source is white space (HTML 4.01
    section 9.1), as a mail client shows it. Servers that write their notice as HTML wrap
    its source anywhere: Domino's "because:<br>\\n<br><font>&nbsp; reason" and Exchange's
    "<br>\\n<a href=...>address</a><br>\\nThe email address ..." put a source line end
    between a label and its value, which read as text would be a blank line that ends the
    paragraph. A part with no such markup (text labelled text/html) keeps its lines."""

    def replace(m: re.Match[str]) -> str:
        if m.group(1):  # script, style: dropped with their content
            return ""
        return "\n" if m.group(2) or m.group(3) else ""

    def flow(piece: str) -> str:
        # a source line end is a space; white space at either end of a line is not shown
        # (a &nbsp; is, and stays)
        return _LINE_END_SPACE.sub("\n", _TAG.sub(replace, _SOURCE_BREAK.sub(" ", piece)))

    if not _LINE_MARKUP.search(markup):
        return html.unescape(_TAG.sub(replace, markup))
    pieces = _PRE.split(markup)  # odd pieces: <pre> elements, whose lines are the source's
    text = "".join(_TAG.sub(replace, p) if i % 2 else flow(p) for i, p in enumerate(pieces))
    return html.unescape(text.lstrip(" \t"))


_TAG = re.compile(
    r"<(script|style)\b.*?</\1\s*>|<(?:(br|p|div|tr|li|h\d)\b|/(p|div|tr|li|h\d)\b)?[^>]*>", re.IGNORECASE | re.DOTALL
)
_LINE_MARKUP = re.compile(r"<(?:br|p|div|tr|li|h\d)\b", re.IGNORECASE)
_PRE = re.compile(r"(<pre\b[^>]*>.*?</pre\s*>)", re.IGNORECASE | re.DOTALL)
_SOURCE_BREAK = re.compile(r"[ \t]*\n\s*")
_LINE_END_SPACE = re.compile(r"[ \t]*\n[ \t]*")


def addresses(text: str) -> list[str]:
    """The e-mail addresses in a text, in order, lower-cased, without duplicates."""
    seen: dict[str, None] = {}
    for m in _ADDRESS.finditer(text):
        seen.setdefault(clean_address(m.group(0)), None)
    return [a for a in seen if a]


def clean_address(value: str, utf8: bool = False) -> str:
    """An address as written in a report, reduced to local@domain, lower-cased ("" if none).

    Reports write `rfc822; <a@b>`, `"a@b"`, `a@b.`, `<a@b>...`, `Name <a@b>`; a quoted local
    part (`"a..b"@example.org`) keeps its quotes, without which it is no address. `utf8` (or
    a `utf-8;` type) reads it as RFC 6533's utf-8 address type: non-ASCII allowed, its
    `\\x{...}` escapes decoded.
    """
    value = value.strip()
    quoted = _QUOTED.search(value)
    if quoted:
        return quoted.group(0).lower()
    if ";" in value and value.split(";", 1)[0].strip().lower() in ("rfc822", "rfc-822", "x400", "utf-8"):
        kind, value = value.split(";", 1)
        utf8 = utf8 or kind.strip().lower() == "utf-8"
    if utf8:
        value = _UNICODE_CHAR.sub(lambda m: _char(int(m.group(1), 16)), value)
    m = _ANGLED.search(value)
    if m:
        value = m.group(1)
    value = value.strip().strip("<>\"'()[],;:.").strip()
    m = (_ADDRESS_UTF8 if utf8 else _ADDRESS).search(value)
    if not m:
        return ""
    return _X400_ATTRIBUTE.sub("", m.group(0).rstrip(".")).lower()


def _char(point: int) -> str:
    return chr(point) if point <= 0x10FFFF else ""


# ---- parts ---------------------------------------------------------------------------------


class Part:
    """One MIME entity: its header fields and (still transfer-encoded) body.

    Offers the few `email.message.Message` methods recognisers use (`get_content_type`,
    `get_payload`, `get_param`, `get`, ...), so code written against either reads the same.
    """

    __slots__ = ("_budget", "_index", "_inner", "body", "children", "ctype", "depth", "head", "params")

    def __init__(
        self, head: bytes, body: bytes, depth: int, budget: list[int], default_type: str = "text/plain"
    ) -> None:
        self.head = head
        self._index: dict[str, bytes | str] | None = None  # lower-cased name -> first value (raw until read)
        self.body = body
        self.depth = depth
        self._budget = budget
        self._inner: Part | bool | None = False  # the attached message, parsed on demand
        # the one field every part needs, found without indexing all of them
        self.ctype, self.params = _content_type(_content_type_field(head), default_type)
        self.children: list[Part] = []
        if self.ctype.startswith("multipart/"):
            self.children = self._split()
            if not self.children:  # no boundary line found: read it as the text it is
                self.ctype = "text/plain"

    @classmethod
    def parse(
        cls, data: bytes, depth: int = 0, budget: list[int] | None = None, default_type: str = "text/plain"
    ) -> Part:
        budget = budget if budget is not None else [MAX_PARTS]
        budget[0] -= 1
        m = _HEADER_BLOCK.match(data)
        end = m.end() if m else 0
        head, body = data[:end], data[end:]
        if body.startswith(b"\n"):
            body = body[1:]
        return cls(head, body, depth, budget, default_type)

    def _split(self) -> list[Part]:
        boundary = self.params.get("boundary", "")
        if not boundary or self.depth >= MAX_DEPTH or self._budget[0] <= 0:
            return []
        child_type = "message/rfc822" if self.ctype == "multipart/digest" else "text/plain"
        parts: list[Part] = []
        start: int | None = None
        for begin, end, closing in _delimiters(self.body, b"--" + boundary.encode("utf-8", "replace")):
            if start is not None:
                chunk = self.body[start : max(start, begin - 1)]
                parts.append(Part.parse(chunk, self.depth + 1, self._budget, child_type))
                if self._budget[0] <= 0:
                    return parts
            if closing:
                start = None
                break
            start = end + 1
        if start is not None and start < len(self.body):  # no closing delimiter: to the end
            parts.append(Part.parse(self.body[start:], self.depth + 1, self._budget, child_type))
        return parts

    # -- the email.message.Message subset --

    @property
    def fields(self) -> list[tuple[str, str]]:
        """Every header field, in order: (lower-cased name, raw value)."""
        return [
            (name.decode("ascii", "replace").lower(), value.decode("utf-8", "replace"))
            for name, value in _FIELD.findall(self.head)
        ]

    def get(self, name: str, default: str | None = None) -> str | None:
        if self._index is None:
            index: dict[str, bytes | str] = {}
            for key, value in _FIELD.findall(self.head):
                index.setdefault(key.decode("latin-1").lower(), value)
            self._index = index
        key = name.lower()
        value = self._index.get(key)
        if value is None:
            return default
        if isinstance(value, bytes):  # decoded once: the readers ask for the same fields
            value = self._index[key] = value.decode("utf-8", "replace")
        return value

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.fields if key == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self.fields)

    def get_content_type(self) -> str:
        return self.ctype

    def get_content_maintype(self) -> str:
        return self.ctype.split("/", 1)[0]

    def get_param(self, name: str, default: str | None = None) -> str | None:
        return self.params.get(name.lower(), default)

    def get_content_charset(self, default: str | None = None) -> str | None:
        charset = self.params.get("charset")
        return charset.lower() if charset else default

    def is_multipart(self) -> bool:
        return bool(self.children)

    def get_payload(self, decode: bool = False) -> list[Part] | str | bytes | None:
        """Children of a multipart; else the body as text, or as bytes when `decode`."""
        if self.children:
            return None if decode else self.children
        if decode:
            return self.decoded()
        return self.body.decode("utf-8", "replace")

    # -- our own --

    def decoded(self, limit: int | None = None) -> bytes:
        """The body with its Content-Transfer-Encoding undone (base64, quoted-printable)."""
        body = self.body if limit is None else self.body[:limit]
        cte = (self.get("content-transfer-encoding") or "").strip().lower()
        try:
            if cte == "base64":
                return _base64(body)
            if cte == "quoted-printable":
                return binascii.a2b_qp(body)
        except (binascii.Error, ValueError):
            pass
        return body

    def text(self, limit: int = MAX_TEXT) -> str:
        """The body as decoded text, capped at `limit` characters."""
        return decode_bytes(self.decoded(limit * 4), self.get_content_charset())[:limit]

    @property
    def inner(self) -> Part | None:
        """For message/rfc822 (and the like): the attached message, parsed on first use."""
        if self._inner is False:
            self._inner = None
            if self.depth < MAX_DEPTH and self._budget[0] > 0:
                data = self.decoded()
                self._inner = Part.parse(data, self.depth + 1, self._budget)
        return self._inner if isinstance(self._inner, Part) else None


def _delimiters(body: bytes, dash_boundary: bytes) -> list[tuple[int, int, bool]]:
    """(start, end of line, is closing) of each boundary delimiter line in a multipart body."""
    found: list[tuple[int, int, bool]] = []
    size = len(dash_boundary)
    at = 0 if body.startswith(dash_boundary) else body.find(b"\n" + dash_boundary)
    if at > 0 or (at == 0 and not body.startswith(dash_boundary)):
        at += 1
    while at >= 0:
        eol = body.find(b"\n", at)
        if eol < 0:
            eol = len(body)
        rest = body[at + size : eol].rstrip(b" \t")
        if rest in (b"", b"--"):  # a delimiter line, not a longer boundary that starts alike
            found.append((at, eol, rest == b"--"))
            if rest == b"--":
                break
        nxt = body.find(b"\n" + dash_boundary, eol)
        at = nxt + 1 if nxt >= 0 else -1
    return found


def _base64(body: bytes) -> bytes:
    try:
        return binascii.a2b_base64(body)
    except binascii.Error:  # bad padding or stray characters: keep what decodes
        clean = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
        return binascii.a2b_base64(clean[: len(clean) // 4 * 4])


def _content_type_field(head: bytes) -> str | None:
    """The value of the first Content-Type field of a header block (None if absent)."""
    low = head.lower()  # bytes.lower and bytes.find: much faster than an IGNORECASE regex
    at = low.find(b"content-type")
    while at >= 0:
        if at == 0 or low[at - 1] == 0x0A:  # at the start of a line
            m = _VALUE.match(head, at + 12)
            if m:
                return m.group(1).decode("utf-8", "replace")
        at = low.find(b"content-type", at + 12)
    return None


def _content_type(value: str | None, default: str) -> tuple[str, dict[str, str]]:
    if not value:
        return default, {}
    main, semicolon, rest = value.partition(";")
    main = main.strip().lower()
    if main.count("/") != 1 or " " in main:
        main = "text/plain"
    params: dict[str, str] = {}
    if not semicolon:
        return main, params
    for name, raw in _PARAM.findall(";" + rest):
        raw = raw.strip('"').replace('\\"', '"')
        params.setdefault(name.lower().rstrip("*"), raw)
    return main, params


def payload_text(part: Part | email.message.Message, limit: int = MAX_TEXT) -> str:
    """The decoded text of a leaf part ("" for a multipart); never raises."""
    if isinstance(part, Part):
        if part.children:
            return ""
        return part.text(limit)
    try:  # a stdlib message (Mail.message users)
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if not isinstance(data, bytes):
        payload = part.get_payload()
        return payload[:limit] if isinstance(payload, str) else ""
    return decode_bytes(data[: limit * 4], part.get_content_charset())[:limit]


def attached_text(part: Part, limit: int = MAX_TEXT) -> str:
    """The text of an attached message part: its header lines, a blank line, its text."""
    if part.ctype in ("message/rfc822", "message/global"):
        inner = part.inner
        if inner is None:
            return ""
        head = "\n".join(f"{k}: {decode_header(v)}" for k, v in inner.fields)
        body = "" if inner.children else inner.text(limit)
        return (head + "\n\n" + body)[:limit]
    return part.text(limit)


# An enhanced status code (RFC 3463) as a notice writes it, not part of a version or address
_ENHANCED_STATUS = re.compile(r"(?<![\d.])[245]\.\d{1,3}\.\d{1,3}(?![\d.]*\d)")


def _more_statuses(markup: str, read: list[str]) -> bool:
    """Whether an HTML alternative names a status the text parts read before it do not. The
    alternatives of a notice should say the same (RFC 2046 section 5.1.4); some do not: a
    gateway that rebuilds an Exchange NDR's text/plain part from its user text leaves the
    "Diagnostic information for administrators" ("#550 5.1.1 RESOLVER.ADR.RecipNotFound;
    not found ##") in the HTML alone (blind batch 32's exchange2010-alt-01)."""
    found = set(_ENHANCED_STATUS.findall(markup))
    return bool(found) and not found <= set(_ENHANCED_STATUS.findall("\n".join(read)))


# ---- the message ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def lowered(text: str) -> str:
    """`text` lower-cased, once for all who ask: the detectors' phrase tests and the
    case-insensitive expressions (bounces/regex.py) read the same body, one after another.
    (A str keeps its hash and the cache compares by identity first: a hit costs next to
    nothing.)"""
    return text.lower()


_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """functools.cached_property without its lock (Python 3.11 takes one on every first
    computation): a `Mail` belongs to one thread, and recognition computes several views of
    every message."""

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self.compute = compute
        self.name = compute.__name__
        self.__doc__ = compute.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> cached_property[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> _T | cached_property[_T]:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.compute(instance)
        return value


class Mail:
    """A returned message, split into parts, with cached views."""

    def __init__(self, raw: bytes, root: Part) -> None:
        self.raw = raw  # the bytes split: LF line endings, capped at MAX_PARSE
        self.root = root
        self._decoded: dict[str, str] = {}

    @classmethod
    def parse(cls, raw: bytes) -> Mail:
        raw = normalise_newlines(bytes(raw[:MAX_PARSE]))
        try:
            root = Part.parse(raw)
        except RecursionError:  # cannot happen with MAX_DEPTH; kept as a last defence
            root = Part.parse(b"")
        return cls(raw, root)

    @classmethod
    def of(cls, part: Part) -> Mail:
        return cls(b"", part)

    @cached_property
    def message(self) -> email.message.Message:
        """The stdlib's own parse (compat32), for code that wants an email.message.Message."""
        try:
            return email.message_from_bytes(self.raw)
        except Exception:
            return email.message.Message()

    # ---- headers ---------------------------------------------------------------------------

    def header(self, name: str) -> str:
        """The first value of header `name`, decoded and unfolded ("" if absent)."""
        name = name.lower()
        if name not in self._decoded:
            self._decoded[name] = decode_header(self.root.get(name, ""))
        return self._decoded[name]

    def has_header(self, name: str) -> bool:
        return self.root.get(name) is not None

    @cached_property
    def subject(self) -> str:
        return self.header("subject")

    @cached_property
    def sender(self) -> str:
        """The From address, lower-cased ("" if none)."""
        return clean_address(self.header("from"))

    @property
    def content_type(self) -> str:
        return self.root.ctype

    def param(self, name: str) -> str:
        """A parameter of the top-level Content-Type ("" if absent), e.g. report-type."""
        return self.root.params.get(name.lower(), "")

    # ---- parts -----------------------------------------------------------------------------

    @cached_property
    def _walk(self) -> tuple[list[Part], list[Part]]:
        """(leaf parts outside attached messages, attached message parts), in order."""
        leaves: list[Part] = []
        attached: list[Part] = []
        stack = [self.root]
        while stack:
            part = stack.pop()
            if part.ctype in _ATTACHED_TYPES:
                attached.append(part)
            elif part.children:
                stack.extend(reversed(part.children))
            else:
                leaves.append(part)
        return leaves, attached

    @property
    def parts(self) -> list[Part]:
        return self._walk[0]

    @cached_property
    def is_digest(self) -> bool:
        """Whether the message itself (not a message attached to it) holds a multipart/digest:
        a collection of messages (RFC 2046 section 5.1.5), as mailing lists send their digests
        (Mailman, Sympa, LISTSERV). No mail system writes its notice as one."""
        stack = [self.root]
        while stack:
            part = stack.pop()
            if part.ctype == "multipart/digest":
                return True
            if part.ctype not in _ATTACHED_TYPES:
                stack.extend(part.children)
        return False

    @property
    def attached(self) -> list[Part]:
        """The parts that hold a returned message (message/rfc822, text/rfc822-headers)."""
        return self._walk[1]

    @cached_property
    def types(self) -> frozenset[str]:
        """The content types of the leaf parts (outside attached messages)."""
        return frozenset(p.ctype for p in self.parts)

    def parts_of_type(self, *ctypes: str) -> list[Part]:
        if self.types.isdisjoint(ctypes):  # the common answer, without a walk
            return []
        return [p for p in self.parts if p.ctype in ctypes]

    def attached_mails(self, containing: bytes = b"") -> list[Mail]:
        """The returned messages attached as message/rfc822, each as a Mail of its own.

        With `containing`, only those whose raw text contains it (a cheap test that spares
        parsing returned messages that cannot matter).
        """
        out: list[Mail] = []
        for part in self.attached:
            if part.ctype in ("message/rfc822", "message/global"):
                if containing and containing not in part.body:
                    continue
                inner = part.inner
                if inner is not None:
                    out.append(Mail.of(inner))
        return out

    # ---- texts -----------------------------------------------------------------------------

    @cached_property
    def body(self) -> str:
        """The bounce's own words: its text parts (outside attached messages), decoded."""
        chunks: list[str] = []
        size = 0
        plain_seen = False
        for part in self.parts:
            ctype = part.ctype
            if ctype == "text/html":
                markup = part.text(MAX_TEXT)
                if plain_seen and not _more_statuses(markup, chunks):
                    continue  # an alternative of the plain text just read
                text = html_to_text(markup)
            elif ctype.startswith("text/"):
                text = part.text(MAX_TEXT)
                plain_seen = plain_seen or ctype == "text/plain"
            else:
                continue
            chunks.append(text)
            size += len(text)
            if size >= MAX_TEXT:
                break
        return "\n".join(chunks)[:MAX_TEXT]

    @cached_property
    def lower_body(self) -> str:
        """`body` lower-cased, once: for the cheap `"phrase" in mail.lower_body` tests that
        let a detector say "not mine" without running its regular expressions."""
        return lowered(self.body)

    @cached_property
    def original(self) -> str:
        """The returned message as text: headers and start of body ("" if not attached)."""
        for part in self.attached:
            text = attached_text(part)
            if text:
                return text
        return ""
