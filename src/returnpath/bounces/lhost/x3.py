"""An unidentified MTA (Sisimai's "X3"): "Delivery status notification" between rulers.

    ============================================================================
          This is an automatically generated Delivery Status Notification.
    Delevery to the following recipients failed permanently:
       * kijitora@example.co.jp
    ============================================================================
                                 Technical details:
    SMTP:RCPT host 192.0.2.233: 553 5.3.0 <kijitora@example.co.jp>... No such user here
    ============================================================================

"Delevery" is misspelt in older versions, spelt right in newer ones. "was aborted after N hour(s)" in place of "failed
permanently" is a give-up after retries; "SMTP:RCPT" names the step.
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, detector, found, text

NAME = "x3"
_HEAD = regex.compile(
    r"Del[ei]very to the following recipients "
    r"(?:failed permanently|was aborted[^:]*):"
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    head = _HEAD.search(body)
    if not head:
        return None
    parts = re.split(r"^=+[ \t]*$", body[head.end() :], flags=re.MULTILINE)
    details = parts[1] if len(parts) > 1 else ""
    details = details.replace("Technical details:", "")
    host = re.search(r"SMTP:[A-Z]+ host ([\w.:-]+):", details)
    return [
        found(m.group(1), details, "Delevery to the following recipients", remote_mta=host.group(1) if host else None)
        for m in re.finditer(r"^\s*\* *(" + ADDRESS.pattern + r")", parts[0], re.MULTILINE)
    ]


DETECTOR = detector(NAME, detect)
