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
from ._text import ADDRESS, Phrases, by_phrase, detector, found, text

NAME = "domino"
# Sisimai 4.25 Lhost/Domino.pm messagesof (BSD-2-Clause): Domino's own reasons, translated.
MESSAGES: Phrases = (
    (
        "userunknown",
        (
            "not listed in domino directory",
            "not listed in public name & address book",
            "non répertorié dans l'annuaire domino",
            "domino ディレクトリには見つかりません",
        ),
    ),
    ("filtered", ("cannot route mail to user",)),
    ("systemerror", ("several matches found in domino directory",)),
)
_REPORT = regex.compile(
    r"was not delivered to:\s*\n(.*?)\n\s*because:\s*\n(.*?)(?:\n[ \t]*\n|\Z)", re.DOTALL | re.IGNORECASE
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    m = _REPORT.search(body)
    if not m:
        return None
    return [
        by_phrase(found(a.group(0), m.group(2), "was not delivered to / because"), MESSAGES)
        for a in ADDRESS.finditer(m.group(1))
    ]


DETECTOR = detector(NAME, detect)
