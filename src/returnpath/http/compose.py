"""SMTPeter's field-based sending: a MIME message made from `from`, `to`, `cc`, `subject`,
`text` and `html`, for clients that do not build the message themselves.

The standard library's `EmailMessage` does the MIME work: RFC 2047 for non-ASCII header text,
multipart/alternative when both `text` and `html` are given, quoted-printable bodies so the
result is 7-bit clean, CRLF line endings. It has no Message-ID or Date: those come from the
relay, as for a message given whole that lacks them (core/intake.py), so that its Message-ID is
`<message id@hostname>` and names the message id the API answers with.
"""

from __future__ import annotations

import email.policy
import email.utils
from collections.abc import Mapping
from email.errors import MessageError as MimeError
from email.message import EmailMessage
from typing import Any

from .problems import Problem

FIELDS = ("from", "to", "cc", "subject", "text", "html")
# A request without `mime` is field-based when it has any of these.
TRIGGERS = ("from", "subject", "text", "html")


def wants_composing(payload: Mapping[str, Any]) -> bool:
    return any(payload.get(name) is not None for name in TRIGGERS)


def _text(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        raise Problem("invalid-field", f"{name} must be a string", field=name)
    return value


def _addresses(payload: Mapping[str, Any], name: str) -> str | None:
    """A header's address list: one string, or a list of strings."""
    value = payload.get(name)
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items) or not items:
        raise Problem("invalid-field", f"{name} must be an address or a list of addresses", field=name)
    for _, address in email.utils.getaddresses(items):
        if not address.isascii():
            raise Problem(
                "invalid-field",
                f"{name}: {address!r} is not ASCII; internationalised addresses "
                "need a message built by the client, sent as mime",
                field=name,
            )
    return ", ".join(items)


def compose(payload: Mapping[str, Any]) -> bytes:
    """The message the fields describe, as CRLF bytes; a 400 problem naming a bad field."""
    sender = _addresses(payload, "from")
    if sender is None:
        raise Problem("invalid-field", "from is required to build a message from fields (or give mime)", field="from")
    message = EmailMessage(policy=email.policy.SMTP)
    headers = {
        "From": sender,
        "To": _addresses(payload, "to"),
        "Cc": _addresses(payload, "cc"),
        "Subject": _text(payload, "subject"),
    }
    for header, value in headers.items():
        if value is None:
            continue
        try:
            message[header] = value
        except (ValueError, MimeError) as exc:
            raise Problem("invalid-field", f"{header.lower()}: {exc}", field=header.lower()) from None
    text, html = _text(payload, "text"), _text(payload, "html")
    if html is None:
        message.set_content(text or "", cte="quoted-printable")
    elif text is None:
        message.set_content(html, subtype="html", cte="quoted-printable")
    else:
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
    try:
        return message.as_bytes()
    except (ValueError, TypeError, MimeError) as exc:
        raise Problem("invalid-field", f"the message cannot be built from these fields: {exc}") from None
