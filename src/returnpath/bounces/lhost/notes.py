"""Lotus Notes / IBM Domino SMTP gateway: "Undeliverable message".

The Domino gateway writes the reason first and the recipient after it::

    ------- Failure Reasons  --------

    User not listed in public Name & Address Book
    kijitora@example.com

    ------- Returned Message --------

The reason is often translated (Japanese servers write it in ISO-2022-JP). "User not listed
in public Name & Address Book" is Domino's own wording for an unknown mailbox.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, cut, detector, found, text

NAME = "notes"
# Sisimai 4.25 Lhost/Notes.pm messagesof (BSD-2-Clause): the gateway's own reasons.
MESSAGES: Phrases = (
    ("userunknown", ("user not listed in public name & address book", "ディレクトリのリストにありません")),
    ("networkerror", ("message has exceeded maximum hop count",)),
)
_START = regex.compile(r"^-{3,}\s*Failure Reasons\s*-{3,}[ \t]*$", re.MULTILINE | re.IGNORECASE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    start = _START.search(body)
    if not start:
        return None
    section = cut(body[start.end() :], "------- Returned Message", "-------")
    reasons: list[str] = []
    out = []
    for line in section.splitlines():
        line = line.strip()
        if not line:
            continue
        m = ADDRESS.fullmatch(line.strip("<>"))
        if m:
            out.append(found(m.group(0), " ".join(reasons), "Failure Reasons section"))
            reasons = []
        else:
            reasons.append(line)
    return [by_phrase(f, MESSAGES) for f in out]


DETECTOR = detector(NAME, detect)
