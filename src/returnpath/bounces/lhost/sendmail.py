"""Sendmail bounces without a usable delivery-status part, V5 to 8.x, and its imitators.

Sendmail's report is built of dashed section headings::

       ----- The following addresses had permanent fatal errors -----
    <kijitora@example.com>
        (reason: 550 5.1.1 <kijitora@example.com>... User unknown)

       ----- Transcript of session follows -----
    ... while talking to mx.example.com.:
    >>> RCPT To:<kijitora@example.com>
    <<< 550 5.1.1 <kijitora@example.com>... User unknown
    550 5.1.1 <kijitora@example.com>... User unknown

       ----- Unsent message follows -----

Lore:
- ">>> CMD" is what sendmail sent, "<<< reply" what it got back, and "NNN <address>...
  text" its verdict on that recipient: the reply just before a verdict is the remote
  server's word on it, and the ">>>" before that reply the step;
- sendmail 5 (V5) has only the transcript: the verdict lines name the recipients;
- "(reason: ...)" under an address (8.12+) repeats the remote reply;
- "transient non-fatal errors" lists recipients still being tried (delayed);
- an unqualified address ("kijitora", "(expanded from: kijitora)") is completed from the
  Final-Recipient field of the delivery-status text when the MIME structure was lost;
- others copied the headings: Active!hunter (">>> address <address>" lines), BIGLOBE
  ("had delivery problems" / "Non-delivered information"), an unnamed gateway ("---The
  following addresses had delivery errors---", "address [reason]"), McAfee's gateway
  ("--- The following addresses had delivery problems ---", "<address>   (reply)").
"""

from __future__ import annotations

import re

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import ADDRESS, dedupe, detector, found, reply, text
from .textdsn import read_fields

NAME = "sendmail"
_SECTION = regex.compile(
    r"^[ \t>]*-{3,}\s*The following addresses had (permanent fatal errors|"
    r"transient non-fatal errors|fatal errors|delivery problems|"
    r"delivery errors)\s*-{3,}[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_TRANSCRIPT = regex.compile(
    r"^[ \t>]*-{3,}\s*Transcript of (?:the )?session follows\s*-{3,}[ \t]*$", re.MULTILINE | re.IGNORECASE
)
# Where a section ends: the next dashed heading, a MIME boundary left in the text, or the
# fields of a delivery-status part that lost its MIME headers.
_ANY_SECTION = regex.compile(
    r"^[ \t]*-{3,}[^\n]*-{3,}[ \t]*$|^\s*--[\w.=/+-]{8,}\s*$|"
    r"^(?:Reporting-MTA|Final-Recipient|Original-Recipient|Return-Path|"
    r"Received|Content-Type):",
    re.MULTILINE | re.IGNORECASE,
)
# mail.local (sendmail's local delivery agent) and its kin name a user they do not have.
_LOCAL_UNKNOWN = regex.compile(r"\b(?:mail\.local|local): unknown user", re.IGNORECASE)
_INFO = regex.compile(r"^[ \t]*-{3,}\s*Non-delivered information\s*-{3,}[ \t]*$", re.MULTILINE)
# "550 5.1.1 <a@b>... User unknown" (with the code: sendmail 8, V5) or "<a@b>... Deferred: 421"
_VERDICT = regex.compile(
    r"^(?:([245]\d\d) (?:[245]\.\d{1,3}\.\d{1,3} )?)?<?([^\s<>]+@[^\s<>]+?)>?"
    r"\.\.\. ?(.*)$"
)
# "421 example.com (smtp)... Deferred: Connection timed out": a verdict on a whole host
_HOST_VERDICT = regex.compile(r"^([245]\d\d) ([\w.-]+) \(\w+\)\.\.\. ?(.*)$")
_UNSENT = regex.compile(
    r"^[ \t]*-{3,}\s*(?:Unsent|Original) message follows\s*-{3,}[ \t]*$", re.MULTILINE | re.IGNORECASE
)
_SENT = regex.compile(r"^>>> ([A-Za-z]+)")
_GOT = regex.compile(r"^<<< (.*)$")
_TALKING = regex.compile(r"^\.*\s*while talking to ([\w.-]+?)\.?:", re.IGNORECASE)
# Sendmail's own last word when the queue time ran out (Timeout.queuereturn), written under
# the last verdict of the transcript: 8.8's "Message could not be delivered for 5 days" /
# "Message will be deleted from queue", the "Cannot send message for 5 days" of the subject.
# It says why every listed address failed, whatever the last attempt's reply was.
_GAVE_UP = regex.compile(
    r"^(?:message could not be delivered for|cannot send message for|message will be deleted from queue)",
    re.IGNORECASE,
)


