"""GMX, WEB.DE and 1&1 (IONOS): the mail platform of United Internet.

Its bounces borrow Exim's opening sentences but not its layout: the address stands alone on
a line, sometimes quoted and followed by a colon, with the explanation below it, and the
copy of the message starts at "--- The header of the original message is following. ---"::

    The following address failed:

    "kijitora@example.jp":

    SMTP error from remote server after RCPT command:
    host: mx.example.jp
    5.2.2 <kijitora@example.jp>... Mailbox Full

1&1 (kundenserver.de) writes "For the following reason:" between the address and the
explanation, and "SMTP error from remote server for TEXT command, host: ... reason: ..." on
one line (TEXT is the message data: the DATA step). When one reason holds for several
recipients, the addresses stand one under another and the reason follows the last: it is
each one's.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, cut, detector, found, has, sections, text

NAME = "gmx"
# Sisimai 4.25 Lhost/GMX.pm messagesof (BSD-2-Clause).
# and Lhost/EinsUndEins.pm messagesof (1&1 writes GMX's layout).
MESSAGES: Phrases = (
    ("expired", ("delivery retry timeout exceeded",)),
    ("mesgtoobig", ("mail size limit exceeded",)),
)
_END = "--- The header of the original message is following. ---"
_START = regex.compile(r"following\s+address(?:\(es\)|es)?\s+failed:", re.IGNORECASE)
_ADDRESS_LINE = regex.compile(r"^[ \t]*\"?<?(" + ADDRESS.pattern + r")>?\"?:?[ \t]*$", re.MULTILINE)
_HOST = regex.compile(r"\bhost:\s*([\w.-]+)")


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, _END):
        return None
    start = _START.search(body)
    if not start:
        return None
    report = cut(body[start.end() :], _END)
    out = []
    listed: list[str] = []  # addresses listed one under another, waiting for their reason
    for h, block in sections(_ADDRESS_LINE, report):
        block = re.sub(r"^\s*For the following reason:\s*$", "", block, flags=re.MULTILINE)
        listed.append(h.group(1))
        if not block.strip() and h.end() < len(report):
            continue
        host = _HOST.search(block)
        for address in listed:
            f = found(address, block, "address block", remote_mta=host.group(1) if host else None)
            out.append(by_phrase(f, MESSAGES))
        listed = []
    return out


DETECTOR = detector(NAME, detect)
