"""Small text helpers shared by the detectors: addresses, reply codes, commands, blocks.

Non-standard bounces are prose written by programs. What they share is little: an address,
an SMTP reply somewhere in the prose, sometimes the command it answered. These helpers find
those pieces; each detector decides where in its own format to look for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace

from .. import regex
from ..mail import Mail, lowered
from ..rules import Detector, Found

# An e-mail address as bounces print it: dot-atom local part, a domain with at least a label.
# (Quoted local parts and address literals are too rare in bounces to be worth the risk.)
ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
)

# "550 5.1.1", "550-5.7.26", "421 4.7.0": a reply code with its enhanced status.
_CODE_STATUS = re.compile(r"(?<![\d.])([245]\d\d)[ :-]+#?([245]\.\d{1,3}\.\d{1,3})(?![\d.]\d)")
# An enhanced status on its own: "5.1.1", "(#5.1.1)", "[#4.1.9]". Not part of an IP address.
_STATUS = re.compile(r"(?<![\d.])#?([245]\.\d{1,3}\.\d{1,3})(?![\d.]*\d)")
# A reply code on its own, where it stands as one: at the start, after a colon, "said:", "<<<",
# and after the "<--" that marks the server's lines in a session transcript (MDaemon's
# "Mon 2026-11-30 10:15:05.343: <-- 550 ...", its "-->" the client's).
_CODE = re.compile(
    r"(?:^|[:>]\s*|<--\s*|\bsaid:?\s+|\bwas:?\s+|\breason:\s*|\bbecause of\s+)"
    r"([45]\d\d)(?=[\s:-]|$)",
    re.MULTILINE | re.IGNORECASE,
)


def addresses(text: str) -> list[str]:
    """Every address in `text`, in order, without repeats (case-insensitively)."""
    seen: set[str] = set()
    out: list[str] = []
    for m in ADDRESS.finditer(text):
        a = m.group(0).strip(".")
        if a.lower() not in seen:
            seen.add(a.lower())
            out.append(a)
    return out


def clean(value: str) -> str:
    """The address in a field value ("rfc822; <a@b>", "a@b (comment)"), or ""."""
    value = re.sub(r"^\s*[\w-]+\s*;", "", value)
    angled = re.search(r"<(" + ADDRESS.pattern + r")>", value)
    plain = ADDRESS.search(value)
    return angled.group(1) if angled else plain.group(0).rstrip(".") if plain else ""


def squash(text: str) -> str:
    """One line: runs of whitespace to one space, ends trimmed."""
    return " ".join(text.split())


def unwrap_reply(text: str) -> str:
    """Join a multi-line SMTP reply ("550-5.7.26 a" / "550 5.7.26 b") into one line.

    The first line that carries a reply code keeps it; continuation lines that repeat the
    same code (and status) lose the repeat.
    """
    out: list[str] = []
    prefix: str | None = None
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln:
            continue
        if prefix is None:
            m = re.search(r"(?<![\d.])([245]\d\d)[ -]", ln)
            prefix = m.group(1) if m else None
        else:
            m = re.match(re.escape(prefix) + r"[ -](?:[245]\.\d{1,3}\.\d{1,3}\s+)?", ln)
            if m:
                ln = ln[m.end() :]
        out.append(ln)
    return squash(" ".join(out))


def reply(text: str) -> tuple[int | None, str | None]:
    """The SMTP reply code and enhanced status written in `text`, each None if absent.

    A status counts only if its class agrees with the code's ("550 4.2.2" keeps both: the
    remote server said so). The first code+status pair wins; otherwise the first of each.
    """
    m = _CODE_STATUS.search(text)
    if m:
        return int(m.group(1)), m.group(2)
    c = _CODE.search(text)
    s = _STATUS.search(text)
    return (int(c.group(1)) if c else None), (s.group(1) if s else None)


# Phrases that say which SMTP command a reply answered, in the words of several MTAs.
# (Exim: "after pipelined DATA" for a pipelined command, "after BDAT" with CHUNKING.)
_COMMANDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "RCPT",
        re.compile(
            r"after RCPT\b|\bRCPT TO\b|does not like recipient|did not like our RCPT|"
            r"\[RCPT_TO\]|after RCPT command|in reply to RCPT|>>> RCPT|SMTP:RCPT",
            re.IGNORECASE,
        ),
    ),
    (
        "MAIL",
        re.compile(
            r"after MAIL\b|\bMAIL FROM\b|sender was rejected|did not like our MAIL|"
            r"\[MAIL_FROM\]|in reply to MAIL|>>> MAIL",
            re.IGNORECASE,
        ),
    ),
    (
        "DATA",
        re.compile(
            r"after (?:pipelined )?(?:end of )?data\b|after (?:pipelined )?BDAT\b|failed after I sent the message|"
            r"did not like our (?:final )?DATA|in reply to (?:end of )?DATA|>>> DATA|"
            r"for TEXT command|\(DATA\)",
            re.IGNORECASE,
        ),
    ),
    (
        "EHLO",
        re.compile(
            r"my name was rejected|after (?:EHLO|HELO)\b|in reply to (?:EHLO|HELO)|"
            r">>> [EH]ELO",
            re.IGNORECASE,
        ),
    ),
    # refused in the greeting, before any command: "CONN", as reasons.classify calls it
    (
        "CONN",
        re.compile(
            r"after initial connection|refused to talk to me|"
            r"greeting (?:failed|wait)",
            re.IGNORECASE,
        ),
    ),
)


# All of them in one expression, searched in the lower-cased text (faster than IGNORECASE;
# the phrases have no escapes that lower-casing would change): one pass finds the earliest
# phrase (at one place, the first of _COMMANDS that matches there); its group names the command.
_ANY_COMMAND = re.compile("|".join(f"(?P<{name}>{pattern.pattern.lower()})" for name, pattern in _COMMANDS))


def command(text: str) -> str | None:
    """The SMTP command `text` says the failure came after, or None."""
    m = _ANY_COMMAND.search(text.lower())
    return m.lastgroup if m else None


def sections(pattern: re.Pattern[str] | regex.Regex[str], text: str) -> list[tuple[re.Match[str], str]]:
    """Each match of `pattern` (a heading: a recipient line, say) with the text after it up
    to the next match or the end: how most formats list one block per recipient."""
    heads = list(pattern.finditer(text))
    ends = [h.start() for h in heads[1:]] + [len(text)]
    return [(h, text[h.end() : end]) for h, end in zip(heads, ends[: len(heads)], strict=True)]


def cut(text: str, *markers: str) -> str:
    """`text` up to the first line that starts (after indentation) with one of `markers`."""
    end = len(text)
    for marker in markers:
        m = re.search(r"^[ \t>]*" + re.escape(marker), text, re.MULTILINE | re.IGNORECASE)
        if m and m.start() < end:
            end = m.start()
    return text[:end]


_LOWERED: dict[str, str] = {}  # the detectors' phrases, lower-cased once (they are constants)


def has(text: str, *phrases: str) -> bool:
    low = lowered(text)  # every detector asks of the same body: lowered once
    for phrase in phrases:
        needle = _LOWERED.get(phrase)
        if needle is None:
            needle = phrase.lower()
            if len(_LOWERED) < 4096:
                _LOWERED[phrase] = needle
        if needle in low:
            return True
    return False


def found(
    address: str,
    diagnostic: str,
    pattern: str,
    *,
    context: str | None = None,
    code: int | None = None,
    status: str | None = None,
    command_: str | None = None,
    remote_mta: str | None = None,
    action: str = "failed",
    reason: str | None = None,
) -> Found:
    """A `Found` whose code, status and command, unless given, are read from the text.

    `context` is where to read them (default: the diagnostic itself); the diagnostic is
    reduced to one line, with the repeated prefixes of a multi-line reply dropped.
    """
    diagnostic = unwrap_reply(diagnostic)
    where = diagnostic if context is None else unwrap_reply(context)
    read_code, read_status = reply(where)
    return Found(
        address=address.strip("<>\"' ").rstrip("."),
        diagnostic=diagnostic,
        status=status or read_status,
        code=code or read_code,
        command=command_ or command(where),
        remote_mta=remote_mta,
        action=action,
        reason=reason,
        pattern=pattern,
    )


# A software's own fixed phrases: (reason, lower-cased phrases), tried in order.
Phrases = tuple[tuple[str, tuple[str, ...]], ...]


def by_phrase(f: Found, table: Phrases, text: str | None = None) -> Found:
    """`f` with the reason of the first phrase of `table` found in `text` (default: its
    diagnostic), as Sisimai's Lhost modules read their `messagesof` tables; `f` unchanged
    when none is there. (A weak reason — `WEAK_REASONS` in ../__init__.py — may still give
    way to a more specific one that the wording or status shows.)"""
    low = " ".join((f.diagnostic if text is None else text).split()).lower()
    for reason, phrases in table:
        for phrase in phrases:
            if phrase in low:
                return replace(f, reason=reason, pattern=f"{f.pattern}; {reason} phrase {phrase!r}", phrase=phrase)
    return f


def dedupe(items: Iterable[Found]) -> list[Found]:
    """Keep the first `Found` for each address (case-insensitively)."""
    seen: set[str] = set()
    out: list[Found] = []
    for f in items:
        key = f.address.lower()
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


# --- the only place that knows how `Mail` presents a message (see ../mail.py) ---


def header(mail: Mail, name: str) -> str:
    """A header's value ("" when absent), decoded and unfolded."""
    return mail.header(name)


def text(mail: Mail) -> str:
    """The bounce's own words: its text parts, outside the returned original.

    (A multipart whose boundary never appears is read by `Mail` as the text it is.)
    """
    return mail.body


_REPORT_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})


def detector(name: str, detect: Callable[[Mail], Sequence[Found] | None]) -> Detector:
    """The `Detector` for a module: `detect`, except on an RFC 3464 report.

    A report with a delivery-status part belongs to the DSN reader, even when its text part
    is worded exactly like the software's plain bounces (Postfix, Sendmail and Exchange write
    the same prose in both); no detector here claims one.
    """

    def guarded(mail: Mail) -> Sequence[Found] | None:
        if not _REPORT_PARTS.isdisjoint(mail.types):
            return None
        return detect(mail)

    return Detector(name=name, detect=guarded)
