"""KDDI's older mail service (dion.ne.jp, and au's PC mail): a three-line English notice.

From no-reply@<host>.dion.ne.jp::

    Your mail sent on: Thu, 29 Apr 2013 00:00:00 +0900
         Could not be delivered to: <kijitora@example.dion.ne.jp>
         As their mailbox is full.

The line after the address is the whole reason, in KDDI's words.
"""

from __future__ import annotations

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, Phrases, by_phrase, detector, found, text

NAME = "kddi"
# Sisimai 4.25 Lhost/KDDI.pm messagesof (BSD-2-Clause): KDDI's own explanations.
MESSAGES: Phrases = (
    ("mailboxfull", ("as their mailbox is full",)),
    ("norelaying", ("due to the following smtp relay error",)),
    ("hostunknown", ("as the remote domain doesnt exist",)),
)
_LINE = regex.compile(
    r"Could not be delivered to: <(" + ADDRESS.pattern + r")>[ \t]*\n"
    r"((?:[ \t]+\S.*\n?)*)"
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "Your mail sent on:" not in body:
        return None
    # EZweb's notice opens with the same "Your mail sent on:" line but lists "<address>"
    # lines of its own: without KDDI's "Could not be delivered to:" the notice is not ours.
    return [
        by_phrase(found(m.group(1), m.group(2), "Could not be delivered to"), MESSAGES) for m in _LINE.finditer(body)
    ] or None


DETECTOR = detector(NAME, detect)
