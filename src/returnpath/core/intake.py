"""Turning what a client handed in into a `Submission`: addresses, options, the raw message.

Both doors use this: the SMTP submission server (options come as `X-Returnpath-*` headers,
removed before delivery) and the HTTP API (options come as JSON fields, SMTPeter's names).
Everything here is pure and raises `InputError` subclasses with a message fit for a client.
"""

from __future__ import annotations

import calendar
import datetime
import email.utils
import ipaddress
import re
import time
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AddressError, MessageError, OptionError
from .model import DsnOptions, Submission, Trace
from .senders import fields

# RFC 5321 section 4.1.2 / 4.5.3.1: local part up to 64 octets, a path up to 256.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]+"
_LOCAL = re.compile(rf'^(?:{_ATOM}(?:\.{_ATOM})*|"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*")$')
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\-\u0080-\U0010ffff]{1,63}(?<!-)$")
_LITERAL = re.compile(r"^\[(?:\d{1,3}(?:\.\d{1,3}){3}|IPv6:[0-9A-Fa-f:.]+)\]$")

OPTION_HEADER_PREFIX = b"x-returnpath-"
# RFC 5322 2.1.1 and RFC 5321 4.5.3.1.6: a line is at most 998 octets before its CRLF.
MAX_LINE = 998


_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp"})  # Unicode categories: controls, format, separators


def validate_address(address: str, what: str = "address") -> str:
    """Check a mailbox (`local@domain`) and return it; raise AddressError saying what is wrong."""
    if not isinstance(address, str) or not address:
        raise AddressError(f"{what} is empty")
    if len(address.encode("utf-8")) > 254:
        raise AddressError(f"{what} is longer than 254 octets")
    if any(ord(c) < 0x20 or c == "\x7f" for c in address):
        raise AddressError(f"{what} contains control characters")
    if not address.isascii() and any(unicodedata.category(c) in _INVISIBLE for c in address):
        # C1 controls, line and paragraph separators, bidi overrides and zero-width characters:
        # no mailbox has them, they disguise what a log or a screen shows, and the outbound
        # client refuses them, so the delivery would only fail later (RFC 6531 allows UTF-8,
        # but RFC 5198's Net-Unicode excludes controls).
        raise AddressError(f"{what} contains control or invisible formatting characters")
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{what} {address!r} is not of the form local@domain")
    if len(local.encode("utf-8")) > 64:
        raise AddressError(f"{what} {address!r} has a local part longer than 64 octets")
    if not _LOCAL.match(local):
        raise AddressError(f"{what} {address!r} has an invalid local part")
    if _LITERAL.match(domain):
        try:
            ipaddress.ip_address(domain[1:-1].removeprefix("IPv6:"))
        except ValueError:
            raise AddressError(f"{what} {address!r} has an invalid address literal") from None
    else:
        labels = domain.rstrip(".").split(".")
        if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
            raise AddressError(f"{what} {address!r} has an invalid domain")
    return address


def validate_recipient(address: str) -> str:
    """Check a recipient as `validate_address` does, and refuse an address literal
    (`x@[192.0.2.1]`): deliveries go to the servers a domain's MX records name, and a literal
    has none, so the message would only fail later, or wait days for a DNS that never answers
    for it. (Receivers refuse mail for literals too, and delivering to one would let a client
    aim the relay at any host, internal ones included.)"""
    validate_address(address, "recipient")
    if address.endswith("]"):
        raise AddressError(
            f"recipient {address!r} is an address literal: returnpath delivers to a domain's mail servers; "
            "write the recipient's domain"
        )
    return address


