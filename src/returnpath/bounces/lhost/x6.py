"""An unidentified gateway (Sisimai's "X6"): "There was an error sending your mail".

    We had trouble delivering your message. Full details follow:
    ...
    1 error(s):

    The following recipients returned permanent errors: kijitora@example.org. Reason: SMTP
    Server <192.0.2.223> refused to accept your message (DATA), with the following error
    message: [554 5.4.6 Hop count exceeded - possible mail loop]

The step is in parentheses after "refused to accept your message"; the reply in brackets.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "x6"
_LINE = regex.compile(
    r"The following recipients returned (permanent|temporary) errors: (.*?)\. "
    r"Reason: (.*)$",
    re.MULTILINE,
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "We had trouble delivering your message" not in body:
        return None
    out = []
    for m in _LINE.finditer(body):
        host = re.search(r"SMTP Server <([^>]+)>", m.group(3))
        said = re.search(r"error message: \[(.*)\]", m.group(3))
        out += [
            found(
                a.group(0),
                said.group(1) if said else m.group(3),
                "The following recipients returned errors",
                context=m.group(3),
                remote_mta=host.group(1) if host else None,
                action="failed" if m.group(1) == "permanent" else "delayed",
            )
            for a in ADDRESS.finditer(m.group(2))
        ]
    return out


DETECTOR = detector(NAME, detect)
