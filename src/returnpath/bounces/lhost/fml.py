"""fml, the Japanese mailing-list manager: a post from someone who is not a member.

fml answers a non-member's post from <list>-admin@ with the subject "You <sender> are not
member (<list> ML)" and "You are not a member of this mailing list <list@domain>." The
failed "recipient" is the list itself, and the list refused the sender: "rejected".
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "fml"
_LINE = regex.compile(r"You are not a member of this mailing list <(" + ADDRESS.pattern + r")>")


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    m = _LINE.search(body)
    if not m or not re.search(r"are not member \(.* ML\)", mail.subject):
        return None
    return [found(m.group(1), m.group(0), "You are not a member of this mailing list", reason="rejected")]


DETECTOR = detector(NAME, detect)
