"""MailFoundry (a spam-filtering gateway appliance): "Message delivery has failed".

    Unable to deliver message to: <kijitora@example.org>
    Delivery failed for the following reason:
    mail.example.org[192.0.2.222] responded with failure: 552 sorry, mailbox ... (#5.1.1)

    This has been a permanent failure.  No further delivery attempts will be made.

The line after "for the following reason:" is the remote host and its reply.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, cut, detector, found, text

NAME = "mailfoundry"
_TO = regex.compile(r"^Unable to deliver message to: <(" + ADDRESS.pattern + r")>", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "Delivery failed for the following reason:" not in body:
        return None
    reason = cut(body.split("Delivery failed for the following reason:", 1)[1], "This has been a permanent failure")
    host = re.search(r"([\w.-]+)\[[^\]]*\] responded with failure", reason)
    return [
        found(
            m.group(1), reason, "Delivery failed for the following reason", remote_mta=host.group(1) if host else None
        )
        for m in _TO.finditer(body)
    ]


DETECTOR = detector(NAME, detect)
