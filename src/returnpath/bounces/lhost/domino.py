"""HCL (IBM, Lotus) Domino 6 and later: "DELIVERY FAILURE: <reason>".

Domino's report is three labelled paragraphs, with the reason in the server's language::

    Your message

      Subject: Nyaan

    was not delivered to:

      kijitora@example.com

    because:

      User kijitora (kijitora@example.com) not listed in Domino Directory

The subject line repeats the reason. Older Notes gateways wrote another layout (notes.py).
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "domino"
_REPORT = regex.compile(
    r"was not delivered to:\s*\n(.*?)\n\s*because:\s*\n(.*?)(?:\n[ \t]*\n|\Z)", re.DOTALL | re.IGNORECASE
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    m = _REPORT.search(body)
    if not m:
        return None
    return [found(a.group(0), m.group(2), "was not delivered to / because") for a in ADDRESS.finditer(m.group(1))]


DETECTOR = detector(NAME, detect)
