"""Delivery-status fields pasted into plain text: the last resort for broken reports.

An RFC 3464 report reaches us without its message/delivery-status part more often than one
would hope, with the fields still there as text:
- the multipart boundary is missing or mangled (Sendmail and others behind gateways that
  rewrite MIME headers, PMDF/Sun Messaging Server reports re-wrapped by a relay), so the
  whole report is one text part;
- a person forwards the bounce ("> Final-Recipient: rfc822; ...");
- a product writes the fields as its "technical report" (Amazon WorkMail).
But a person's reply ("Re:", "AW:" — `notice.REPLY_PREFIX` — from no mail system) that quotes
the fields with ">" quotes history: RFC 3676 section 4.5 quoting marks what the reply
answers, and a reply answers a message that reached him. Such a reply has only the
unquoted lines read (where nothing is, it is no report: a help desk's "fixed; for reference,
this is what our server logged: > Action: failed").
The fields are read as a DSN would be: one group per Final-Recipient, with Action, Status,
Diagnostic-Code and Remote-MTA. When Status is vague (x.0.0) and the diagnostic holds a
specific status of the same class, the diagnostic's is reported: it is the remote server's.
"""

from __future__ import annotations

import re

from .. import notice
from ..mail import Mail
from ..rules import Found
from ._text import clean, detector, found, reply, text

NAME = "textdsn"
_FIELD = re.compile(
    r"^[ \t]*(?:>+ ?)?(final-recipient|original-recipient|action|status|"
    r"diagnostic-code|remote-mta)[ \t]*:[ \t]*(.*)$",
    re.IGNORECASE,
)
_CONTINUED = re.compile(r"^(?:>+ ?)?[ \t]+\S")


def _groups(body: str) -> list[dict[str, str]]:
    groups: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in body.splitlines():
        m = _FIELD.match(line)
        if m:
            name, value = m.group(1).lower(), m.group(2).strip()
            if name in current and name in ("final-recipient", "original-recipient"):
                groups.append(current)
                current = {}
            current.setdefault(name, value)
            last = name
        elif last and _CONTINUED.match(line) and current:
            current[last] += " " + line.lstrip("> \t").strip()
        else:
            last = None
    if current:
        groups.append(current)
    return [g for g in groups if "final-recipient" in g or "original-recipient" in g]


def read_fields(body: str, pattern: str = "Final-Recipient field in text") -> list[Found]:
    out = []
    for g in _groups(body):
        address = clean(g.get("final-recipient") or g.get("original-recipient") or "")
        if not address:
            continue
        diagnostic = re.sub(r"^\s*smtp\s*;\s*", "", g.get("diagnostic-code", ""), flags=re.IGNORECASE)
        comment = re.search(r"\((.+)\)", g.get("status", ""))
        if not diagnostic and comment:  # "Status: 4.0.0 (host name lookup failure)"
            diagnostic = comment.group(1)
        status_field = re.match(r"([245]\.\d{1,3}\.\d{1,3})", g.get("status", ""))
        status = status_field.group(1) if status_field else None
        _code, said = reply(diagnostic)
        if said and (status is None or (status.endswith(".0.0") and said[0] == status[0])):
            status = said
        action = (g.get("action") or "failed").split()[0].lower()
        remote = re.sub(r"^\s*dns\s*;\s*", "", g.get("remote-mta", ""), flags=re.IGNORECASE).split()
        out.append(
            found(address, diagnostic, pattern, status=status, action=action, remote_mta=remote[0] if remote else None)
        )
    return out


_QUOTED = re.compile(r"^[ \t]*>.*(?:\n|$)", re.MULTILINE)


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if notice.REPLY_PREFIX.match(mail.subject) and not notice.from_daemon(mail):
        body = _QUOTED.sub("", body)  # a person's reply: what he quotes is history (see above)
    if not re.search(r"^[ \t>]*Final-Recipient\s*:", body, re.IGNORECASE | re.MULTILINE):
        return None
    return read_fields(body) or None


DETECTOR = detector(NAME, detect)
