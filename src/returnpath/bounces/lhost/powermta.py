"""PowerMTA (Port25, now Bird/SparkPost), the bulk-sending MTA: "Delivery report".

    Hello, this is the mail server on mail.example.net.

    I am sending you this message to inform you on the delivery status of a
    message you previously sent.  Immediately below you will find a list of
    the affected recipients;  also attached is a Delivery Status Notification
    (DSN) report in standard format, as well as the headers of the original
    message.

      <kijitora@example.jp>  delivery failed; will not continue trying

The text names the recipients and the outcome only; the reply is in the DSN fields, which
are read when they survive as text.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text
from .textdsn import read_fields

NAME = "powermta"
_LINE = regex.compile(
    r"^[ \t]*<(" + ADDRESS.pattern + r")>\s+(delivery failed.*|delayed.*)$", re.MULTILINE | re.IGNORECASE
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "Immediately below you will find a list of" not in body:
        return None
    fields = {f.address.lower(): f for f in read_fields(body)}
    out = []
    for m in _LINE.finditer(body):
        field = fields.get(m.group(1).lower())
        delayed = not m.group(2).lower().startswith("delivery failed")
        out.append(
            field
            or found(m.group(1), m.group(2), "affected recipients list", action="delayed" if delayed else "failed")
        )
    return out


DETECTOR = detector(NAME, detect)
