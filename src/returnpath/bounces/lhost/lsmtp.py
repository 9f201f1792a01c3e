"""L-Soft LSMTP (the mailer of LISTSERV sites): fields a list server can read back.

LSMTP writes its notices in a form meant for LISTSERV to act on, a block of fields per
failed address between "--> Error description:" and "Error-End:"::

    --> Error description:
    Error-for:  kijitora@example.com
    Error-Code: 0
    Error-Text: Mailer mx.example.com said:
                "554 Message looping (received 6 times)"

    Error-End:  One error reported.

The remote reply is quoted in the Error-Text field, which continues on indented lines.
(The layout as flufl.bounce's simplematch lists it for "LSMTP for Windows"; its simple_18.)
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "lsmtp"
_SECTION = regex.compile(r"^--> Error description:[ \t]*$(.*?)(?:^Error-End:|\Z)", re.MULTILINE | re.DOTALL)
_FOR = regex.compile(r"^Error-for:[ \t]*<?(" + ADDRESS.pattern + r")>?", re.MULTILINE | re.IGNORECASE)
_TEXT = regex.compile(r"^Error-Text:[ \t]*(.*(?:\n[ \t]+\S.*)*)", re.MULTILINE | re.IGNORECASE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "--> Error description:" not in body:
        return None
    section = _SECTION.search(body)
    if section is None:
        return None
    blocks = list(_FOR.finditer(section.group(1)))
    out = []
    for i, block in enumerate(blocks):
        end = blocks[i + 1].start() if i + 1 < len(blocks) else len(section.group(1))
        error = _TEXT.search(section.group(1), block.end(), end)
        diagnostic = error.group(1).replace('"', " ") if error else ""
        out.append(found(block.group(1), diagnostic, "Error-for"))
    return out or None


DETECTOR = detector(NAME, detect)