def check_data(raw: bytes) -> None:
    """Refuse message data that could smuggle a second message or is not a message at all.

    A bare LF or a bare CR lets a message end where one server sees `<LF>.<LF>` and another
    does not (the SMTP smuggling reports of December 2023). We neither split nor repair such
    data: we refuse it, as Postfix does with `smtpd_forbid_bare_newline`. A NUL likewise:
    servers that drop NULs read `<CRLF>NUL.<CRLF>` as the end of the data, and RFC 5322
    (section 3.5, `text`) allows none in a message.
    """
    if not raw or raw.isspace():  # (as `not raw.strip()`, without copying the message)
        raise MessageError("the message is empty")
    lf = raw.count(b"\n")
    if lf != raw.count(b"\r\n") or raw.count(b"\r") != lf:
        raise MessageError("the message contains a bare LF or CR; lines must end with CRLF")
    if b"\0" in raw:
        raise MessageError("the message contains a NUL octet, which no line of a message may (RFC 5322 section 3.5)")
    if has_long_line(raw):
        # Receiving servers refuse such lines (at the end of data, after everything else
        # went well); better to say so now than to fail every delivery later.
        raise MessageError(
            "the message has a line longer than 998 octets (RFC 5322 section 2.1.1); "
            "use a transfer encoding such as quoted-printable or base64"
        )


def check_from(mime: bytes) -> None:
    """Refuse a message without exactly one From: field naming an address (RFC 5322 section
    3.6: one From, of one or more mailboxes). Receiving servers refuse such mail at the end of
    its data, at every delivery (Google's SMTP error reference: "550 5.7.1 Messages missing a
    valid address in From: header, or having no From: header, aren't accepted"; DMARC cannot
    pick among several From fields, RFC 7489 section 6.6.1); better to say so now."""
    froms = fields(mime, b"from")
    if not froms:
        raise MessageError("the message has no From: field; RFC 5322 section 3.6 requires one")
    if len(froms) > 1:
        raise MessageError(f"the message has {len(froms)} From: fields; RFC 5322 section 3.6 allows one")
    if not any("@" in address.strip("@") for _, address in email.utils.getaddresses(froms)):
        raise MessageError(f"the From: field names no address (local-part@domain): {froms[0].strip()[:100]!r}")


def has_long_line(raw: bytes, longest: int = MAX_LINE) -> bool:
    """Whether a line of `raw` (split at CRLF) is longer than `longest` octets, CRLF not counted.

    Rather than split every line (or run a regular expression, some hundred times slower
    again), this jumps from the last CRLF within MAX_LINE + 2 bytes of a line's start to the
    next such window: a few dozen steps for 20 KB of short lines.
    """
    pos, size, window = 0, len(raw), longest + 2
    while size - pos > longest:
        crlf = raw.rfind(b"\r\n", pos, pos + window)
        if crlf < 0:
            return True
        pos = crlf + 2
    return False


def _header_end(raw: bytes) -> int:
    """Offset of the blank line that ends the header (len(raw) if there is no body)."""
    if raw.startswith(b"\r\n"):
        return 0
    index = raw.find(b"\r\n\r\n")
    return len(raw) if index < 0 else index + 2


def split_option_headers(raw: bytes) -> tuple[bytes, dict[str, str]]:
    """Remove our `X-Returnpath-*` header fields from a CRLF message and return their values.

    Only those fields are touched: every other byte of the header and body stays as it was.
    Keys are the lowercase names without the prefix (`tags`, `trackbounces`, ...).
    """
    end = _header_end(raw)
    header = raw[:end]
    if OPTION_HEADER_PREFIX not in header.lower():
        return raw, {}
    kept: list[bytes] = []
    options: dict[str, str] = {}
    current: list[bytes] | None = None  # the lines of the field being read
    fields: list[list[bytes]] = []
    for line in header.split(b"\r\n")[:-1] if header.endswith(b"\r\n") else header.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and current is not None:
            current.append(line)
        else:
            current = [line]
            fields.append(current)
    for field in fields:
        name, colon, _ = field[0].partition(b":")
        if colon and name.strip().lower().startswith(OPTION_HEADER_PREFIX):
            value = b" ".join(part.strip() for part in [field[0].partition(b":")[2], *field[1:]])
            key = name.strip().lower()[len(OPTION_HEADER_PREFIX) :].decode("ascii", "replace")
            options[key] = value.strip().decode("utf-8", "replace")
        else:
            kept.extend(field)
    new_header = b"".join(line + b"\r\n" for line in kept)
    return new_header + raw[end:], options


def parse_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "0", "off"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise OptionError(f"{name} must be true or false, not {value!r}")


