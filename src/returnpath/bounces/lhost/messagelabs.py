"""Symantec Email Security.cloud (MessageLabs), now Broadcom's: "Mail Delivery Failure".

    This is the mail delivery agent at Symantec Email Security.cloud.
    I was unable to deliver your message to the following addresses:

    kijitora@example.org

    Reason: 550-Please turn on SMTP Authentication in your mail client.
    550-mail0.example.com [198.51.100.21]:22222 is not permitted to
    550 relay through this server without authentication.

    The message subject was: ...

Each address is followed by its "Reason:" paragraph, the remote server's reply (often a
multi-line one) or the gateway's own words.
"""

from __future__ import annotations

import re

from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "messagelabs"
_START = "I was unable to deliver your message to the following addresses:"


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if _START not in body:
        return None
    report = re.split(
        r"^The message (?:subject|date|identifier) was:", body.split(_START, 1)[1], maxsplit=1, flags=re.MULTILINE
    )[0]
    out = []
    for m in re.finditer(
        r"^[ \t]*<?(" + ADDRESS.pattern + r")>?[ \t]*\n(.*?)(?=^[ \t]*<?" + ADDRESS.pattern + r">?[ \t]*$|\Z)",
        report,
        re.MULTILINE | re.DOTALL,
    ):
        reason = re.sub(r"^\s*Reason:\s*", "", m.group(2).strip())
        out.append(found(m.group(1), reason, "Reason:"))
    return out


DETECTOR = detector(NAME, detect)
