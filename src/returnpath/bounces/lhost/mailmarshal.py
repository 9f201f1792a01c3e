"""Trustwave (Marshal) MailMarshal SMTP: "Undeliverable Mail: <subject>".

The reason comes before the recipients, who share it::

    Your message:
       From:    sender@example.com
       Subject: Nyaan

    Could not be delivered because of

    550 5.1.1 User unknown

    The following recipients were affected:
        kijitora@example.com

    Additional Information
    ======================
    Remote-MTA:        <203.0.113.2>
"""

from __future__ import annotations

import re

from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, cut, detector, found, text

NAME = "mailmarshal"


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "The following recipients were affected:" not in body:
        return None
    head, tail = body.split("The following recipients were affected:", 1)
    reason = (
        head.split("Could not be delivered because of", 1)[-1] if "Could not be delivered because of" in head else ""
    )
    remote = re.search(r"^Remote-MTA:\s*<([^>]+)>", tail, re.MULTILINE)
    recipients = cut(tail, "Additional Information")
    return [
        found(a.group(0), reason, "Could not be delivered because of", remote_mta=remote.group(1) if remote else None)
        for a in ADDRESS.finditer(recipients)
    ]


DETECTOR = detector(NAME, detect)
