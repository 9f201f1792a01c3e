"""RFC 5965 feedback reports (ARF): a recipient complained about a message.

`read(mail)` answers `None` when the message is no feedback report, else the complaining
recipients (possibly none when the report redacted them) with `reason="feedback"` and the
report's `Feedback-Type`.

Who complained: the report's `Original-Rcpt-To` fields (one per recipient; some providers
list several), else the `To` of the returned message (in a message/rfc822 or
text/rfc822-headers part), else `Removal-Recipient` (opt-out reports). Mailbox providers that
redact the recipient write "Undisclosed Recipients" or a placeholder there: no address then.
(A placeholder that has an address's shape, "redacted@aol.com", is read as one: Sisimai does
the same, and the Sisimai corpus expects its arf-01's "redacted@example.net".)

Loops that batch their reports send a digest: a multipart/mixed of several reports, each
attached as message/rfc822 (RFC 5965 section 2 gives a report one Feedback-Type, so a digest
is the only way to carry several); each report's recipients keep their own type.
"""

from __future__ import annotations

import re

from . import notice
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
        return _read_digest(mail)
    return _read_report(mail)


def _read_digest(mail: Mail) -> list[Recipient] | None:
    """The recipients of a digest of feedback reports (see the module), else None. Only a
    message whose every attachment is a report and that is no mail system's notice: a bounce
    of a report someone sent (a non-standard one, with the report attached) is a bounce."""
    if "elivery-status" in mail.content_type or notice.from_daemon(mail, null_return_path=False):
        return None
    if notice.failure_subject(mail.subject):
        return None
    if not mail.attached_mails(containing=b"eedback-report"):  # spares parsing anything else
        return None
    inner = mail.attached_mails()
    if not all(is_report(m) for m in inner):
        return None
    seen: dict[str, Recipient] = {}
    for report in inner:
        for row in _read_report(report):
            seen.setdefault(row.address, row)
    return list(seen.values())


def _read_report(mail: Mail) -> list[Recipient]:
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
# SpamCop's own report (its layout since V4, written from its reports, not from a published
# template): plain text with the subject "[SpamCop (<spamvertised URL or source IP>)
# id:<report id>]<original subject>", the body "[ SpamCop V5.x ] This message is brief for
# your comfort." and the spam quoted under "[ Offending message ]". SpamCop munges the
# reporter's addresses to "x" before sending (its reporting help says so), so the report names
# nobody: a complaint without recipients. (Its ARF form is read as ARF.)
_SPAMCOP_SUBJECT = re.compile(r"^\[SpamCop \([^)\]]*\) id:\d+\]")
_SPAMCOP_TEXT = re.compile(r"\[ SpamCop V[\d.]+ \]\s+This message is brief for your comfort", re.IGNORECASE)


def read_spamcop(mail: Mail) -> list[Recipient] | None:
    if _SPAMCOP_SUBJECT.match(mail.subject) or _SPAMCOP_TEXT.search(mail.body[:2000]):
        return []
    return None


# X-ARF (x-arf.org, versions 0.1 and 0.2): the abuse reports networks send each other, a
# multipart/mixed with the mandatory header "X-ARF: Yes" and a YAML-like report.txt
# ("Category: abuse", "Report-Type: spam", "Source: <IP>", "Report-ID: ..."). It reports a
# network's abuse (a spam trap hit, a scan), not a recipient's complaint and no failure; its
# report fields are no bounce to read addresses and block-list names out of.


def is_xarf(mail: Mail) -> bool:
    return mail.header("x-arf").strip().lower() == "yes"


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
