"""Exim (and the services that run it: Mail.ru, MX Logic, cPanel hosts, many ISPs).

Exim's bounce is plain text with one block per recipient, the address indented by two
spaces and the explanation by four::

    This message was created automatically by mail delivery software.

    A message that you sent could not be delivered to one or more of its
    recipients. This is a permanent error. The following address(es) failed:

      kijitora@example.com
        host mx.example.com [192.0.2.20]
        SMTP error from remote mail server after RCPT TO:<kijitora@example.com>:
        550 5.1.1 <kijitora@example.com>... User unknown

    ------ This is a copy of the message, including all the headers. ------

Lore:
- the SMTP step is in "SMTP error from remote mail server after RCPT TO:<...>:" ("after MAIL
  FROM", "after end of data", "after initial connection"); older versions put "host X [ip]:"
  before the reply on the same line, newer ones on a line of their own;
- local outcomes are Exim's own words: "retry timeout exceeded", "all hosts have been
  failing for a long time", "Unrouteable address", "mailbox is full";
- "(generated from X)" / "(ultimately generated from X)" name the alias that expanded into
  the failed address: not the cause, left out of the diagnostic; under "an undisclosed
  address" (a router's hide_child_in_errmsg hides the child) X is the recipient named;
- a pipe or file delivery ("save to ...", "|/usr/bin/procmail") stands where an address
  would: then the X-Failed-Recipients header, which Exim always adds, names the recipient.
  The header is not preferred otherwise: forwarders rewrite it (the body is the report).
  A failed pipe is the delivery program's failure (mailererror), whatever Exim adds;
- the delay warning ("Warning: message ... delayed 24 hours") has the same blocks under
  "The address(es) to which the message has not yet been delivered is/are:";
- "Mail failure - malformed recipient address" lists "address: malformed address: <x> ...";
- Mail.ru repeats the English report under a Russian one; MX Logic writes "<address>: reply"
  on one line. Both are this layout.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import regex
from ..dsn import GENERATED_FROM
from ..mail import Mail
from ..reasons import WEAK_REASONS, classify, receiving_hosts
from ..rules import Found
from ._text import ADDRESS, Phrases, addresses, by_phrase, detector, found, has, header, text

NAME = "exim"

_START = regex.compile(
    r"(?:following\s+address(?:\(es\)|es)?\s+failed|"
    r"has not yet been delivered (?:is|are)|incorrectly\s+constructed):[ \t]*\n",
    re.IGNORECASE,
)
_END = regex.compile(
    r"^(?:-{3,} ?This is a copy of|-{3,} ?The body of the message|"
    r"-{3,} ?The header of the original|"
    r"Included is a copy of the message|No action is required on your part|\*{5,})",
    re.MULTILINE | re.IGNORECASE,
)
_MARKS = (
    "This message was created automatically by mail delivery software",
    "could not be delivered to one or more",
    "has not yet been delivered",
)
_HOST = regex.compile(r"\bhost ([\w.-]+) \[")


def _indent(line: str) -> int:
    return len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())


def _blocks(body: str) -> list[tuple[str, str]]:
    """[(recipient line, explanation)] under the first "failed:" heading."""
    m = _START.search(body)
    if not m:
        return []
    rest = body[m.end() :]
    end = _END.search(rest)
    if end:
        rest = rest[: end.start()]
    out: list[tuple[str, list[str]]] = []
    for line in rest.splitlines():
        if not line.strip():
            continue
        depth = _indent(line)
        if depth == 0:
            if out:
                break  # prose after the blocks ("This address has been ignored. ...")
            continue
        if depth < 4 or not out:
            out.append((line.strip(), []))
        else:
            out[-1][1].append(line.strip())
    return [(head, "\n".join(lines)) for head, lines in out]


def _split(head: str) -> tuple[str | None, str]:
    """The address on a recipient line, and any reply written on the same line."""
    rest = ""
    if ": " in head and ADDRESS.search(head.split(": ", 1)[0]):
        head, rest = head.split(": ", 1)
    angled = re.search(r"<(" + ADDRESS.pattern + r")>", head)
    plain = ADDRESS.search(head)
    address = angled.group(1) if angled else plain.group(0) if plain else None
    return address, rest


# Sisimai 4.25 Lhost/Exim.pm messagesof and delayedfor (BSD-2-Clause): Exim's own messages
# (route.c, deliver.c, transports/, routers/) -> the reason; not for refusals at HELO/MAIL.
MESSAGES: Phrases = (
    ("userunknown", ("user not found",)),
    (
        "hostunknown",
        (
            "all host address lookups failed permanently",
            "all relevant mx records point to non-existent hosts",
            "unrouteable address",
        ),
    ),
    ("mailboxfull", ("mailbox is full", "error: quota exceed")),
    ("notaccept", ("an mx or srv record indicated no smtp service", "no host found for existing smtp connection")),
    (
        "syntaxerror",
        (
            "angle-brackets nested too deep",
            'expected word or "<"',
            "domain missing in source-routed address",
            "malformed address:",
        ),
    ),
    (
        "systemerror",
        ("delivery to file forbidden", "delivery to pipe forbidden", "local delivery failed", "lmtp error after "),
    ),
    ("contenterror", ('too many "received" headers',)),
    (
        "expired",
        (
            "retry timeout exceeded",
            "no action is required on your part",
            "retry time not reached for any host after a long failure period",
            "all hosts have been failing for a long time and were last tried",
            "delay reason: ",
            "has been frozen",
            "was frozen on arrival by ",
        ),
    ),
)


def _by_phrase(f: Found, block: str) -> Found:
    if f.command in ("HELO", "EHLO", "MAIL"):
        return f
    # a delay warning is "expired" anyway unless its words say more: leave it to them
    read = by_phrase(f, MESSAGES[:-1] if f.action == "delayed" else MESSAGES, block)
    return _given_up(read, block) if read.reason == "expired" else read


def _given_up(f: Found, block: str) -> Found:
    """`f`, read "expired" from Exim's give-up words ("retry timeout exceeded"), with the
    reason the remote's last reply shows instead, when the block quotes one that says a
    specific cause. The retry rules' cutoff says when Exim stopped trying, the reply why the
    tries failed: Gmail's "421-4.7.0 The IP address sending this message does not have a PTR
    record setup" before "retry timeout exceeded" is requireptr, as Postfix's bounce after
    maximal_queue_lifetime quoting the same reply is. A reply that names no cause ("451 4.7.1
    Please try again later"), or only one of Sisimai's retry reasons (a 4.1.1 deferral), leaves
    it expired, as Sisimai's Lhost/Exim.pm reads the phrase."""
    if "SMTP error from remote mail server" not in block:
        return f
    low = " ".join(f.diagnostic.split()).lower()
    rest = low.replace(f.phrase, " ") if f.phrase else low
    decided = classify(f.status, f.code, rest, f.command, f.action, hosts=receiving_hosts(f.remote_mta, f.address))
    if (
        decided.reason in WEAK_REASONS
        or decided.reason == "expired"
        or not decided.rule.startswith(("text ", "host ", "status "))
    ):
        return f
    return replace(f, reason=decided.reason, pattern=f"{f.pattern}; the reply's {decided.rule}", phrase="")


def read(mail: Mail, body: str) -> list[Found]:
    failed = addresses(header(mail, "X-Failed-Recipients"))
    action = "delayed" if re.search(r"not yet been delivered", body, re.IGNORECASE) else "failed"
    out = []
    for i, (head, explanation) in enumerate(_blocks(body)):
        address, same_line = _split(head)
        if address is None and head.lower() == "an undisclosed address":
            # a router's hide_child_in_errmsg (Exim's specification, "Generic options for
            # routers"): the failed child is not named, the address that generated it is
            parent = GENERATED_FROM.search(explanation)
            named = addresses(parent.group(0)) if parent else []
            address = named[0] if named else None
        if address is None:  # a pipe or a file: the header names the recipient
            if i >= len(failed):
                continue
            address = failed[i]
        diagnostic = GENERATED_FROM.sub("", (same_line + "\n" + explanation).strip())
        host = _HOST.search(explanation)
        pattern = (
            "SMTP error from remote mail server"
            if "SMTP error" in explanation
            else ("<address>: reply" if same_line else "address block")
        )
        if head.lower().startswith("pipe to |"):
            # a command the address was piped to failed: a delivery program's failure, also
            # when Exim adds "local delivery failed" (the pipe transport's return_output: the
            # program wrote to its output) — Sisimai's mailererror, not a system error
            out.append(found(address, diagnostic, "pipe to |", action=action, reason="mailererror"))
            continue
        f = found(address, diagnostic, pattern, remote_mta=host.group(1) if host else None, action=action)
        out.append(_by_phrase(f, same_line + "\n" + explanation))
    return out


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not (
        has(body, *_MARKS)
        or header(mail, "X-Failed-Recipients")
        or mail.subject.lower().startswith(("mail delivery failed", "warning: message", "mail failure"))
    ):
        return None
    if not _START.search(body):
        return None
    return read(mail, body) or None


DETECTOR = detector(NAME, detect)
