"""Yahoo! Mail (and AOL, which now runs on it): qmail's layout under Yahoo's own greeting.

Yahoo's outbound servers descend from qmail and bounce in its layout::

    Sorry, we were unable to deliver your message to the following address.

    <kijitora@example.org>:
    Remote host said: 550 5.1.1 <kijitora@example.org>... User Unknown [RCPT_TO]

    --- Below this line is a copy of the message.

The SMTP step is appended to the remote reply in brackets: [RCPT_TO], [MAIL_FROM], [DATA]
(sometimes on a line of its own). Newer ones write "550: 5.2.2 <...>" with a colon after the
code. A local give-up reads "Unable to deliver message after multiple retries, giving up."
"""

from __future__ import annotations

from ..mail import Mail
from ..rules import Found
from . import qmail
from ._text import detector, has, text

NAME = "yahoo"
GREETING = "Sorry, we were unable to deliver your message to the following address"


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, GREETING):
        return None
    return qmail.read(body)


DETECTOR = detector(NAME, detect)
