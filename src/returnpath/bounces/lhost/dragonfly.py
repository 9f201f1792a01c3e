"""DragonFly Mail Agent (dma), the small MTA of DragonFly BSD, also packaged on Debian.

dma writes one short plain-text bounce per failed message, naming one recipient::

    This is the DragonFly Mail Agent v0.13 at df.example.jp.

    There was an error delivering your mail to <kijitora@example.com>.

    email.example.jp [192.0.2.25] did not like our RCPT TO:
    552 5.2.2 <kijitora@example.com>: Recipient address rejected: Mailbox full

    Original message follows.

The line before the reply names the remote host and the step: "did not like our RCPT TO:",
"... our MAIL FROM:", "... our DATA:", "... our final DATA:"; local failures (no MX, no
connection) write dma's own sentence instead. The copy starts after "Original message
follows." or "Message headers follow.".
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import cut, detector, found, has, text

NAME = "dragonfly"
_RECIPIENT = regex.compile(r"There was an error delivering your mail to <([^<>\s]+)>\.?")
_REMOTE = regex.compile(r"^([\w.:-]+) \[[^\]]*\] did not like our", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, "This is the DragonFly Mail Agent"):
        return None
    m = _RECIPIENT.search(body)
    if not m:
        return []
    report = cut(body[m.end() :], "Original message follows", "Message headers follow")
    host = _REMOTE.search(report)
    pattern = "did not like our" if host else "There was an error delivering your mail to"
    return [found(m.group(1), report, pattern, remote_mta=host.group(1) if host else None)]


DETECTOR = detector(NAME, detect)
