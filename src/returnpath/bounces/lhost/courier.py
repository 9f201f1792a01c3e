"""Courier MTA: "NOTICE: mail delivery status." from its courierdsn module.

Courier always attaches a delivery-status part; its text part alone is still complete::

    This is a delivery status notification from mx.example.org,
    running the Courier mail server, version 0.65.2.
    ...
                               UNDELIVERABLE MAIL

    Your message to the following recipients cannot be delivered:

    <kijitora@example.com>:
        mx.example.com [192.0.2.1]:
    >>> RCPT TO:<kijitora@example.com>
    <<< 550 5.1.1 <kijitora@example.com>... User Unknown

    ---------------------------------------------------------------------------

">>>" is what Courier sent (the step), "<<<" the remote reply, the indented line before them
the remote host. A delay warning says "DELAYS IN DELIVERING YOUR MESSAGE" ("DELAYED MAIL" or
"cannot be delivered yet" in older versions), "This is an advisory notice only", under the
subject "WARNING: delayed mail." (courier/module.dsn: dsndelayed.txt, dsnsubjectwarn.txt).
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import Phrases, by_phrase, detector, found, has, sections, text

NAME = "courier"
# Sisimai 4.25 Lhost/Courier.pm messagesof (BSD-2-Clause): esmtpclient.c's own errors.
MESSAGES: Phrases = (
    ("hostunknown", ("no such domain.",)),
    ("systemerror", ("this domain's dns violates rfc 1035.",)),
    ("networkerror", ("dns lookup failed.",)),
)
_HEAD = regex.compile(r"^<([^<>\s]+@[^<>\s]+)>:[ \t]*$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, "running the Courier mail server"):
        return None
    delay = has(body, "DELAYS IN DELIVERING YOUR MESSAGE", "DELAYED MAIL", "cannot be delivered yet")
    action = "delayed" if delay or has(mail.subject, "WARNING: delayed mail") else "failed"
    out = []
    for h, block in sections(_HEAD, body):
        block = re.split(r"^-{20,}", block, maxsplit=1, flags=re.MULTILINE)[0]
        sent = re.search(r"^>>> ([A-Z]+)", block, re.MULTILINE)
        said = re.findall(r"^<<< (.*)$", block, re.MULTILINE)
        host = re.search(r"^[ \t]+([\w.-]+) \[[^\]]*\]:", block, re.MULTILINE)
        f = found(
            h.group(1),
            " ".join(said) or block,
            "<<< reply" if said else "<address>: block",
            command_=sent.group(1) if sent else None,
            remote_mta=host.group(1) if host else None,
            action=action,
        )
        out.append(by_phrase(f, MESSAGES, block))
    return out


DETECTOR = detector(NAME, detect)
