"""SendGrid's own bounce (the ESP's MTA), "Undelivered Mail Returned to Sender".

    This is an automatically generated message from SendGrid.

    I'm sorry to have to tell you that your message was not able to be
    delivered to one of its intended recipients.

    kijitora:000000:<kijitora@example.jp> : 192.0.2.250 : mx.example.jp:[192.0.2.153] : 550 5.1.1 <kijitora@example.jp>... User Unknown  in RCPT TO

One line per recipient: "local:id:<address> : our ip : remote host:[ip] : reply in STEP",
or "local:id:<address> : <SendGrid's own words>" when there was no remote reply.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "sendgrid"
_LINE = regex.compile(r"^[^:\s]*:\d+:<(" + ADDRESS.pattern + r")> : (.*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "automatically generated message from SendGrid" not in body:
        return None
    out = []
    for m in _LINE.finditer(body):
        fields = [f.strip() for f in m.group(2).split(" : ")]
        said = fields[-1]
        host = re.match(r"([\w.-]+):\[", fields[-2]) if len(fields) >= 2 else None
        step = re.search(r"\s+in (RCPT TO|MAIL FROM|DATA|EHLO|HELO|connect)$", said)
        out.append(
            found(
                m.group(1),
                said[: step.start()] if step else said,
                "recipient line",
                context=said,
                remote_mta=host.group(1) if host else None,
            )
        )
    return out


DETECTOR = detector(NAME, detect)
