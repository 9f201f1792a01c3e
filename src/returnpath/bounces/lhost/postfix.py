"""Postfix bounces that lack (or lost) the message/delivery-status part.

Postfix has attached a delivery-status part since 2.0; these are what is left when it is
missing: Postfix 1.x, builds with the DSN part turned off, reports re-wrapped by a gateway
that lost the MIME structure, and bounces pasted into a forwarded message. The readable part
always has the same shape, one paragraph per recipient, continuation lines indented::

    This is the mail system at host mx.example.jp.          (Postfix 2.x+)
    This is the Postfix program at host mx.example.jp.      (Postfix 1.x)

    <kijitora@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1
        <kijitora@example.com>: Recipient address rejected: User unknown (in reply to
        RCPT TO command)

Lore:
- "(in reply to RCPT TO command)" / "MAIL FROM" / "end of DATA" / "EHLO" names the step;
- "host X[ip] said:" names the remote MTA; "refused to talk to me:" is a refusal in the
  greeting, before any command; "connect to X[ip]: Connection timed out", "Host or domain
  name not found" and "delivery temporarily suspended:" are Postfix's own words;
- "<a@b> (expanded from <alias@b>): ..." gives the address an alias expanded into: the
  first one is the failed recipient;
- ISPs add prose (often Japanese) between the greeting and the paragraphs: only the
  paragraphs are read.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import detector, found, has, reply, text
from .textdsn import read_fields

NAME = "postfix"
_MARKS = (
    "This is the mail system at host",
    "This is the Postfix program at host",
    "I'm sorry to have to inform you that your message could not",
    "I'm sorry to have to inform you that the message returned",
)
_HEAD = regex.compile(r"^<([^<>\s]+@[^<>\s]+)>(?:\s+\(expanded\s+from\s+<[^<>]*>\))?:[ \t]*", re.MULTILINE)
_HOST = regex.compile(r"\bhost ([\w.-]+)\[")


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, *_MARKS):
        return None
    fields = {f.address.lower(): f for f in read_fields(body)}  # a lost delivery-status part
    out = []
    for m in _HEAD.finditer(body):
        paragraph = re.split(r"\n[ \t]*\n", body[m.end() :], maxsplit=1)[0]
        host = _HOST.search(paragraph)
        pattern = (
            "host said"
            if " said:" in paragraph
            else "refused to talk to me"
            if "refused to talk to me" in paragraph
            else "<address>: paragraph"
        )
        field = fields.get(m.group(1).lower())
        out.append(
            found(
                m.group(1),
                paragraph,
                pattern,
                status=None if reply(paragraph)[1] or not field else field.status,
                remote_mta=host.group(1) if host else None,
                action="delayed" if has(mail.subject, "Delayed Mail") else "failed",
            )
        )
    return out or None


DETECTOR = detector(NAME, detect)
