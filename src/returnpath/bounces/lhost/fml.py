"""fml, the Japanese mailing-list manager: a post from someone who is not a member.

fml answers a non-member's post from <list>-admin@ with the subject "You <sender> are not
member (<list> ML)" and "You are not a member of this mailing list <list@domain>." The
failed "recipient" is the list itself, and the list refused the sender: "rejected".

The subject is fml's in every language (kern/libfml.pl builds it from $ML_FN, "(<list> ML)"),
the body is not: a list set to $LANGUAGE = Japanese writes its message catalogue's sentence,
ISO-2022-JP. There the list is the address in the body whose local part the subject names.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, header, text

NAME = "fml"
_LINE = regex.compile(r"You are not a member of this mailing list <(" + ADDRESS.pattern + r")>")


_SUBJECT = regex.compile(r"are not member \((\S+) ML\)")


def detect(mail: Mail) -> list[Found] | None:
    subject = _SUBJECT.search(mail.subject)
    if not subject:
        return None
    body = text(mail)
    m = _LINE.search(body)
    if m:
        return [found(m.group(1), m.group(0), "You are not a member of this mailing list", reason="rejected")]
    if not header(mail, "X-MLServer").lower().startswith("fml"):
        return None
    name = re.escape(subject.group(1))
    listed = re.search(r"<(" + name + r"@[\w.-]+)>", body, re.IGNORECASE)
    if not listed:
        return None
    end = body.find("\n", listed.end())
    line = body[body.rfind("\n", 0, listed.start()) + 1 : end if end >= 0 else len(body)].strip()
    return [found(listed.group(1), line, "the list the subject names (not member)", reason="rejected")]


DETECTOR = detector(NAME, detect)
