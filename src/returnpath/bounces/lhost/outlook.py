"""Windows SMTP service, Hotmail/Outlook.com of the 2000s: "Delivery Status Notification".

    This is an automatically generated Delivery Status Notification.

    Delivery to the following recipients failed.

           kijitora@example.jp

The text names the recipients only ("failed.", or "has been delayed." in a warning), or says
why in one sentence ("Unable to deliver message to the following recipients, due to being
unable to connect successfully to the destination mail server."); the reply is in the DSN
fields, used when they survive as text.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, detector, found, text
from .textdsn import read_fields

NAME = "outlook"
# Sisimai 4.25 Lhost/Outlook.pm messagesof (BSD-2-Clause).
MESSAGES: Phrases = (
    ("hostunknown", ("the mail could not be delivered to the recipient because the domain is not reachable",)),
    ("userunknown", ("requested action not taken: mailbox unavailable",)),
)
_HEAD = regex.compile(
    r"(?:Delivery to the following recipients? (failed|(?:has been |was )?delayed)|"
    r"Unable to deliver message to the following recipients)([^\n]*)\n"
    r"((?:[ \t]*\n|[ \t]+\S+[ \t]*\n)+)",
    re.IGNORECASE,
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail) + "\n"
    if "This is an automatically generated Delivery Status Notification" not in body:
        return None
    fields = {f.address.lower(): f for f in read_fields(body)}
    out = []
    for m in _HEAD.finditer(body):
        delayed = "delay" in (m.group(1) or "").lower()
        why = m.group(2).strip(" ,.")  # "due to being unable to connect successfully to ..."
        for a in ADDRESS.finditer(m.group(3)):
            out.append(
                fields.get(a.group(0).lower())
                or found(
                    a.group(0),
                    why,
                    "Delivery to the following recipients " + (m.group(1) or "failed"),
                    action="delayed" if delayed else "failed",
                )
            )
    return [by_phrase(f, MESSAGES) for f in out] or None


DETECTOR = detector(NAME, detect)
