"""Amazon SES notifications relayed by Amazon SNS as e-mail ("AWS Notification Message").

A sender that subscribes an e-mail address to its SES feedback topic receives, from
no-reply@sns.amazonaws.com, one JSON document per event as the plain-text body::

    {"notificationType":"Bounce","bounce":{"bounceType":"Permanent",
     "bouncedRecipients":[{"emailAddress":"kijitora@example.com","action":"failed",
     "status":"5.1.1","diagnosticCode":"smtp; 550 5.1.1 user unknown"}], ...}, "mail":{...}}

followed by "--" and SNS's unsubscribe footer. Lore:
- mail gateways fold the long JSON line (RFC 5322's 998-character limit), so the document is
  read with the folds removed, and field by field when it still does not parse;
- "bounceType": "Transient" means SES gave up on a soft failure; the per-recipient "status"
  and "diagnosticCode" are the remote server's when there was one;
- with SNS's "email-json" protocol the body is SNS's own envelope instead, {"Type":
  "Notification", "TopicArn": ..., "Message": "<the SES document as a JSON string>", ...}
  (Amazon SNS developer guide, "Parsing message formats"): the document is its "Message";
- "notificationType": "Delivery" reports success ("delivered"); "Complaint" is a complaint
  (reason "feedback", "complaintFeedbackType" as the feedback type, no action), never a
  failure.
(SES's own bounces of mail it could not deliver are ordinary RFC 3464 reports.)
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from ..mail import Mail
from ..rules import Found
from ._text import Phrases, by_phrase, detector, found, text

NAME = "amazonses"
# Sisimai 4.25 Lhost/AmazonSES.pm messagesof (BSD-2-Clause).
MESSAGES: Phrases = (("expired", ("delivery expired",)),)
_FIELD = r'"{0}"\s*:\s*"((?:[^"\\]|\\.)*)"'
# notificationType -> (the event's key, its list of recipients)
_EVENTS = {
    "Bounce": ("bounce", "bouncedRecipients"),
    "Complaint": ("complaint", "complainedRecipients"),
    "Delivery": ("delivery", "recipients"),
}


def _document(body: str) -> dict[str, object] | None:
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        return None
    raw = body[start : end + 1]
    for candidate in (raw, re.sub(r"\n ?", "", raw)):
        try:
            doc = json.loads(candidate)
        except ValueError:
            continue
        return doc if isinstance(doc, dict) else None
    return None


def _unwrapped(body: str) -> str:
    """The SES document itself: the "Message" of an SNS envelope ("email-json"), else the body."""
    envelope = _document(body) if '"TopicArn"' in body else None
    if envelope is not None and envelope.get("Type") == "Notification" and isinstance(envelope.get("Message"), str):
        return str(envelope["Message"])
    return body


def _rows(body: str, kind: str) -> tuple[list[dict[str, str]], dict[str, str]]:
    """The per-recipient rows and the event's own fields (JSON, else read field by field)."""
    event_key, list_key = _EVENTS[kind]
    doc = _document(body)
    event = doc.get(event_key) if doc is not None else None
    if isinstance(event, dict):
        listed = event.get(list_key)
        rows = [
            r if isinstance(r, dict) else {"emailAddress": r}
            for r in (listed if isinstance(listed, list) else [])
            if isinstance(r, (dict, str))
        ]
        own = {str(k): str(v) for k, v in event.items() if isinstance(v, (str, int))}
        return rows, own
    # the document does not parse (cut, or mangled beyond its folds): read what is there
    part = body.split(f'"{list_key}"', 1)[1].split("]", 1)[0] if f'"{list_key}"' in body else ""
    rows = []
    for chunk in part.split("{")[1:] or [part]:
        row = {
            name: m.group(1)
            for name in ("emailAddress", "action", "status", "diagnosticCode")
            if (m := re.search(_FIELD.format(name), chunk))
        }
        if "emailAddress" not in row and (a := re.search(r'"([^"@\s]+@[^"\s]+)"', chunk)):
            row["emailAddress"] = a.group(1)
        if "emailAddress" in row:
            rows.append(row)
    own = {
        name: m.group(1)
        for name in ("complaintFeedbackType", "smtpResponse", "bounceType")
        if (m := re.search(_FIELD.format(name), body))
    }
    return rows, own


def detect(mail: Mail) -> list[Found] | None:
    body = _unwrapped(text(mail))
    kind = re.search(_FIELD.format("notificationType"), body)
    if not kind or kind.group(1) not in _EVENTS:
        return None
    rows, own = _rows(body, kind.group(1))
    pattern = f"notificationType {kind.group(1)}"
    out = []
    for row in rows:
        address = str(row.get("emailAddress") or "")
        if not address:
            continue
        if kind.group(1) == "Complaint":  # reported as ARF complaints are: no failure
            out.append(
                replace(
                    found(address, "", pattern, action=""),
                    reason="feedback",
                    feedback_type=own.get("complaintFeedbackType") or "abuse",
                )
            )
            continue
        if kind.group(1) == "Delivery":
            out.append(found(address, own.get("smtpResponse", ""), pattern, action="delivered"))
            continue
        diagnostic = re.sub(r"^\s*smtp;\s*", "", str(row.get("diagnosticCode") or ""), flags=re.IGNORECASE)
        out.append(
            found(
                address,
                diagnostic,
                pattern,
                status=str(row["status"]) if row.get("status") else None,
                action=str(row.get("action") or "failed"),
            )
        )
    return [by_phrase(f, MESSAGES) for f in out]


DETECTOR = detector(NAME, detect)
