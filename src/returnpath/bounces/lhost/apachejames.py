"""Apache James: the bounce mailet's "Error message below:" report.

James's default bounce (org.apache.james.transport.mailets.Bounce / DSNBounce without the
report part) writes the remote error, then the original envelope::

    Error: Invalid user address

    Error message below:
    550 - Requested action not taken: no such user here

    Message details:
      Subject: Test message
      MAIL FROM: sender@example.com
      RCPT TO: 0000000000@vtext.example.com

RemoteDelivery's bounce (DSNBounce's text part) lists the recipients, then one error for all::

    Hi. This is the James mail server at mail.example.org.
    I'm afraid I wasn't able to deliver your message to the following addresses.
    ...
    Failed recipient(s):
    kijitora@example.org

    Error message:
    There are no DNS entries for the hostname example.org.  I cannot determine where to send this message.
"""

from __future__ import annotations

import re

from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "apachejames"


def _remote_delivery(body: str) -> list[Found] | None:
    if "This is the James mail server at" not in body:
        return None
    listed = re.search(r"^Failed recipient\(s\):\s*$(.*?)^Error message:\s*$(.*?)(?:\n\s*\n|\Z)", body, re.M | re.S)
    if not listed:
        return None
    said = listed.group(2).strip()
    return [found(a.group(0), said, "Failed recipient(s) / Error message") for a in ADDRESS.finditer(listed.group(1))]


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    james = _remote_delivery(body)
    if james:
        return james
    if "Error message below:" not in body or "Message details:" not in body:
        return None
    said = body.split("Error message below:", 1)[1].split("Message details:", 1)[0]
    details = body.split("Message details:", 1)[1]
    rcpt = re.search(r"^\s*RCPT TO:\s*(.*)$", details, re.MULTILINE)
    return [found(a.group(0), said, "Error message below") for a in ADDRESS.finditer(rcpt.group(1) if rcpt else "")]


DETECTOR = detector(NAME, detect)
