"""Ipswitch IMail Server: "Undeliverable Mail", one sentence per recipient.

X-Mailer: <SMTP32 vN>. The report is IMail's sentence with the address after a colon, then
"Original message follows.": "Unknown user: a@b", "Invalid final delivery userid: a@b", "Delivery failed 20 attempts: a@b" (gave up
after retries), "User mailbox exceeds allowed size: a@b", "Host unknown: ...". When the remote
server answered, the report says "undeliverable to a@b" and quotes the reply under "Body of
message generated response:" (or "... generated response:" for other steps).
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, cut, detector, found, header, text

NAME = "imailserver"
_SENTENCE = regex.compile(r"^[ \t]*([A-Z][^:\n]{3,60}): *(" + ADDRESS.pattern + r")[ \t]*$", re.MULTILINE)
# IMail's own sentences, whose meaning is fixed (the remote server was not involved); Sisimai
# 4.25 Lhost/IMailServer.pm (BSD-2-Clause) lists "Invalid final delivery userid" (IMail's local
# delivery finding no such account) beside "Unknown user" as userunknown.
_OWN = (
    (r"Unknown user|Invalid final delivery userid", "userunknown"),
    (r"Delivery failed \d+ attempts", "expired"),
    (r"User mailbox exceeds allowed size", "mailboxfull"),
)
_TO = regex.compile(r"^[ \t]*undeliverable to (" + ADDRESS.pattern + r")[ \t]*$", re.MULTILINE | re.IGNORECASE)


def detect(mail: Mail) -> list[Found] | None:
    if not header(mail, "X-Mailer").strip().startswith("<SMTP32"):
        return None
    body = cut(text(mail), "Original message follows")
    out = []
    for m in _TO.finditer(body):
        said = re.sub(r"^.*generated response:\s*", "", body[m.end() :], count=1, flags=re.DOTALL)
        out.append(found(m.group(1), said, "undeliverable to / generated response"))
    for m in _SENTENCE.finditer(body):
        if m.group(1).lower() not in ("to", "cc", "from", "subject"):
            reason = next((r for p, r in _OWN if re.match(p, m.group(1), re.IGNORECASE)), None)
            out.append(found(m.group(2), m.group(1), f"{m.group(1)}: address", reason=reason))
    return out


DETECTOR = detector(NAME, detect)
