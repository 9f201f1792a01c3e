"""Microsoft Exchange 5.5 to 2003 (the "Internet Mail Service") non-delivery reports.

The text part reads::

    Your message

      To:      kijitora@example.com
      Subject: Nyaan
      Sent:    Thu, 9 May 2005 23:34:45 +0900

    did not reach the following recipient(s):

    kijitora@example.com on Thu, 9 May 2005 23:34:45 +0900
        The recipient name is not recognized
        The MTS-ID of the original message is: c=jp;a= ;p=example;l=...
        MSEXCH:IMS:NEKO:CAT:STRAYCAT 0 (000C05A6) Unknown Recipient

X-Mailer says "Internet Mail Service (5.5.2657.72)". Each recipient line ends with " on <date>";
the indented lines below it are Exchange's explanation, with the MSEXCH diagnostic whose
hexadecimal code is the reason: 000C05A6 is "the recipient name is not recognized" (no such
mailbox). Other codes are left to the words around them. Some relays strip the layout down to
"Did not reach the following recipient: address" on one line.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "exchange2003"
_START = regex.compile(r"did not reach the following recipient(?:\(s\)|s)?:[ \t]*", re.IGNORECASE)
_LINE = regex.compile(r"^[ \t]*(" + ADDRESS.pattern + r")(?: on .*)?$", re.MULTILINE)
# MSEXCH diagnostic codes whose meaning is fixed, as Exchange documents them.
_CODES = {"000C05A6": "userunknown"}
_CODE = regex.compile(r"\((000[0-9A-F]{5})\)")


def _blocks(rest: str) -> list[tuple[str, str]]:
    """(address, explanation) for each recipient line and the lines under it.

    Exchange wraps long explanation lines at column 0 ("...(000C05A6)" / "Unknown Recipient",
    ";l=EXCHANGE..."): a line at column 0 right after the block continues it; after a blank
    line it is the end of the report.
    """
    out: list[tuple[str, list[str]]] = []
    blank = False
    for line in rest.splitlines():
        if not line.strip():
            blank = True
            continue
        m = _LINE.match(line)
        if m:
            out.append((m.group(1), []))
        elif out and (line[0] in " \t" or not blank):
            out[-1][1].append(line.strip())
        elif out:
            break
        blank = False
    return [(a, "\n".join(lines)) for a, lines in out]


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    start = _START.search(body)
    if not start:
        return None
    out = []
    for address, block in _blocks(body[start.end() :]):
        block = re.sub(r"The MTS-ID of the original message is:.*?;l=\S*", "", block, flags=re.DOTALL)
        code = _CODE.search(block)
        out.append(
            found(
                address,
                block,
                f"MSEXCH code {code.group(1)}" if code else "did not reach the following recipient(s)",
                reason=_CODES.get(code.group(1)) if code else None,
            )
        )
    return out


DETECTOR = detector(NAME, detect)