class _Said:
    """What the transcript says about one recipient."""

    def __init__(self, text: str, code: int | None, command: str | None, host: str | None):
        self.text, self.code, self.command, self.host = text, code, command, host


def _section(body: str, start: int) -> str:
    nxt = _ANY_SECTION.search(body, start)
    return body[start : nxt.start() if nxt else len(body)]


def _transcript(body: str) -> tuple[dict[str, _Said], _Said | None]:
    """Per-address verdicts, and the transcript as a whole (for a lone recipient)."""
    m = _TRANSCRIPT.search(body)
    if not m:
        return {}, None
    verdicts: dict[str, _Said] = {}
    sent: str | None = None
    got: list[str] = []  # remote replies not yet matched to a verdict
    notes: list[str] = []  # sendmail's or the local mailer's own lines
    host: str | None = None
    all_got: list[str] = []
    last_sent: str | None = None
    for line in _section(body, m.end()).splitlines():
        line = line.strip()
        if t := _TALKING.match(line):
            host, sent, got = t.group(1), None, []
        elif s := _SENT.match(line):
            sent, got = s.group(1).upper(), []
        elif g := _GOT.match(line):
            got.append(g.group(1))
            all_got.append(g.group(1))
            last_sent = sent
        elif (hv := _HOST_VERDICT.match(line)) and hv.group(2).lower() not in verdicts:
            # (leaves the reply to the address verdict that usually follows it)
            said = " ".join(got) if got else hv.group(3)
            verdicts.setdefault("@" + hv.group(2).lower(), _Said(said, int(hv.group(1)), sent if got else None, host))
        elif v := _VERDICT.match(line):
            said = " ".join(got) if got else " ".join([*notes, v.group(3)])
            code, _status = reply(said)
            verdicts.setdefault(
                v.group(2).lower(),
                _Said(said, code or (int(v.group(1)) if v.group(1) else None), sent if got else None, host),
            )
            got, notes = [], []  # a reply answers one verdict
        elif line:
            notes.append(line)
    whole = _Said(" ".join(all_got) or " ".join(notes), None, last_sent, host)
    gave_up = [line for line in notes if _GAVE_UP.match(line)]
    if gave_up:  # the queue's time ran out: that is the verdict on each address
        for said in verdicts.values():
            said.text = " ".join([said.text, *gave_up]).strip()
    return verdicts, whole


def _recipients_at(body: str, on_hosts: dict[str, _Said]) -> dict[str, _Said]:
    """Sendmail 5 names only the host it gave up on: the recipients at that host are read
    from the To: and Cc: of the unsent message that follows the transcript."""
    unsent = _UNSENT.search(body)
    if not unsent:
        return {}
    head = body[unsent.end() :].lstrip("\n").split("\n\n", 1)[0]
    named = " ".join(re.findall(r"^(?:To|Cc):(.*(?:\n[ \t].*)*)", head, re.MULTILINE | re.IGNORECASE))
    out = {}
    for address in ADDRESS.findall(named):
        domain = address.rsplit("@", 1)[1].lower()
        said = on_hosts.get("@" + domain) or next(
            (s for host, s in on_hosts.items() if domain.endswith("." + host[1:])), None
        )
        if said:
            out[address.lower()] = said
    return out


