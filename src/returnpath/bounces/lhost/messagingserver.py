"""Oracle (Sun, iPlanet, Netscape) Messaging Server and its ancestor PMDF.

"Delivery Notification: Delivery has failed". The text part repeats each recipient's DSN
fields as labelled prose, which survives when the report's MIME structure does not::

    This report relates to a message you sent with the following header fields:
      ...
    Your message cannot be delivered to the following recipients:

      Recipient address: kijitora@example.jp
      Reason: Remote SMTP server has rejected address
      Diagnostic code: smtp;550 5.1.1 <kijitora@example.jp>... User Unknown
      Remote system: dns;mx.example.jp (TCP|192.0.2.1|47323|192.0.2.2|25) (...)

"Your message is being delayed" / "has not yet been delivered" heads a delay warning.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import Phrases, by_phrase, detector, found, has, sections, text

NAME = "messagingserver"
# Sisimai 4.25 Lhost/MessagingServer.pm messagesof (BSD-2-Clause).
MESSAGES: Phrases = (("hostunknown", ("illegal host/domain name found",)),)
_RECIPIENT = regex.compile(r"^[ \t]*Recipient address: *(\S+)[ \t]*$", re.MULTILINE | re.IGNORECASE)
_LABEL = regex.compile(
    r"^[ \t]*(Reason|Diagnostic code|Remote system|Original address): *(.*)$", re.MULTILINE | re.IGNORECASE
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, "This report relates to a message you sent"):
        return None
    action = "delayed" if has(body, "is being delayed", "has not yet been delivered") else "failed"
    out = []
    for h, block in sections(_RECIPIENT, body):
        labels = {m.group(1).lower(): m.group(2).strip() for m in _LABEL.finditer(block)}
        said = re.sub(r"^\s*smtp\s*;\s*", "", labels.get("diagnostic code", ""), flags=re.IGNORECASE)
        remote = re.sub(r"^\s*dns\s*;\s*", "", labels.get("remote system", "")).split()
        f = found(
            h.group(1),
            said or labels.get("reason", ""),
            "Diagnostic code" if said else "Reason",
            action=action,
            remote_mta=remote[0] if remote else None,
        )
        out.append(by_phrase(f, MESSAGES, said + " " + labels.get("reason", "")))
    return out


DETECTOR = detector(NAME, detect)
