"""Yahoo! Mail (and AOL, which now runs on it): qmail's layout under Yahoo's own greeting.

Yahoo's outbound servers descend from qmail and bounce in its layout::

    Sorry, we were unable to deliver your message to the following address.

    <kijitora@example.org>:
    Remote host said: 550 5.1.1 <kijitora@example.org>... User Unknown [RCPT_TO]

    --- Below this line is a copy of the message.

The SMTP step is appended to the remote reply in brackets: [RCPT_TO], [MAIL_FROM], [DATA]
(sometimes on a line of its own). Newer ones write "550: 5.2.2 <...>" with a colon after the
code. A local give-up reads "Unable to deliver message after multiple retries, giving up."

Yahoo's newer servers (2020) write qmail's words about "the following message" instead, with
no "<address>:" block, and name the recipient in a summary of the message (as flufl.bounce's
simplematch pattern "from Yahoo but doesn't fit the yahoo recognizer format" reads them)::

    I'm afraid I wasn't able to deliver the following message.
    This is a permanent error; I've given up. Sorry it didn't work out.

    Subject: Our offers
    To: kijitora@yahoo.com

    ---Below this line is a copy of the message.
"""

from __future__ import annotations

import re

from .. import notice, regex
from ..mail import Mail
from ..rules import Found
from . import qmail
from ._text import addresses, detector, found, has, text

NAME = "yahoo"
GREETING = "Sorry, we were unable to deliver your message to the following address"


SUMMARY_GREETING = "wasn't able to deliver the following message"
_SUMMARY_TO = regex.compile(r"^To:[ \t]*(.*)$", re.MULTILINE)


def _summary(body: str) -> list[Found]:
    """The rows of the newer notice: each address of its summary's To line."""
    own, _copy = notice.split_copy(body)
    greeting = own.split("\n\n", 1)[0]
    return [
        found(address, greeting, "wasn't able to deliver the following message: To")
        for line in _SUMMARY_TO.findall(own)
        for address in addresses(line)
    ]


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if has(body, GREETING):
        return qmail.read(body)
    domain = mail.sender.rpartition("@")[2]
    if has(body, SUMMARY_GREETING) and (domain == "yahoo.com" or domain.endswith(".yahoo.com")):
        return _summary(body) or None
    return None


DETECTOR = detector(NAME, detect)
