"""Verizon Wireless MMS gateway (vzwpix.com, vtext.com): "Undeliverable Message".

From sysadmin@<host>.vzwpix.com (MMSC NDR Administrator)::

    Message could not be delivered to mobile.
    Error: No valid recipients for this MM

    Original Message:
    From: ...
    To: 0000000000@vzwpix.com

The failed number appears only in the quoted original's To: line. "No valid recipients for
this MM" means the number has no MMS service: an unknown recipient.
"""

from __future__ import annotations

import re

from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, detector, found, text

NAME = "verizon"
# Sisimai 4.25 Lhost/Verizon.pm messagesof of its two layouts (BSD-2-Clause).
MESSAGES: Phrases = (
    ("userunknown", ("550 - requested action not taken: no such user here", "no valid recipients for this mm")),
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if (
        not ("vzwpix.com" in mail.sender or "vtext.com" in mail.sender)
        or "could not be delivered to mobile" not in body.lower()
    ):
        return None
    error = re.search(r"^Error: (.*)$", body, re.MULTILINE)
    original = body.split("Original Message:", 1)[-1]
    to = re.search(r"^To: *(.*)$", original, re.MULTILINE)
    said = error.group(1) if error else ""
    return [by_phrase(found(a.group(0), said, "Error:"), MESSAGES) for a in ADDRESS.finditer(to.group(1) if to else "")]


DETECTOR = detector(NAME, detect)
