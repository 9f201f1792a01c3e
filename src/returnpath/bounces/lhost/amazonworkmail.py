"""Amazon WorkMail: a text/plain bounce with the DSN fields pasted in as prose.

WorkMail (X-Mailer: Amazon WorkMail, sent through SES) does not attach a
message/delivery-status part; it writes::

    An error occurred while trying to deliver the mail to the following recipients:
    kijitora@example.org

    Technical report:

    Reporting-MTA: dsn; a27-80.smtp-out.us-west-2.amazonses.com
    Action: failed
    Final-Recipient: rfc822; kijitora@example.org
    Diagnostic-Code: smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.2 Connection timed out>
    Status: 4.4.7

Amazon SES's own bounces open with the same sentence and list the recipients under it; when
their delivery-status part is lost, that list is what is left.

When WorkMail gives up after retries, its own "554 4.4.7 Message expired" wraps the last reply
of the remote server in angle brackets; that inner reply is the one that says what went
wrong, so its code and status are reported.
"""

from __future__ import annotations

from dataclasses import replace

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, has, header, text
from .textdsn import read_fields

NAME = "amazonworkmail"
_OPENING = "An error occurred while trying to deliver the mail to the following recipients"
_INNER = regex.compile(r"<([245]\d\d) ([245]\.\d{1,3}\.\d{1,3})\b[^<>]*>\s*$")


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "amazon workmail" not in header(mail, "X-Mailer").lower() and not has(body, _OPENING):
        return None
    out = []
    fields = read_fields(body, pattern="Technical report fields")
    if not fields:  # Amazon SES's own bounce opens with the same sentence: read its list
        listed = body.split(_OPENING, 1)[-1].lstrip("\n").split("\n\n", 1)[0]
        return [
            found(a.group(0), "", "An error occurred while trying to deliver the mail")
            for a in ADDRESS.finditer(listed)
        ]
    for f in fields:
        inner = _INNER.search(f.diagnostic)
        if inner:
            f = replace(f, code=int(inner.group(1)), status=inner.group(2))
        out.append(f)
    return out


DETECTOR = detector(NAME, detect)
