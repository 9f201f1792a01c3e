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
# "<address>" alone, or "<address>: 550 user unknown" with the reply after it (Sisimai's
# EZweb.pm reads both forms).
_RECIPIENT = regex.compile(
    r"^[ \t]*(?:Recipient: )?<(" + ADDRESS.pattern + r")>(?::[ \t]*(\S.*?))?[ \t]*$", re.MULTILINE
)
_END = regex.compile(r"^-{10,}|^Received: ", re.MULTILINE)
# EZweb's own sentences and what each means (Sisimai 4.25 Lhost/EZweb.pm refailures,
# BSD-2-Clause): the account over its quota, disabled or limited by the carrier, a message
# kept past the retry time; the bare "rejected by a remote mail server" is read below.
_OWN = (
    ("The user(s) account is temporarily over quota", "mailboxfull"),
    ("The user(s) account is disabled", "suspend"),
    ("The user(s) account is temporarily limited", "suspend"),
    ("Your message was not delivered within", "expired"),
    ("Each of the following recipients was rejected by a remote", "filtered"),
)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    # au moved its mail from ezweb.ne.jp to au.com; the notice kept its form (Sisimai's
    # EZweb.pm matches Postmaster@au.com alike).
    if not (mail.sender.endswith(("ezweb.ne.jp", "au.com")) and has(mail.subject, "Mail System Error")):
        return None
    end = _END.search(body)
    report = body[: end.start()] if end else body
    # "X-SPASIGN: NG" is EZweb's mark on a notice its spam filter caused: whatever reply or
    # sentence follows, the recipient's filter refused the message (Sisimai 4.25
    # Lhost/EZweb.pm, BSD-2-Clause, sets filtered for it before reading any words)
    if mail.header("X-SPASIGN").strip().upper() == "NG":
        named: dict[str, str | None] = {}
        for h in _RECIPIENT.finditer(report):  # "Recipient: <a>" and "<a>: reply" name one row
            named[h.group(1)] = named.get(h.group(1)) or h.group(2)
        return [found(a, said or "X-SPASIGN: NG", "X-SPASIGN: NG", reason="filtered") for a, said in named.items()]
    out = []
    for h, block in sections(_RECIPIENT, report):
        said = re.findall(r"^[ \t]*<<< (.*)$", block, re.MULTILINE)
        sent = re.search(r"^[ \t]*>>> ([A-Z]+)", block, re.MULTILINE)
        if said:
            out.append(found(h.group(1), " ".join(said), "<<< reply", command_=sent.group(1) if sent else None))
        else:
            # The bare "rejected by a remote mail server", with no reply quoted, is what EZweb
            # writes when the recipient's own reception filter (domain or address list set on
            # the phone) refused the sender.
            # EZweb's own sentence, where there is one, says more than the bare reply after
            # the address: "The user(s) account is disabled." above "<addr>: 550 user unknown"
            # is a contract that ended, not an address that never was.
            own, reason = next(((p, r) for p, r in _OWN if has(report, p)), ("", None))
            if own or not h.group(2):
                out.append(found(h.group(1), own + "." if own else "", own or "recipient line", reason=reason))
            else:
                out.append(found(h.group(1), h.group(2), "<address>: reply"))
    return out


DETECTOR = detector(NAME, detect)
