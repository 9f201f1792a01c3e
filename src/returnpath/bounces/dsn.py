"""RFC 3464 delivery status notifications, read by their fields.

`read(mail)` answers `None` when the message carries no delivery-status report at all, and a
`Report` otherwise — also a broken one (no recipient block, fields out of place), so that
the caller can still make the best of it (`unnamed`: X-Failed-Recipients, the returned
message's To). `recipients(report, prose)` turns each per-recipient block into a `Recipient`.

Where the report sits: a message/delivery-status part, message/global-delivery-status
(RFC 6533), or — written by some MTAs — a text part of a multipart/report whose
report-type is delivery-status or missing. All are read as text: blank-line separated blocks
of "Field: value" lines; a recipient starts at each Final-/Original-Recipient field that the
current block already has (some MTAs leave out the blank line between recipients).

Per recipient: the address (Final-Recipient, else X-Actual-Recipient or Original-Recipient;
Sendmail's "RFC822; @host" is completed from the prose; RFC 6533's "utf-8" addresses keep
their non-ASCII characters), Action (misspellings mended, or
inferred from the status class), Status (a vague one, or one the remote reply contradicts,
is replaced by the reply's own), Diagnostic-Code split into type, reply code and text,
Remote-MTA (else the "host X[ip] said:" of the text), the SMTP command (from the diagnostic,
else from the prose about this recipient: Postfix's "(in reply to RCPT TO command)"), and
`reasons.classify` for reason and hard/soft.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from . import regex
from .evidence import prose_row
from .mail import Mail, addresses, clean_address
from .reasons import classify, find_code, find_status, is_vague, normalise_text, receiving_hosts
from .verdict import Recipient

ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")
# Misspellings and variants seen in the wild (some MTAs write "failure", "Failed.", "deferred").
_ACTION_ALIASES = {
    "failure": "failed",
    "fail": "failed",
    "deferred": "delayed",
    "delay": "delayed",
    "delivery": "delivered",
    "success": "delivered",
    "relay": "relayed",
}

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)$")
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient")
_TO = re.compile(r"^to:[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)
MAX_PROSE = 500  # characters of a report's prose kept as the diagnostic when no field has one
_TYPE = re.compile(r"\s*[\w-]+\s*")
_HAS_RECIPIENT = re.compile(r"^(?:final|original)-recipient\s*:", re.IGNORECASE | re.MULTILINE)
_STATUS_FIELD = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")
# A comment after the status (RFC 822 comments are allowed in structured fields): the
# reporting MTA's own words for this recipient. Oracle Communications Messaging Server
# (iPlanet, Sun Java System, PMDF) writes "Status: 4.4.1 (Remote system is not responding
# ...)" and, for a delay, no Diagnostic-Code at all.
_STATUS_COMMENT = re.compile(r"^\s*[245]\.\d{1,3}\.\d{1,3}\s*\((.*)\)\s*$", re.DOTALL)
# A line of the prose's summary of the returned message's header fields ("This report
# relates to a message you sent with the following header fields: ... To: addr"): it
# names the recipient, and says nothing about what happened to it.
_SUMMARY_LINE = re.compile(r"\s*(?:to|cc|bcc|from|sender|reply-to)\s*:", re.IGNORECASE)
# Exim's line under a failed address that was reached through an alias: "(generated from
# X)", "(ultimately generated from X)" (deliver.c, print_address_information). It names the
# alias, not the cause, nor the next recipient.
GENERATED_FROM = regex.compile(r"^\s*\((?:ultimately )?generated from [^)]*\)\s*$", re.MULTILINE | re.IGNORECASE)
_HOST_SAID = re.compile(r"\bhost\s+([\w.-]+\.[a-z]{2,})\s*\[[^\]]*\]\s*said:", re.IGNORECASE)
# Sendmail's "Transcript of session follows" (and the MTAs that copied it, Bigfoot's LiteMail
# among them) writes what it sent as ">>> RCPT To:<address>" and the reply as "<<< 550 ...":
# the step a Diagnostic-Code answered is the ">>>" line before the "<<<" line that repeats it
# (as Sisimai's Lhost/Sendmail.pm reads the command).
_SENT = regex.compile(r"^[ \t]*>>> ?(\S+)")
_GOT = regex.compile(r"^[ \t]*<<< ?(.+)$")
_SENT_STEP = {"RCPT": "RCPT", "MAIL": "MAIL", "DATA": "DATA", ".": "DATA", "HELO": "HELO", "EHLO": "EHLO"}
# The SMTP step a diagnostic names, in order of precedence (the first listed that matches
# wins: "... after RCPT TO ... (in reply to end of DATA command)" is about DATA). Plain
# substrings of the lower-cased text: this runs for every recipient of every report.
# Exim says "after pipelined DATA" (or RCPT TO, MAIL FROM) for a command it sent in a
# pipelined group (transports/smtp.c), and names BDAT when it used CHUNKING (RFC 3030).
_COMMANDS = (
    (
        "DATA",
        (
            "in reply to end of data",
            "in reply to data",
            "after end of data",
            "after data",
            "after pipelined data",
            "after pipelined end of data",
            "after bdat",
            "after pipelined bdat",
            "after sending message",
            "final data",
            "after the message",
        ),
    ),
    ("RCPT", ("in reply to rcpt to", "after rcpt to", "rcpt to:")),
    ("MAIL", ("in reply to mail from", "after mail from", "mail from:")),
    (
        "CONN",
        (
            "in reply to helo",
            "in reply to ehlo",
            "after helo",
            "after ehlo",
            "refused to talk to me",
            "after initial connection",
            "greeting",
        ),
    ),
    ("STARTTLS", ("in reply to starttls", "after starttls")),
)


@dataclass
class Report:
    """A delivery-status report as found: per-message fields and one dict per recipient."""

    message_fields: dict[str, str] = field(default_factory=dict)
    recipients: list[dict[str, str]] = field(default_factory=list)
    broken: str = ""  # what is wrong with it, "" when well-formed


def find_report(mail: Mail) -> Report | None:
    """The delivery-status fields of a message, or None when it has no such report."""
    # RFC 6522 puts one delivery-status part in a report; a gateway that rebuilds a report
    # per recipient leaves one part each (blind batch 32's postfix-twodsn-01): their blocks
    # are read as one report, the later parts' per-message fields giving way to the first's
    status_parts = [p for p in mail.parts if p.ctype in ("message/delivery-status", "message/global-delivery-status")]
    if status_parts:
        return _report([block for part in status_parts for block in _blocks_of_text(part.text())])
    if mail.content_type == "multipart/report" and mail.param("report-type").lower() in ("delivery-status", ""):
        # a report whose status part is text/plain (or misnamed), or whose report-type was
        # left out: the part with the recipient fields
        for part in mail.parts:
            if part.ctype.startswith(("text/", "message/")):
                text = part.text()
                if _HAS_RECIPIENT.search(text):
                    return _report(_blocks_of_text(text))
    return None


def _blocks_of_text(text: str) -> list[list[tuple[str, str]]]:
    """Blank-line separated blocks of "Field: value" lines (continuation lines folded in)."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text.replace("\r", "").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            continue
        if line[:1] in (" ", "\t") and current:
            name, value = current[-1]
            current[-1] = (name, value + " " + line.strip())
            continue
        m = _FIELD.match(line)
        if m:
            current.append((m.group(1).lower(), m.group(2).strip()))
    if current:
        blocks.append(current)
    return blocks


