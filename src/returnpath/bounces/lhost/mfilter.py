"""m-FILTER (Digital Arts' mail gateway, common in Japan): labelled sections in Japanese.

X-Mailer: m-FILTER. After a Japanese preamble, the failed addresses, then the remote reply
and the SMTP command each under a dashed label::

    以下のメールアドレスへの送信に失敗しました。
    kijitora@example.co.jp

    -------server message
    550 5.1.1 <kijitora@example.co.jp>: Recipient address rejected: User unknown

    -------SMTP command
    DATA

    -------original message
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, has, header, text

NAME = "mfilter"
_SECTION = regex.compile(
    r"^-{5,}(server message|SMTP command|original mail info|original message)"
    r"[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if "m-filter" not in header(mail, "X-Mailer").lower() and not has(body, "「m-FILTER」"):
        return None
    cuts = list(_SECTION.finditer(body))
    if not cuts:
        return []
    sections = {
        m.group(1).lower(): body[m.end() : cuts[i + 1].start() if i + 1 < len(cuts) else len(body)].strip()
        for i, m in enumerate(cuts)
    }
    head = body[: cuts[0].start()]
    said = sections.get("server message", "")
    sent = sections.get("smtp command", "").split()
    return [
        found(a.group(0), said, "server message section", command_=sent[0].upper() if sent else None)
        for a in ADDRESS.finditer(head)
        if not a.group(0).lower().endswith("m-filter")
    ]


DETECTOR = detector(NAME, detect)
