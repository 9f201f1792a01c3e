"""The body of `POST /v1/send`, in SMTPeter's names, turned into a `Submission`.

The HTTP layer checks the JSON shape of each field and names the field in its error; what the
values mean (addresses, tags, times, DSN options, the message itself) is checked by
core.intake, the same code the SMTP door uses.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from ..config import Settings
from ..core import intake as checks
from ..core.model import Submission
from ..core.senders import fields
from ..errors import AddressError, InputError, MessageError
from . import compose
from .problems import Problem, from_error

# The options core.intake.build takes, all in SMTPeter's names.
OPTIONS = ("envelope", "trackbounces", "tags", "maxdelivertime", "dsn")
OWN = ("recipients", "recipient", "mime", *OPTIONS)
# SMTPeter fields we do not act on, accepted and ignored: returnpath rewrites no links, adds no
# pixel, inlines no CSS and adds no preview text; the message goes out as it was given.
PRESENTATION = ("trackclicks", "trackopens", "inlinecss", "preview")
# SMTPeter fields that describe content; with `mime` they are ignored (as SMTPeter does).
CONTENT = (*compose.FIELDS, "images", "attachments")
# Content we cannot add: refused when given, with or without `mime`, for dropped in silence a
# file the recipient was meant to get would be missing from mail that was answered 200.
UNSUPPORTED = ("images", "attachments")

_BARE_LF = re.compile(rb"(?<!\r)\n")


@contextmanager
def blame(field: str | None) -> Iterator[None]:
    """Turn the core's InputError into a 400 problem naming `field`."""
    try:
        yield
    except InputError as exc:
        raise from_error(exc, field) from None


def submission_from(payload: Mapping[str, Any], settings: Settings, now: float) -> Submission:
    """Validate a send request and make the Submission; raise a Problem saying what is wrong."""
    _check_fields(payload)
    recipients = _recipients(payload)
    mime = _mime(payload)
    options = {name: payload[name] for name in OPTIONS if payload.get(name) is not None}
    _check_options(options, now)
    mail_from = options.get("envelope") or _from_address(mime, from_field(payload))
    limits = settings.smtp.submission
    try:
        return checks.build(
            mail_from,
            recipients,
            mime,
            options,
            max_recipients=limits.max_recipients,
            max_size=limits.max_message_size,
            now=now,
        )
    except AddressError as exc:  # what is left for build to refuse: the number of recipients
        raise from_error(exc, "recipients") from None
    except MessageError as exc:
        raise from_error(exc, "mime" if "mime" in payload else None) from None


def _check_fields(payload: Mapping[str, Any]) -> None:
    known = set(OWN) | set(PRESENTATION) | set(CONTENT)
    for name in payload:
        if name not in known:
            raise Problem("invalid-field", f"unknown field {name!r}", field=name)
    for name in UNSUPPORTED:
        if payload.get(name):
            raise Problem(
                "invalid-field",
                f"{name} is not supported: build the message with them yourself and send it as mime"
                if payload.get("mime") is None
                else f"{name} is not supported: put them in the mime message itself",
                field=name,
            )


def _recipients(payload: Mapping[str, Any]) -> list[str]:
    """`recipients` (a list, or one address as a string) and `recipient` (one), both allowed
    at once. SMTPeter's clients send `recipients` both ways."""
    recipients = payload.get("recipients")
    if recipients is None:
        recipients = []
    elif isinstance(recipients, str):
        recipients = [recipients]
    elif not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise Problem("invalid-field", "recipients must be an address or a list of addresses", field="recipients")
    single = payload.get("recipient")
    if single is not None and not isinstance(single, str):
        raise Problem("invalid-field", "recipient must be an address", field="recipient")
    if not recipients and single is None:
        raise Problem("invalid-field", "recipients (a list) or recipient (one address) is required", field="recipients")
    for index, address in enumerate(recipients):
        with blame("recipients" if isinstance(payload["recipients"], str) else f"recipients[{index}]"):
            checks.validate_recipient(address)
    if single is not None:
        with blame("recipient"):
            checks.validate_recipient(single)
    return [*recipients, *([single] if single is not None else [])]


def _mime(payload: Mapping[str, Any]) -> bytes:
    """The message as it will be stored: given as `mime`, or built from SMTPeter's fields."""
    mime = payload.get("mime")
    if mime is None:
        if compose.wants_composing(payload):
            return compose.compose(payload)
        raise Problem(
            "invalid-field",
            "mime is required (or subject, text, html and from to build the message from)",
            field="mime",
        )
    if not isinstance(mime, str):
        raise Problem("invalid-field", "mime must be a string: the whole message", field="mime")
    # JSON clients write "\n"; on the wire a line ends with CRLF. body.py has refused lone
    # surrogates already, so this encoding cannot fail.
    message = _BARE_LF.sub(b"\r\n", mime.encode("utf-8"))
    _check_header_section(message)
    return message


# RFC 5322 section 2.2 and 3.6.8: a field name is printable ASCII but the colon (obs-syntax
# allows blanks before the colon); a line starting with a blank continues the field above.
_FIELD = re.compile(rb"[!-9;-~]+[ \t]*:")


def _check_header_section(message: bytes) -> None:
    """Refuse a `mime` whose lines before the first empty one are not header fields: text
    given as `mime` instead of `text` (a client's slip), or a message cut at the top. Relays
    pass such data on as it is, and the fields returnpath puts on top (Received, Message-ID,
    Date) would make its first line a header line that is none."""
    header, _, _ = message.partition(b"\r\n\r\n")
    for number, line in enumerate(header.split(b"\r\n"), 1):
        if _FIELD.match(line) or (number > 1 and line[:1] in (b" ", b"\t")):
            continue
        shown = line[:60].decode("utf-8", "replace")
        hint = "; to send a text, give it as text with from and subject" if number == 1 else ""
        raise Problem(
            "invalid-message",
            f"mime must be a whole message, header fields first (RFC 5322): line {number}, {shown!r}, "
            f"is no header field and no continuation of one{hint}",
            field="mime",
        )


def _check_options(options: Mapping[str, Any], now: float) -> None:
    """Each option checked alone, so that an error names its field; build checks them again."""
    with blame("envelope"):
        if not isinstance(options.get("envelope", ""), str):
            raise Problem("invalid-field", "envelope must be an address", field="envelope")
        if options.get("envelope"):
            checks.validate_address(options["envelope"], "envelope")
    with blame("trackbounces"):
        checks.parse_bool(options.get("trackbounces", True), "trackbounces")
    with blame("tags"):
        checks.parse_tags(options.get("tags"))
    with blame("maxdelivertime"):
        if "maxdelivertime" in options:
            checks.parse_maxdelivertime(options["maxdelivertime"], now)
    with blame("dsn"):
        checks.parse_dsn(options.get("dsn"))


def from_field(payload: Mapping[str, Any]) -> str:
    """The request field a message's From address came from: the From header of `mime`, or
    the `from` field of a message built from fields (from, subject, text, ...)."""
    return "mime" if payload.get("mime") is not None else "from"


def _from_address(mime: bytes, field: str) -> str:
    """The address of the message's From header, or "" when it has none; a problem naming
    `field` (the request field the header came from) when it is no address."""
    # RFC 6532 allows UTF-8 in headers; anything that is not UTF-8 cannot be an address we use.
    address = next((addr for _, addr in email.utils.getaddresses(fields(mime, b"from")) if addr), "")
    if address:
        with blame(field):
            checks.validate_address(address, "the From header's address" if field == "mime" else "from")
    return address