def _report(blocks: list[list[tuple[str, str]]]) -> Report:
    report = Report()
    for block in blocks:
        record: dict[str, str] | None = None
        for name, value in block:
            if name in _RECIPIENT_FIELDS:
                # a second recipient field of the same name in one block: the MTA left out the
                # blank line between two recipients
                if record is None or name in record:
                    record = {}
                    report.recipients.append(record)
                record.setdefault(name, value)
            elif record is not None:
                record.setdefault(name, value)
            else:
                report.message_fields.setdefault(name, value)
    # per-recipient fields written before any recipient field (a one-recipient report that
    # put Action/Status in the per-message block)
    if not report.recipients:
        report.broken = "no recipient fields"
    elif len(report.recipients) == 1:
        for name in ("action", "status", "diagnostic-code", "remote-mta"):
            if name in report.message_fields:
                report.recipients[0].setdefault(name, report.message_fields[name])
    return report


# ---- one recipient -------------------------------------------------------------------------


def typed_value(value: str) -> tuple[str, str]:
    """("smtp", "550 5.1.1 ...") from "smtp; 550 5.1.1 ..." (type "" when none is given)."""
    if ";" in value:
        kind, rest = value.split(";", 1)
        if _TYPE.fullmatch(kind):
            return kind.strip().lower(), rest.strip()
    return "", value.strip()


