"""Barracuda Spam & Virus Firewall: the message was blocked by the gateway itself.

    Your message to: kijitora@example.jp
    was blocked by our Spam & Virus Firewall. The email you sent with the following subject
    has NOT BEEN DELIVERED:

The subject says which filter ("**Message you sent blocked by our bulk email filter**").
Nothing else is said: the reason is left to those words.

The appliance sent the same notice under its earlier name, Barracuda Spam Firewall (renamed
Spam & Virus Firewall about 2008), whose body says "was blocked by our Spam Firewall".
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "barracuda"
_PRODUCT = regex.compile(r"\bSpam (?:& Virus )?Firewall\b")
_LINE = regex.compile(r"Your message to: *<?(" + ADDRESS.pattern + r")>?\s*\n(was blocked by .*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    product = _PRODUCT.search(body)
    if product is None:
        return None
    out = [
        found(m.group(1), mail.subject.strip("* ") + ". " + m.group(2), "was blocked by our " + product.group(0))
        for m in _LINE.finditer(body)
    ]
    # "Spam Firewall" alone is common words: without the notice's lines it is not this notice.
    return out if out or "& Virus" in product.group(0) else None


DETECTOR = detector(NAME, detect)
