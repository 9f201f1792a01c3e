"""Trend Micro InterScan Messaging Security Suite (IMSS / InterScan MSS for SMTP).

Its bounce is framed by "****** Message from InterScan Messaging Security Suite ******" and
"*** End of message ***" lines; the SMTP exchange is quoted with the arrows reversed from
Sendmail's (what IMSS sent is "Sent <<<", what it got is "Received >>>")::

    Sent <<< RCPT TO:<kijitora@example.co.jp>
    Received >>> 550 5.1.1 <kijitora@example.co.jp>... user unknown

Without a transcript it says "Reason: Unable to deliver message to <address> (and other
recipients in the same domain)." and attaches the next hop's own report, often Sendmail's,
which is read when it names the recipients.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from . import sendmail
from ._text import ADDRESS, detector, found, has, text

NAME = "trendmicro"
_SENT = regex.compile(
    r"^Sent <<< ([A-Z]+)[ \w]*:?<?(" + ADDRESS.pattern + r")?>?.*\n"
    r"Received >>> (.*)$",
    re.MULTILINE,
)
_REASON = regex.compile(r"Reason: +(.*<(" + ADDRESS.pattern + r")>.*)$", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not (
        has(body, "End of message ***", "InterScan Messaging Security Suite")
        or "interscan" in mail.header("From").lower()
    ):
        return None
    out = [
        found(m.group(2), m.group(3), "Sent <<< / Received >>>", command_=m.group(1))
        for m in _SENT.finditer(body)
        if m.group(2)
    ]
    for inner in [] if out else mail.attached_mails():
        # IMSS attaches what the next hop sent back, often a Sendmail report: it says more
        out = list(sendmail.read(inner.body) or [])
        if out:
            break
    if not out:
        out = [found(m.group(2), m.group(1), "Reason: Unable to deliver message to") for m in _REASON.finditer(body)]
    return out or None


DETECTOR = detector(NAME, detect)