_COMMAND_WORDS = (
    "data",
    "bdat",
    "rcpt",
    "mail from",
    "helo",
    "ehlo",
    "refused to talk",
    "greeting",
    "initial connection",
    "starttls",
    "after the message",
    "after sending",
)


def find_command(text: str) -> str | None:
    """The SMTP command a diagnostic says it answered (DATA, RCPT, MAIL, CONN, STARTTLS)."""
    low = text.lower()
    if not any(word in low for word in _COMMAND_WORDS):  # the usual case: no step named
        return None
    for command, phrases in _COMMANDS:
        if any(phrase in low for phrase in phrases):
            return command
    return None


def _transcript_step(human_text: str, diagnostic: str) -> str | None:
    """The SMTP step of a session transcript whose reply is this diagnostic (see `_SENT`)."""
    if ">>>" not in human_text or not diagnostic:
        return None
    low = diagnostic.lower()
    sent: str | None = None
    for line in human_text.splitlines():
        if m := _SENT.match(line):
            sent = _SENT_STEP.get(m.group(1).split(":")[0].upper())
        elif (m := _GOT.match(line)) and sent and " ".join(m.group(1).split()).lower()[:32] in low:
            return sent
    return None


def _action(value: str, status: str | None) -> str:
    word = re.sub(r"[^a-z]", " ", value.lower()).split()
    action = word[0] if word else ""
    action = _ACTION_ALIASES.get(action, action)
    if action in ACTIONS:
        return action
    # no (or an unknown) Action: the status class says it
    if status and status[0] == "2":
        return "delivered"
    if status and status[0] == "4":
        return "delayed"
    return "failed"


def _status(value: str) -> str | None:
    m = _STATUS_FIELD.search(value)
    return f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}" if m else None


