"""SurfControl (later Websense) E-mail Filter: a transcript of its delivery attempts.

    Your message could not be sent.
    A transcript of the attempts to send the message follows.
    The number of attempts made: 1
    Addressed To: kijitora@example.com

    Thu 29 Apr 2010 23:34:45 +0900
    Failed to send to identified host,
    kijitora@example.com: [192.0.2.5], 550 kijitora@example.com... No such user
    --- Message non-deliverable.

Each attempt line is "address: [remote ip], reply".
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, dedupe, detector, found, text

NAME = "surfcontrol"
_LINE = regex.compile(r"^(" + ADDRESS.pattern + r"): \[([^\]]*)\],? *(.*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "A transcript of the attempts to send the message follows" not in body:
        return None
    attempts = [
        found(m.group(1), m.group(3), "Failed to send to identified host", remote_mta=m.group(2))
        for m in reversed(list(_LINE.finditer(body)))
    ]
    return dedupe(attempts)  # the last attempt for each address is the one that counts


DETECTOR = detector(NAME, detect)