def _listed(section: str) -> list[tuple[str, str]]:
    """(address as written, remark after it) for each line under the addresses heading."""
    listed: list[tuple[str, str]] = []
    reason_open = False  # a long "(reason: ...)" folded onto the next lines, up to its ")"
    for line in section.splitlines():
        line = line.strip()
        if line.startswith(">>>"):  # Active!hunter writes ">>> address <address>"
            line = line[3:].strip()
        if not line:
            reason_open = False
            continue
        if reason_open and listed:
            reason_open = not line.endswith(")")
            listed[-1] = (listed[-1][0], f"{listed[-1][1]} {line.rstrip(')')}")
        elif line.startswith("(reason:") and listed:
            reason_open = not line.endswith(")")
            listed[-1] = (listed[-1][0], line[len("(reason:") :].rstrip(")").strip())
        elif not line.startswith("("):
            angled = re.search(r"<([^<>\s]+@[^<>\s]+)>", line)
            plain = ADDRESS.match(line)
            if not (angled or plain):  # a pipe or a file the address expanded into
                listed.append((line, ""))
                continue
            word = angled.group(1) if angled else plain.group(0) if plain else ""
            listed.append((word, re.sub(r"^\S+\s*(?:<[^<>]*>)?\s*", "", line).strip("[] ")))
    return listed


def detect(mail: Mail) -> list[Found] | None:
    return read(text(mail))


def read(body: str) -> list[Found] | None:
    """The recipients of a Sendmail-style report in `body`; None if it is not one."""
    if re.search(r"^> ?[ \t]*-{3,}\s*The following addresses", body, re.MULTILINE):
        body = re.sub(r"^> ?", "", body, flags=re.MULTILINE)  # a forwarded bounce: unquote
    heading = _SECTION.search(body)
    verdicts, whole = _transcript(body)
    on_hosts = {k: verdicts.pop(k) for k in [k for k in verdicts if k.startswith("@")]}
    if on_hosts and not verdicts and not heading:
        verdicts = _recipients_at(body, on_hosts)
    if not heading and not verdicts:
        return None
    fields = read_fields(body)
    warning = "THIS IS A WARNING MESSAGE ONLY" in body  # "could not send message for past 4h"
    action = "delayed" if warning or (heading and "transient" in heading.group(1).lower()) else "failed"
    listed = _listed(_section(body, heading.end())) if heading else [(a, "") for a in verdicts]
    info = _INFO.search(body)  # BIGLOBE's own section, under the addresses
    own_words = _section(body, info.end()) if info else ""
    out = []
    for word, remark in listed:
        if "@" not in word:  # unqualified or a pipe: the delivery-status text knows who
            if len(fields) != 1 or len(listed) != 1:
                continue
            word = fields[0].address
        field = next((f for f in fields if f.address.lower() == word.lower()), None)
        said = verdicts.get(word.lower()) or (whole if len(listed) == 1 else None)
        aside = remark.startswith("(")  # "(unrecoverable error)", McAfee's "(reply)"
        if remark and not aside:  # "(reason: ...)" or "address [reason]": the reply, kept
            said = _Said(remark, None, said.command if said else None, said.host if said else None)
        diagnostic = said.text if said and said.text else field.diagnostic if field else ""
        if not diagnostic and aside:
            diagnostic = remark.strip("()")
        if not diagnostic:
            diagnostic = own_words
        local = _LOCAL_UNKNOWN.search(diagnostic)  # the local mailer's word on its own user
        out.append(
            found(
                word,
                diagnostic,
                local.group(0) if local else "transcript" if said else "addresses heading",
                reason="userunknown" if local else None,
                code=said.code if said else None,
                command_=said.command if said else None,
                remote_mta=said.host if said else None,
                action=action,
                status=None if reply(diagnostic)[1] else field.status if field else None,
            )
        )
    named = {f.address.lower() for f in out}
    out += [f for f in fields if f.address.lower() not in named]  # only in the status fields
    return dedupe(out)


DETECTOR = detector(NAME, detect)
