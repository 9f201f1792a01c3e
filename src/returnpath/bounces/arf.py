"""RFC 5965 feedback reports (ARF): a recipient complained about a message.

`read(mail)` answers `None` when the message is no feedback report, else the complaining
recipients (possibly none when the report redacted them) with `reason="feedback"` and the
report's `Feedback-Type`.

Who complained: the report's `Original-Rcpt-To` fields (one per recipient; some providers
list several), else the `To` of the returned message (in a message/rfc822 or
text/rfc822-headers part), else `Removal-Recipient` (opt-out reports). Mailbox providers that
redact the recipient write "Undisclosed Recipients" or a placeholder there: no address then.
"""

from __future__ import annotations

import re

from .mail import Mail, addresses, clean_address
from .verdict import Recipient

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$", re.MULTILINE)
_HAS_TYPE = re.compile(r"^feedback-type\s*:", re.IGNORECASE | re.MULTILINE)
_TO = re.compile(r"^to:[ \t]*(.*(?:\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


def is_report(mail: Mail) -> bool:
    if mail.content_type == "multipart/report" and mail.param("report-type").lower() == "feedback-report":
        return True
    return bool(mail.parts_of_type("message/feedback-report"))


def _fields(mail: Mail) -> list[tuple[str, str]]:
    parts = mail.parts_of_type("message/feedback-report")
    # report-type=feedback-report but the fields in a text part (older ARF writers)
    for part in parts or mail.parts:
        text = part.text()
        if parts or _HAS_TYPE.search(text):
            return [(m.group(1).lower(), m.group(2).strip()) for m in _FIELD.finditer(text)]
    return []


def _original_to(mail: Mail) -> list[str]:
    text = mail.original
    if not text:
        return []
    head = text.split("\n\n", 1)[0]
    m = _TO.search(head)
    return addresses(m.group(1)) if m else []


def read(mail: Mail) -> list[Recipient] | None:
    if not is_report(mail):
        return None
    fields = _fields(mail)
    feedback_type = next((v.strip().lower() for k, v in fields if k == "feedback-type"), "abuse")
    feedback_type = feedback_type or "abuse"
    found = [a for k, v in fields if k == "original-rcpt-to" for a in [clean_address(v)] if a]
    if not found:
        found = _original_to(mail)
    if not found:
        found = [a for k, v in fields if k == "removal-recipient" for a in [clean_address(v)] if a]
    diagnostic = " ".join(mail.body.split("\n\n", 1)[0].split())[:500]
    seen: dict[str, None] = dict.fromkeys(found)
    return [
        Recipient(
            address, "", None, None, diagnostic, None, None, "feedback", False, "arf:Feedback-Type", feedback_type
        )
        for address in seen
    ]


# ---- non-standard complaints ---------------------------------------------------------------
# Apple Mail's "unsubscribe" button sends a plain message to the List-Unsubscribe mailto
# address with `X-Apple-Unsubscribe: true`: an opt-out by the sender of that message.


def read_unsubscribe(mail: Mail) -> list[Recipient] | None:
    if mail.header("x-apple-unsubscribe").strip().lower() != "true":
        return None
    address = mail.sender
    if not address:
        return []
    return [
        Recipient(
            address,
            "",
            None,
            None,
            " ".join(mail.body.split())[:500],
            None,
            None,
            "feedback",
            False,
            "arf:X-Apple-Unsubscribe",
            "opt-out",
        )
    ]


# Microsoft's Junk Mail Reporting Program (Outlook.com, Hotmail) predates ARF and still sends
# its own layout: a multipart/mixed from staff@hotmail.com whose attached message carries the
# complaining mailbox in `X-HmXmrOriginalRecipient`.


def read_jmrp(mail: Mail) -> list[Recipient] | None:
    for inner in mail.attached_mails(containing=b"X-HmXmrOriginalRecipient"):
        original = clean_address(inner.header("x-hmxmroriginalrecipient"))
        if original:
            return [
                Recipient(
                    original,
                    "",
                    None,
                    None,
                    mail.subject,
                    None,
                    None,
                    "feedback",
                    False,
                    "arf:X-HmXmrOriginalRecipient",
                    "abuse",
                )
            ]
    return None
