"""au by KDDI's EZweb mobile mail (ezweb.ne.jp): "Mail System Error - Returned Mail".

From Postmaster@ezweb.ne.jp. A Japanese preamble, then either the remote server's words::

    Each of the following recipients was rejected by a remote mail server.

        Recipient: <kijitora@example.com>
        >>> RCPT TO:<kijitora@example.com>
        <<< 550 <kijitora@example.com>: User unknown

or EZweb's own sentence before or after a bare "<address>" line: "The user(s) account is
disabled." (the subscriber's contract ended), or only "Each of the following recipients was
rejected by a remote mail server." when the recipient's domain filter refused the sender.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, has, sections, text

NAME = "ezweb"
_RECIPIENT = regex.compile(r"^[ \t]*(?:Recipient: )?<(" + ADDRESS.pattern + r")>[ \t]*$", re.MULTILINE)
_END = regex.compile(r"^-{10,}|^Received: ", re.MULTILINE)
_OWN = ("The user(s) account is disabled", "Each of the following recipients was rejected by a remote")


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not (mail.sender.endswith("ezweb.ne.jp") and has(mail.subject, "Mail System Error")):
        return None
    end = _END.search(body)
    report = body[: end.start()] if end else body
    out = []
    for h, block in sections(_RECIPIENT, report):
        said = re.findall(r"^[ \t]*<<< (.*)$", block, re.MULTILINE)
        sent = re.search(r"^[ \t]*>>> ([A-Z]+)", block, re.MULTILINE)
        if said:
            out.append(found(h.group(1), " ".join(said), "<<< reply", command_=sent.group(1) if sent else None))
        else:
            own = next((p for p in _OWN if has(report, p)), "")
            # The bare "rejected by a remote mail server", with no reply quoted, is what EZweb
            # writes when the recipient's own reception filter (domain or address list set on
            # the phone) refused the sender.
            bare = own.startswith("Each of the following")
            out.append(
                found(
                    h.group(1), own + "." if own else "", own or "recipient line", reason="filtered" if bare else None
                )
            )
    return out


DETECTOR = detector(NAME, detect)
