"""Barracuda Spam & Virus Firewall: the message was blocked by the gateway itself.

    Your message to: kijitora@example.jp
    was blocked by our Spam & Virus Firewall. The email you sent with the following subject
    has NOT BEEN DELIVERED:

The subject says which filter ("**Message you sent blocked by our bulk email filter**").
Nothing else is said: the reason is left to those words.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "barracuda"
_LINE = regex.compile(r"Your message to: *<?(" + ADDRESS.pattern + r")>?\s*\n(was blocked by .*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "Spam & Virus Firewall" not in body:
        return None
    return [
        found(m.group(1), mail.subject.strip("* ") + ". " + m.group(2), "was blocked by our Spam & Virus Firewall")
        for m in _LINE.finditer(body)
    ]


DETECTOR = detector(NAME, detect)