def parse_time(value: Any, name: str) -> float:
    """UTC `YYYY-MM-DD hh:mm:ss` (SMTPeter's format) to Unix seconds."""
    if not isinstance(value, str):
        raise OptionError(f"{name} must be a string 'YYYY-MM-DD hh:mm:ss' (UTC)")
    try:
        parsed = time.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise OptionError(f"{name} {value!r} is not 'YYYY-MM-DD hh:mm:ss' (UTC)") from None
    return float(calendar.timegm(parsed))


def parse_maxdelivertime(value: Any, now: float) -> float:
    """The `maxdelivertime` option: a time (as parse_time) still to come at `now`. One in the
    past would fail the message unattempted; that is a mistake to name, not to act on."""
    deadline = parse_time(value, "maxdelivertime")
    if deadline <= now:
        raise OptionError(f"maxdelivertime {value.strip()!r} (UTC) is not in the future")
    return deadline


MAX_TAGS = 32
MAX_TAG_LENGTH = 128


def parse_tags(value: Any) -> tuple[str, ...]:
    """A list of strings, or (from a header) one comma-separated string."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [t.strip() for t in value.split(",") if t.strip()]
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise OptionError("tags must be a list of strings")
    if len(value) > MAX_TAGS:
        raise OptionError(f"at most {MAX_TAGS} tags are allowed")
    for tag in value:
        # As in addresses (validate_address): DEL, C1 controls, separators and bidi overrides
        # were let through by a check for C0 alone, and reach the loops' receivers raw.
        if not tag or len(tag) > MAX_TAG_LENGTH or any(unicodedata.category(c) in _INVISIBLE for c in tag):
            raise OptionError(f"tag {tag!r} must be 1 to {MAX_TAG_LENGTH} printable characters")
    return tuple(value)


_NOTIFY = {"NEVER", "SUCCESS", "FAILURE", "DELAY"}


def parse_dsn(value: Any) -> DsnOptions | None:
    """The `dsn` option: an object with notify, ret, envid, orcpt (RFC 3461).

    From a header it is written `notify=FAILURE,DELAY; ret=HDRS; envid=abc`.
    """
    if value is None:
        return None
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split(";") if p.strip()]
        value = {k.strip().lower(): v.strip() for k, _, v in pairs}
        if "notify" in value:
            value["notify"] = [n for n in value["notify"].split(",") if n.strip()]
    if not isinstance(value, Mapping):
        raise OptionError("dsn must be an object with notify, ret, envid and orcpt")
    unknown = set(value) - {"notify", "ret", "envid", "orcpt"}
    if unknown:
        raise OptionError(f"dsn has unknown fields: {', '.join(sorted(unknown))}")
    notify = value.get("notify") or []
    if isinstance(notify, str):
        notify = [n for n in notify.split(",") if n.strip()]
    if not isinstance(notify, list) or not all(isinstance(n, str) for n in notify):
        raise OptionError('dsn.notify must be a list such as ["FAILURE", "DELAY"]')
    notify_up = tuple(n.strip().upper() for n in notify)
    if any(n not in _NOTIFY for n in notify_up) or ("NEVER" in notify_up and len(notify_up) > 1):
        raise OptionError("dsn.notify takes NEVER alone, or any of SUCCESS, FAILURE, DELAY")
    ret = value.get("ret")
    if ret is not None and (not isinstance(ret, str) or ret.upper() not in ("FULL", "HDRS")):
        raise OptionError("dsn.ret must be FULL or HDRS")
    for key in ("envid", "orcpt"):
        item = value.get(key)
        if item is not None and (
            not isinstance(item, str)
            or not item.isascii()
            or any(ord(c) <= 0x20 or c in "+=" for c in item)
            or len(item) > 100
        ):
            raise OptionError(f"dsn.{key} must be up to 100 printable ASCII characters without '+', '=' or spaces")
    return DsnOptions(
        notify=notify_up, ret=ret.upper() if ret else None, envid=value.get("envid"), orcpt=value.get("orcpt")
    )


def build(
    mail_from: str,
    recipients: Iterable[str],
    mime: bytes,
    options: Mapping[str, Any],
    *,
    max_recipients: int,
    max_size: int,
    now: float,
) -> Submission:
    """Validate everything and make a Submission. `options` uses SMTPeter's names; `now` is
    the time of submission."""
    if mail_from:
        validate_address(mail_from, "sender")
    rcpts = tuple(dict.fromkeys(validate_recipient(r) for r in recipients))
    if not rcpts:
        raise AddressError("no recipients")
    if len(rcpts) > max_recipients:
        raise AddressError(f"too many recipients: at most {max_recipients} per message")
    if len(mime) > max_size:
        raise MessageError(f"the message is {len(mime)} bytes; the limit is {max_size}")
    check_data(mime)
    check_from(mime)
    envelope = options.get("envelope")
    if envelope is not None:
        if not isinstance(envelope, str):
            raise OptionError("envelope must be an address")
        envelope = validate_address(envelope, "envelope") if envelope else None
    maxdelivertime = options.get("maxdelivertime")
    return Submission(
        mail_from=mail_from,
        recipients=rcpts,
        mime=mime,
        envelope=envelope,
        trackbounces=parse_bool(options.get("trackbounces", True), "trackbounces"),
        tags=parse_tags(options.get("tags")),
        maxdelivertime=None if maxdelivertime is None else parse_maxdelivertime(maxdelivertime, now),
        dsn=parse_dsn(options.get("dsn")),
    )


# ---- trace -----------------------------------------------------------------------------------

_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.:_\-\[\]]")


def received_header(trace: Trace, by: str, message_id: str, now: float) -> bytes:
    """The Received line returnpath puts on top of a message it accepts (RFC 5321 4.4 and
    section 4.4's grammar; the protocol names of RFC 3848):

        Received: from app.example.com ([192.0.2.10])
                by relay.example.com (returnpath) with ESMTPSA id 01k...;
                Sun, 29 Nov 2026 05:30:00 +0000
    """
    clauses = []
    helo = _HELO_UNSAFE.sub("_", trace.helo)[:255] if trace.helo else None
    literal = _address_literal(trace.client_ip) if trace.client_ip else None
    if helo and literal:
        clauses.append(f"from {helo} ({literal})")
    elif helo or literal:
        clauses.append(f"from {helo or literal}")
    protocol = f" with {trace.protocol}" if trace.protocol else ""
    clauses.append(f"by {by} (returnpath){protocol} id {message_id}")
    return ("Received: " + "\r\n\t".join(clauses) + ";\r\n\t" + _rfc5322_date(now) + "\r\n").encode("ascii")


def origin_fields(mime: bytes, hostname: str, message_id: str, now: float) -> bytes:
    """The `Message-ID` and `Date` fields a message lacks, to go on top of its header (or b"").

    RFC 5322 3.6 wants a Date and asks for a Message-ID; Gmail refuses mail without either,
    so relays (Postfix's cleanup, Exim's submission mode) add what an application left out:
    `Message-ID: <message id@hostname>` and `Date:` the submission time. A field the message
    has is kept as it is, and no other byte of the message changes.
    """
    names = _field_names(mime[: _header_end(mime)])
    added = b""
    if b"message-id" not in names:
        added += f"Message-ID: <{message_id}@{hostname}>\r\n".encode("ascii")
    if b"date" not in names:
        added += b"Date: " + _rfc5322_date(now).encode("ascii") + b"\r\n"
    return added


def _field_names(header: bytes) -> set[bytes]:
    """The lowercase names of a header's fields (continuation lines skipped)."""
    names = set()
    for line in header.split(b"\r\n"):
        name, colon, _ = line.partition(b":")
        if colon and line[:1] not in (b" ", b"\t"):
            names.add(name.strip().lower())
    return names


def _rfc5322_date(now: float) -> str:
    """`Sun, 29 Nov 2026 05:30:00 +0000`: RFC 5322 3.3, in UTC."""
    return email.utils.format_datetime(datetime.datetime.fromtimestamp(now, datetime.UTC).replace(microsecond=0))


def _address_literal(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "[" + _HELO_UNSAFE.sub("_", ip) + "]"
    if isinstance(address, ipaddress.IPv6Address):
        return f"[{address.ipv4_mapped}]" if address.ipv4_mapped else f"[IPv6:{address}]"
    return f"[{address}]"
