"""Smail 3 (the MTA of early Debian and many 1990s Unix hosts): "mail failed, returning to sender".

Smail frames its report with pipe-and-dash rulers::

    |------------------------- Message log follows: -------------------------|
     no valid recipients were found for this message
    |------------------------- Failed addresses follow: ---------------------|
     kijitora@example.com ... unknown host
    |------------------------- Message text follows: ------------------------|

Each failed address is written "address ... reason"; the message log above holds Smail's
general remark. Some sites' Smail quotes the remote reply after the reason.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "smail"
_RULER = regex.compile(r"^\|-+ *([A-Za-z ]+?):? *-+\|[ \t]*$", re.MULTILINE)
_LINE = regex.compile(r"^[ \t]*<?(" + ADDRESS.pattern + r")>? \.\.\. (.*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    rulers = list(_RULER.finditer(body))
    names = [r.group(1).lower() for r in rulers]
    if "failed addresses follow" not in names:
        return None
    i = names.index("failed addresses follow")
    section = body[rulers[i].end() : rulers[i + 1].start() if i + 1 < len(rulers) else len(body)]
    return [found(m.group(1), m.group(2), "Failed addresses follow") for m in _LINE.finditer(section)]


DETECTOR = detector(NAME, detect)
