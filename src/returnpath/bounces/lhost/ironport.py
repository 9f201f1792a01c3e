"""Cisco Secure Email Gateway (IronPort AsyncOS): the bounce profile's plain notice.

When a bounce profile does not send RFC 3464 reports, AsyncOS writes (AsyncOS user guide,
"Bounce Profiles"; the text as gateways send it)::

    The following message to <kijitora@example.de> was undeliverable.
    The reason for the problem:
    5.1.0 - Unknown address error 550-'5.1.1 <kijitora@example.de>: Recipient address
     rejected: User unknown in virtual mailbox table'

The leading status is AsyncOS's own class of the failure (5.1.0 "Unknown address error",
5.4.7 "Delivery expired (message too old)", 5.3.0 "Other mail system problem", ...); the
quoted reply, when the next hop gave one, is that server's own and more precise: its status
is the one kept.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, reply, text

NAME = "ironport"
_TO = regex.compile(
    r"^The following message to <(" + ADDRESS.pattern + r")> was undeliverable\.\s*\n"
    r"The reason for the problem:\s*\n",
    re.MULTILINE,
)
_OWN = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3}) - ")
_QUOTED = re.compile(r"\b([245]\d\d)[ -]'(.*)'", re.DOTALL)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    heads = list(_TO.finditer(body))
    if not heads:
        return None
    out = []
    for h in heads:
        said = re.split(r"\n[ \t]*\n", body[h.end() :], maxsplit=1)[0]  # to the blank line
        own = _OWN.match(said)
        quoted = _QUOTED.search(said)
        status = reply(quoted.group(1) + " " + quoted.group(2))[1] if quoted else None
        out.append(
            found(
                h.group(1),
                said,
                "The reason for the problem",
                code=int(quoted.group(1)) if quoted else None,
                status=status or (own.group(1) if own else None),
            )
        )
    return out


DETECTOR = detector(NAME, detect)
