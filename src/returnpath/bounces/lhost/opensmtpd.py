"""OpenSMTPD (OpenBSD's smtpd, also common on Linux and Alpine).

OpenSMTPD's bounce ("Delivery status notification: error" / ": warning") is plain text, one
line per recipient, "address: reply", indented prose around it::

        Hi!

        This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail.

        An error has occurred while attempting to deliver a message for
        the following list of recipients:

    kijitora@example.jp: 550 5.1.1 <kijitora@example.jp>... User Unknown

        Below is a copy of the original message:

The warning ("A message is delayed for more than 10 minutes for the following list of
recipients:") has the same lines; those recipients are delayed, not failed. Older versions
(5.x) said "Your message could not be delivered" and put the same lines under it.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, cut, detector, found, has, text

NAME = "opensmtpd"
# Sisimai 4.25 Lhost/OpenSMTPD.pm messagesof (BSD-2-Clause): smtpd's own errors.
MESSAGES: Phrases = (
    ("expired", ("envelope expired",)),
    ("hostunknown", ("invalid domain name", "domain does not exist")),
    ("notaccept", ("destination seem to reject all mails",)),
    (
        "networkerror",
        (
            "address family mismatch on destination mxs",
            "all routes to destination blocked",
            "bad dns lookup error code",
            "could not retrieve source address",
            "loop detected",
            "network error on destination mxs",
            "no mx found for domain",
            "no mx found for destination",
            "no valid route to remote mx",
            "no valid route to destination",
            "temporary failure in mx lookup",
        ),
    ),
    ("securityerror", ("could not retrieve credentials",)),
)
_LINE = regex.compile(r"^(" + ADDRESS.pattern + r"): (.+)$", re.MULTILINE)
_MARKS = (
    "This is the MAILER-DAEMON, please DO NOT REPLY to this e-mail",
    "This is the MAILER-DAEMON, please DO NOT REPLY to this email",
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, *_MARKS):
        return None
    report = cut(body, "Below is a copy of the original message")
    action = "delayed" if has(report, "is delayed for more than", "temporary failure report") else "failed"
    return [
        by_phrase(found(m.group(1), m.group(2), "address: reply", action=action), MESSAGES)
        for m in _LINE.finditer(report)
    ]


DETECTOR = detector(NAME, detect)
