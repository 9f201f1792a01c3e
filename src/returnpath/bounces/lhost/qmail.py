"""qmail (qmail-send) and the MTAs that kept its bounce layout.

qmail-send writes the same plain-text bounce it has since 1998::

    Hi. This is the qmail-send program at mx.example.jp.
    I'm afraid I wasn't able to deliver your message to the following addresses.
    This is a permanent error; I've given up. Sorry it didn't work out.

    <kijitora@example.jp>:
    192.0.2.135 does not like recipient.
    Remote host said: 550 5.1.1 <kijitora@example.jp>... User unknown
    Giving up on 192.0.2.135.

    --- Below this line is a copy of the message.

One block per recipient, opened by a line "<address>:". The phrase before "Remote host
said:" tells the SMTP step: "does not like recipient" (RCPT), "Connected to X but sender was
rejected" (MAIL), "... but my name was rejected" (HELO/EHLO), "failed after I sent the
message" (DATA). Local failures carry qmail's own status in "(#5.1.1)". Patched qmails
(netqmail, vpopmail's chkuser, qmail-ldap) and ISPs' rebrands change the greeting ("Unable to
deliver message to the following address(es).", "Your mail message to the following
address(es) could not be delivered.") and the closing line ("--- Original message
follows."), never the "<address>:" blocks; those greetings are listed here too.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import Phrases, by_phrase, command, detector, found, has, sections, text

NAME = "qmail"

GREETINGS = (
    "This is the qmail-send program at",
    "I'm afraid I wasn't able to deliver your message to the following addresses",
    "Unable to deliver message to the following address(es)",  # qmail rebrands (ISPs)
    "Your mail message to the following address(es) could not be delivered",  # likewise
)
# Where the bounce's own text ends and the returned message begins.
ENDINGS = regex.compile(
    r"^--- (?:Below this line is a copy of the message|Enclosed is a copy of the message|"
    r"Below the next line is a copy of the message|Original message follows|"
    r"Undelivered message follows)",
    re.MULTILINE | re.IGNORECASE,
)
_BLOCK = regex.compile(r"^[ \t]*<([^<>\s]+@[^<>\s]+)>:[ \t]*(.*)$", re.MULTILINE)
_REMOTE = regex.compile(
    r"(?:Connected to|Giving up on) ([\w.:-]+?)\.?(?:\s|$)|"
    r"^([\w.:-]+) (?:does not like recipient|failed after I sent)",
    re.MULTILINE,
)


def blocks(body: str) -> list[tuple[str, str]]:
    """[(address, its explanation)] for each "<address>:" block before the returned copy."""
    m = ENDINGS.search(body)
    if m:
        body = body[: m.start()]
    out = []
    for h, block in sections(_BLOCK, body):
        out.append((h.group(1), h.group(2) + "\n" + block))
    return out


# qmail's own sentences, named in the rule when one of them is the block's explanation.
PHRASES = (
    "does not like recipient",
    "sender was rejected",
    "my name was rejected",
    "failed after I sent the message",
    "Sorry, no mailbox here by that name",
    "Sorry, I couldn't find any host",
    "Sorry, I couldn't find a mail exchanger or IP address",
    "Sorry, I wasn't able to establish an SMTP connection",
    "Although I'm listed as a best-preference MX or A for that host",
    "This message is looping",
    "Remote host said",
)


# Sisimai 4.25 Lhost/qmail.pm messagesof, failonldap, hasexpired (BSD-2-Clause): qmail's own
# phrases (qmail-local, qmail-remote, error_str.c, qmail-ldap) -> the reason, read in the
# whole block (the sentences `read` leaves out of the diagnostic included).
MESSAGES: Phrases = (
    ("userunknown", ("no mailbox here by that name", "does not like recipient.")),
    ("mailboxfull", ("disk quota exceeded",)),
    ("mesgtoobig", ("message size exceeds fixed maximum message size:",)),
    ("hostunknown", ("sorry, i couldn't find any host ",)),
    ("systemfull", ("requested action not taken: mailbox unavailable (not enough free space)",)),
    ("systemerror", ("bad interpreter: no such file or directory", "system error", "unable to")),
    (
        "networkerror",
        (
            "sorry, i wasn't able to establish an smtp connection",
            "sorry, i couldn't find a mail exchanger or ip address",
            "sorry. although i'm listed as a best-preference mx or a for that host",
        ),
    ),
)
FAIL_ON_LDAP: Phrases = (
    ("suspend", ("mailaddress is administrative", "mailaddress is administratively disabled")),
    ("userunknown", ("sorry, no mailbox here by that name",)),
    ("exceedlimit", ("the message exeeded the maximum size the user accepts",)),
    (
        "systemerror",
        (
            "automatic homedir creator crashed",
            "illegal value in ldap attribute",
            "ldap attribute is not given but mandatory",
            "timeout while performing search on ldap server",
            "too many results returned but needs to be unique",
            "permanent error while executing qmail-forward",
            "temporary error in automatic homedir creation",
            "temporary error while executing qmail-forward",
            "temporary failure in ldap lookup",
            "unable to contact ldap server",
            "unable to login into ldap server, bad credentials",
        ),
    ),
)
HAS_EXPIRED: Phrases = (("expired", ("this message has been in the queue too long.",)),)


def _by_phrase(f: Found, block: str) -> Found:
    """Sisimai's order: refused at MAIL/HELO is its own; "does not like recipient" with
    "in the queue too long" is on hold; then qmail's phrases, qmail-ldap's, the queue's."""
    if f.command in ("MAIL", "HELO", "EHLO"):
        return f
    low = " ".join(block.split()).lower()
    if "does not like recipient." in low and low.endswith("this message has been in the queue too long."):
        return replace(f, reason="onhold", pattern=f"{f.pattern}; onhold: refused, then in the queue too long")
    return by_phrase(f, MESSAGES + FAIL_ON_LDAP + HAS_EXPIRED, low)


def _remote(block: str) -> str | None:
    m = _REMOTE.search(block)
    return (m.group(1) or m.group(2)) if m else None


def read(body: str) -> list[Found]:
    """The recipients of a bounce in qmail's layout, one per "<address>:" block."""
    out = []
    for address, block in blocks(body):
        # qmail frames the remote reply with sentences that say nothing about the cause: the
        # queue's "in the queue too long" and "Giving up on", and qmail-remote's "Connected to
        # X but sender was rejected." / "... but my name was rejected." (qmail-remote.c), which
        # name only the SMTP step (MAIL, HELO), not why. Leave them out of the diagnostic, so
        # the reply's own words decide ("550 5.7.1 Fix reverse DNS for ..." at MAIL is
        # requireptr, as the same reply reported by Exim is); the step still reads from the
        # block, and a reply without a cause of its own stays `rejected`/`blocked` for it.
        diagnostic = re.sub(
            r"I'm not going to try again; this message has been in the queue "
            r"too long\.|Giving up on [\w.:-]+\.|Connected to [\w.:-]+ but (?:sender|my name) was rejected\.",
            "",
            block,
        )
        low = block.lower()
        pattern = next((p for p in PHRASES if p.lower() in low), "<address>: block")
        f = found(address, diagnostic, pattern, command_=command(block), remote_mta=_remote(block))
        out.append(_by_phrase(f, block))
    return out


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if not has(body, *GREETINGS):
        return None
    return read(body)


DETECTOR = detector(NAME, detect)
