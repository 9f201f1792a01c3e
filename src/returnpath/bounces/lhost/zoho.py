"""Zoho Mail: one line per recipient with Zoho's "ERROR_CODE" notation.

From mailer-daemon@mail.zoho.com (X-Mailer: Zoho Mail), Exim's opening sentence, then::

    kijitora@example.com Invalid Address, ERROR_CODE :550, ERROR_CODE :5.1.1 <kijitora@example.com>... User Unknown

The delay warning ("Mail Delivery Status Notification (Delay)") borrows Sendmail's heading
and writes "[Status: Error, Address: <kijitora@example.com>, ResponseCode 421, , Host not
reachable.]" with "Message will be retried for N more day(s)" below: still being tried.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, detector, found, has, header, text

NAME = "zoho"
# Sisimai 4.25 Lhost/Zoho.pm messagesof (BSD-2-Clause).
MESSAGES: Phrases = (("expired", ("host not reachable",)),)
_LINE = regex.compile(r"^(" + ADDRESS.pattern + r") +(.*ERROR_CODE.*)$", re.MULTILINE)
_LABEL = regex.compile(r"^Invalid Address,\s*(?=\S)")
_DELAY = regex.compile(
    r"^\[Status: \w+, Address: <(" + ADDRESS.pattern + r")>, ResponseCode (\d{3}),"
    r"[ ,]*(.*?)\]?$",
    re.MULTILINE,
)


def detect(mail: Mail) -> list[Found] | None:
    if "zoho" not in header(mail, "X-Mailer").lower() and not mail.sender.endswith("zoho.com"):
        return None
    body = text(mail)
    out = []
    for m in _LINE.finditer(body):
        codes = re.findall(r"ERROR_CODE :\s*([\d.]+)", m.group(2))
        said = re.sub(r"ERROR_CODE :\s*[\d.]+,?\s*", "", m.group(2)).strip()
        # "Invalid Address" is Zoho's label for every failed recipient, whatever the
        # remote server said after it (Sisimai's set: "... Invalid Address, ERROR_CODE :550,
        # ERROR_CODE :5.2.2 ... Mailbox Full"); the reply decides, the label only when alone.
        said = _LABEL.sub("", said) or said
        code = next((int(c) for c in codes if re.fullmatch(r"[245]\d\d", c)), None)
        status = next((c for c in codes if re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", c)), None)
        out.append(found(m.group(1), said, "ERROR_CODE line", code=code, status=status))
    delayed = has(body, "Message will be retried", "THIS IS A WARNING MESSAGE ONLY")
    out += [
        found(
            m.group(1),
            m.group(3),
            "[Status: ..., ResponseCode]",
            code=int(m.group(2)),
            action="delayed" if delayed else "failed",
        )
        for m in _DELAY.finditer(body)
    ]
    return [by_phrase(f, MESSAGES) for f in out] or None


DETECTOR = detector(NAME, detect)