def recipient(fields: dict[str, str], message_fields: dict[str, str], human_text: str = "") -> Recipient | None:
    """One Recipient from a per-recipient block; None when it names no usable address.

    `human_text` is the report's human-readable part: where the fields are broken or
    say nothing (no Diagnostic-Code), its lines about this recipient are read instead.
    """
    address = ""
    for name in ("final-recipient", "x-actual-recipient", "original-recipient"):
        if name in fields:
            kind, value = typed_value(fields[name])  # RFC 6533's "utf-8" type: non-ASCII
            address = clean_address(value, utf8=kind == "utf-8")
            if address:
                break
    if not address:
        # Sendmail writes "Final-Recipient: RFC822; @mx.example.org" when a recipient had
        # a route-address form: the human-readable part names the full address
        address = _address_in_text(typed_value(fields.get("final-recipient", ""))[1], human_text)
    if not address:
        return None
    status = _status(fields.get("status", ""))
    diag_type, diagnostic = typed_value(fields.get("diagnostic-code", ""))
    diagnostic = normalise_text(diagnostic)
    if not diagnostic and human_text:
        name = _display_name(fields)
        diagnostic = normalise_text(_about(human_text, address) or (_about(human_text, name) if name else ""))
    if not diagnostic:
        m = _STATUS_COMMENT.match(fields.get("status", ""))
        diagnostic = normalise_text(m.group(1)) if m else ""
    code = find_code(diagnostic) if diagnostic else None
    if code is None and diag_type == "smtp":
        m = re.match(r"\s*([245]\d\d)\b", diagnostic)
        code = int(m.group(1)) if m else None
    text_status = find_status(diagnostic) if diagnostic else None
    if (
        text_status
        and not is_vague(text_status)
        and (is_vague(status) or (text_status != status and text_status[0] == (status or "5")[0] != "2"))
    ):
        # the remote server's own status is more precise than the reporting MTA's summary
        # (Sendmail writes "Status: 5.1.1" over a "552 5.2.2 Over quota" reply)
        status = text_status
    if status is None and fields.get("status") and human_text:
        # a Status field that is no status: cut short ("Status: 5.2" where a notice was
        # truncated in transit, blind batch 32's exchange2010-truncated-01) or garbled
        status = _status_in_prose(human_text, address)
    action = _action(fields.get("action", ""), status)
    remote = typed_value(fields.get("remote-mta", ""))[1] or None
    if not remote:
        m = _HOST_SAID.search(diagnostic)
        remote = m.group(1) if m else None
    command = find_command(diagnostic)
    if command is None and human_text:  # Postfix: "(in reply to RCPT TO command)" in prose
        command = find_command(_about(human_text, address)) or _transcript_step(human_text, diagnostic)
    if action in ("delivered", "relayed", "expanded"):
        return Recipient(
            address, action, status, code, diagnostic, remote, command, "delivered", False, f"dsn:Action {action}"
        )
    hosts = receiving_hosts(remote, address)
    decided = classify(status, code, diagnostic, command, action, diag_type, hosts=hosts)
    rule = "dsn:Status" if decided.rule.startswith("status") else "dsn:Diagnostic-Code"
    if decided.rule.startswith(_NO_CAUSE) and fields.get("diagnostic-code") and human_text:
        # the fields give no cause beyond a vague status, the prose about this recipient may:
        # a report cut short in transit ends inside its Diagnostic-Code ("554 5.7.1
        # <a@example.ch", blind batch 32's postfix-truncated-01) while the notification above
        # it quotes the whole reply ("554 5.7.1 <a@example.ch>: Relay access denied")
        prose = normalise_text(_about(human_text, address))
        if prose and diagnostic and prose != diagnostic and diagnostic[: len(diagnostic) // 2] in prose:
            again = classify(status, code, prose, command, action, diag_type, hosts=hosts)
            if not again.rule.startswith(_NO_CAUSE) and again.reason != decided.reason:
                decided, rule = again, "dsn:prose about the recipient"
    return Recipient(
        address,
        action,
        decided.status or status,
        code,
        diagnostic,
        remote,
        command,
        decided.reason,
        decided.hard,
        f"{rule} -> {decided.rule}",
    )


_NO_REPORT = "--- delivery report unavailable ---"
# What `classify` decides when the words of a diagnostic name no cause: a vague status's
# reason, or none at all
_NO_CAUSE = ("vague status", "no rule matched", "no words in the diagnostic")


def named(mail: Mail) -> tuple[list[str], str]:
    """The recipients a report's message names outside its recipient blocks, and where:
    the `X-Failed-Recipients` header (Exim, Google), else the one recipient of the returned
    message (none when it has several: which one failed is unknown)."""
    found = addresses(mail.header("x-failed-recipients"))
    if found:
        return found, "X-Failed-Recipients"
    head = mail.original.split("\n\n", 1)[0]
    found = [a for m in _TO.finditer(head) for a in addresses(m.group(1))]
    return (found, "returned message's To") if len(found) == 1 else ([], "")


def unnamed(mail: Mail, human_text: str) -> list[Recipient]:
    """For a report that names no recipient at all (a delivery-status part without
    recipient blocks: Postfix's "Delivery report unavailable", Google Workspace's group
    notices): the recipients `named` elsewhere in the message; with the report's words as
    diagnostic."""
    found, where = named(mail)
    if not found:
        return []
    diagnostic = normalise_text(human_text)[:MAX_PROSE]
    if _NO_REPORT in diagnostic.lower():
        # Postfix writes "--- Delivery report unavailable ---" where its per-recipient log of
        # the failure was lost (bounce_notify_util.c): its words are boilerplate, no cause
        # is known (Sisimai: undefined)
        diagnostic = ""
    return [prose_row(address, diagnostic, f"dsn:{where}") for address in found]


def _address_in_text(broken: str, text: str) -> str:
    domain = broken.rsplit("@", 1)[-1].strip(" <>").lower() if "@" in broken else ""
    if not domain or not text:
        return ""
    for candidate in addresses(text):
        other = candidate.rsplit("@", 1)[1]
        if other == domain or domain.endswith("." + other) or other.endswith("." + domain):
            return candidate
    return ""


def read(mail: Mail) -> Report | None:
    """Alias of find_report, for symmetry with the other readers."""
    return find_report(mail)


def recipients(report: Report, human_text: str = "", mail: Mail | None = None) -> list[Recipient]:
    """A Recipient for each per-recipient block that names an address. With `mail` (the
    message that holds the report), a report of one block whose recipient field is empty
    takes the one recipient the message names elsewhere (`named`): Exchange 2007 writes
    "Final-Recipient: rfc822;<>" (or nothing after the type) for a recipient it resolved to
    a directory entry, with only an X-Display-Name beside it and the address in its text."""
    out: list[Recipient] = []
    for fields in report.recipients:
        r = recipient(fields, report.message_fields, human_text)
        if r is None and mail is not None and len(report.recipients) == 1:
            found, where = named(mail)
            if len(found) == 1:
                r = recipient({**fields, "final-recipient": f"rfc822; {found[0]}"}, report.message_fields, human_text)
                r = replace(r, rule=f"{r.rule}; recipient: the {where}'s (Final-Recipient empty)") if r else None
        if r is not None:
            out.append(r)
    return out


def _about(text: str, address: str, at: int | None = None) -> str:
    """The lines of the human-readable part about one address (for reports that give no
    Diagnostic-Code): the line naming it and the few after, up to a blank line or the next
    recipient (Exim's alias line, which names another address, is neither: it is skipped).
    `at`: the mention to read, the first of its own account if not given."""
    if at is None:
        low = text.lower()
        at = _mention(low if len(low) == len(text) else text, address)
    if at < 0:
        return ""
    lines = text[text.rfind("\n", 0, at) + 1 :].split("\n", 5)
    chunk = [lines[0].strip()]
    for line in lines[1:5]:
        if not line.strip():
            break
        if GENERATED_FROM.match(line):
            continue
        if "@" in line and address not in line.lower() and addresses(line):
            break  # the next recipient's paragraph
        chunk.append(line.strip())
    return " ".join(chunk)


def _display_name(fields: dict[str, str]) -> str:
    """The recipient's display name from Exchange's X-Display-Name field (Exchange 2000 and
    later write it in each recipient block), lower case; "" when absent or too short to look
    for. Exchange 2000/2003's text names a recipient its directory resolved by that name
    ("Board of Directors on 12/12/2026 2:03 PM" / "You do not have permission to send to
    this recipient." / "<server #5.7.1>"), and its report then has no Diagnostic-Code."""
    name = " ".join(fields.get("x-display-name", "").split()).lower()
    return name if len(name) >= 3 else ""


def _status_in_prose(text: str, address: str) -> str | None:
    """The first precise status in the paragraphs of the human-readable part that name
    `address`, every one of them: Exchange's NDR names a recipient twice, over its words for
    people and again under "Diagnostic information for administrators:" with the reply
    ("#554 5.2.2 mailbox full; ... ##")."""
    low = text.lower()
    at = low.find(address) if len(low) == len(text) else -1
    while at >= 0:
        status = find_status(normalise_text(_about(text, address, at)))
        if status and not is_vague(status):
            return status
        end = low.find("\n", at)
        at = low.find(address, end) if end >= 0 else -1
    return None


def _mention(text: str, address: str) -> int:
    """Where `text` first names `address` on a line of its own account, not in its summary of
    the returned message's header fields ("To: addr"); that line if there is no other."""
    first = at = text.find(address)
    while at >= 0:
        if not _SUMMARY_LINE.match(text, text.rfind("\n", 0, at) + 1, at):
            return at
        end = text.find("\n", at)  # the line's other mentions are in the summary too
        at = text.find(address, end) if end >= 0 else -1
    return first
