"""phquery: the CSO nameserver ("ph") mailer that university Sendmails delivered through.

phquery looked recipients up in a campus directory and returned what it could not place as
a "nameserver error report" (Yale, UC Irvine and others ran it into the 2000s)::

     --------Message not delivered to the following:

     kijitora    No matches to nameserver query

     --------Error Detail (phquery V4.1):

     The message, "No matches to nameserver query," is generated whenever ...

     --------Unsent Message below:

Each line of the first section names a recipient, by its address or by the bare directory
name that was written before the campus domain, and often why; the Error Detail explains,
naming the directory's hosts and example addresses, never a recipient. A bare name gives a
row without address (the relay knows its delivery's recipient). (The layout as
flufl.bounce's yale detector and its simplematch pattern for mta1.service.uci.edu read it.)
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, squash, text

NAME = "phquery"
_SECTION = regex.compile(
    r"^[ \t]*-+Message not delivered to the following[^\n]*\n(.*?)^[ \t]*-+Error Detail[^\n]*\n(.*?)(?:^[ \t]*-{4,}\w|\Z)",
    re.MULTILINE | re.DOTALL | re.IGNORECASE,
)
MAX_DETAIL = 300  # characters of the Error Detail kept with a row that says no reason itself


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "(phquery" not in body:
        return None
    section = _SECTION.search(body)
    if section is None:
        return None
    detail = squash(section.group(2))[:MAX_DETAIL]
    out = []
    for line in section.group(1).splitlines():
        name, _, why = line.strip().partition(" ")
        if not name:
            continue
        address = name if ADDRESS.fullmatch(name) else ""
        reason = squash(why) if address else squash(line)
        out.append(found(address, f"{reason} {detail}".strip(), "Message not delivered to the following"))
    return out or None


DETECTOR = detector(NAME, detect)
