"""Gmail's plain-text bounces (before Google switched to RFC 3464 reports around 2015).

From mailer-daemon@googlemail.com / @gmail.com, "Delivery Status Notification (Failure)" or
"(Delay)"::

    Delivery to the following recipient failed permanently:

         kijitora@example.com

    Technical details of permanent failure:
    Google tried to deliver your message, but it was rejected by the server for the
    recipient domain example.com by mx.example.com. [192.0.2.1].

    The error that the other server returned was:
    550 5.1.1 <kijitora@example.com>... User Unknown

    ----- Original message -----

Lore:
- "Delivery to the following recipient has been delayed:" is a warning: delayed, not failed;
- the remote reply is often written twice-coded ("554 554 5.7.0 Header error");
- "(state N)" after the reply is the step of Gmail's SMTP client at which it came: 6 is
  the MAIL command (after STARTTLS/EHLO), 13 the EHLO, 18 the end of DATA; other numbers
  are not documented and are left unread;
- "The recipient server did not accept our requests to connect." is a connection failure,
  with "[host ip: socket error]" lines below naming the hosts tried;
- a notice about several recipients says "Delivery to the following recipients failed
  permanently:" and lists them one per indented line (Sisimai's Lhost/Gmail.pm takes each
  such line as a recipient), then gives one "Google tried to deliver your message ... The
  error that the other server returned was:" paragraph per refusal: a recipient's cause is
  the paragraph whose reply names it, the whole of them when none does.

Since 2015 Gmail (and Google Workspace) send RFC 3464 reports whose text reads "** Address
not found ** / Your message wasn't delivered to X because ... / The response from the remote
server was: 550 ..."; that text is read too when the report part is missing.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .. import regex
from ..mail import Mail
from ..rules import Found
from ._text import Phrases, by_phrase, cut, detector, found, has, text

NAME = "gmail"
_HEAD = regex.compile(
    r"Delivery to the following recipients? (failed permanently|has been delayed|"
    r"failed temporarily):?[ \t]*\n",
    re.IGNORECASE,
)
# The list under the heading: indented lines naming an address each, up to the first other line.
_LISTED = regex.compile(r"\A(?:[ \t]*\n)*((?:[^\n@]*@[^\n]*(?:\n|\Z))+)")
# Where one refusal's account begins ("Google tried to deliver your message, but it was
# rejected by the server for the recipient domain ..."), when there are several.
_ATTEMPT = regex.compile(r"^[ \t]*Google tried to deliver your message", re.MULTILINE | re.IGNORECASE)
_STATES = {"6": "MAIL", "13": "EHLO", "18": "DATA"}
# Sisimai 4.25 Lhost/Gmail.pm statetable and messagesof (BSD-2-Clause): Gmail's "(state N)"
# and its own DNS and connection phrases -> the reason. A precise status in the text
# (x.1-7.1-9) says more and is left to `classify`, as Sisimai lets it.
_STATE_REASONS = {
    "6": "systemerror",
    "8": "systemerror",
    "9": "systemerror",
    "12": "norelaying",  # Sisimai's "relayingdenied", its name for norelaying
    "13": "blocked",
    "14": "userunknown",
    "15": "filtered",
    "17": "filtered",
    "18": "filtered",
}
MESSAGES: Phrases = (
    (
        "expired",
        (
            "dns error: could not contact dns servers",
            "delivery to the following recipient has been delayed",
            "the recipient server did not accept our requests to connect",
        ),
    ),
    ("hostunknown", ("dns error: domain name not found", "dns error: dns server returned answer with no data")),
    # Sisimai 4.25 Lhost/GSuite.pm messagesof: the layout since 2015 ("Address not found")
    (
        "userunknown",
        ("because the address couldn't be found. check for typos or unnecessary spaces and try again.",),
    ),
    ("notaccept", ("null mx",)),
    ("networkerror", (" had no relevant answers.", " responded with code nxdomain")),
)
_PRECISE = regex.compile(r"\b[45]\.[1-7]\.[1-9]\b")


def _by_phrase(f: Found, state: str | None, text: str) -> Found:
    if _PRECISE.search(text):
        return f
    if state in _STATE_REASONS:
        return replace(f, reason=_STATE_REASONS[state], pattern=f"{f.pattern}; (state {state})")
    return by_phrase(f, MESSAGES, text)


_BY = regex.compile(r"rejected by the server for the recipient domain \S+ by ([\w.-]+?)\.? \[")


_NEW = regex.compile(
    r"Your message wasn't delivered to (\S+?@\S+?) because (.*?)"
    r"(?:\n\s*\n|$)",
    re.DOTALL,
)
_RESPONSE = regex.compile(
    r"^The response (?:from the remote server )?was:\s*\n(.*?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL
)


_RETRY = regex.compile(
    r"There was a temporary problem delivering your message to "
    r"(\S+?@\S+?)\.(?:\s|$)"
)


def _current(body: str) -> list[Found]:
    """The layout since 2015 ("** Address not found **"), when its report part is missing."""
    response = _RESPONSE.search(body)
    said = response.group(1) if response else ""
    out = [
        _by_phrase(
            found(
                m.group(1),
                said or m.group(2),
                "The response from the remote server was" if said else "Your message wasn't delivered to",
            ),
            None,
            m.group(0) + " " + said,
        )
        for m in _NEW.finditer(body)
    ]
    out += [
        found(m.group(1), said, "There was a temporary problem delivering your message to", action="delayed")
        for m in _RETRY.finditer(body)
    ]  # "** Delivery incomplete **"
    return out


def detect(mail: Mail) -> list[Found] | None:
    body = text(mail)
    if (_NEW.search(body) or _RETRY.search(body)) and mail.sender.endswith(
        ("@googlemail.com", "@gmail.com", "@google.com")
    ):
        return _current(body)
    if not has(body, "Delivery to the following recipient"):
        return None
    if not (
        mail.sender.endswith(("@googlemail.com", "@gmail.com"))
        or has(body, "Technical details of permanent failure", "Technical details of temporary failure")
    ):
        return None
    report = cut(body, "----- Original message -----", "----- Message header follows -----")
    out = []
    for m in _HEAD.finditer(report):
        delayed = "delayed" in m.group(1).lower() or "temporarily" in m.group(1).lower()
        rest = report[m.end() :]
        nxt = _HEAD.search(rest)
        if nxt:
            rest = rest[: nxt.start()]
        listed = _LISTED.match(rest)
        if not listed:
            continue
        for address in re.split(r"[\s,]+", listed.group(1).strip()):
            if "@" not in address:
                continue
            details = _about(rest, address)
            state = re.search(r"\(state (\d+)\)", details)
            by = _BY.search(details)
            said = re.search(
                r"The error that the other server returned was:\s*(.*)", details, re.DOTALL | re.IGNORECASE
            )
            f = found(
                address,
                details,
                "Delivery to the following recipient " + m.group(1).lower(),
                context=said.group(1) if said else details,
                command_=_STATES.get(state.group(1)) if state else None,
                remote_mta=by.group(1) if by else None,
                action="delayed" if delayed else "failed",
            )
            out.append(_by_phrase(f, state.group(1) if state else None, details))
    return out


def _about(details: str, address: str) -> str:
    """The part of the technical details about `address`: of several refusals, the one whose
    text names it; all of them when there is one, or none names it."""
    starts = [m.start() for m in _ATTEMPT.finditer(details)]
    if len(starts) < 2:
        return details
    head = details[: starts[0]]
    attempts = [details[a:b] for a, b in zip(starts, [*starts[1:], len(details)], strict=True)]
    naming = [a for a in attempts if address.lower() in a.lower()]
    return head + naming[0] if len(naming) == 1 else details


DETECTOR = detector(NAME, detect)
