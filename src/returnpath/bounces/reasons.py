"""Why a message bounced: status, reply code and diagnostic text -> a Sisimai reason.

The rules are data (`reasons.toml`, read once); this module only applies them in order:
decisive status, text rules (first match wins), vague status, fallbacks. `classify` is what
every recogniser calls — the DSN reader and each lhost detector — so one reply line gets one
reason wherever it was found, and the verdict's `rule` says which rule decided.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

RULES_FILE = Path(__file__).with_name("reasons.toml")

# Reasons that are never a failure to deliver (kept apart so callers can tell).
NOT_FAILURES = frozenset({"delivered", "vacation", "feedback", "expanded"})

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY_PREFIX = re.compile(r"\b([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3}) )?")
_CODE = re.compile(r"(?<![\d.#-])([245][0-5]\d)(?:[ -]|$)")


class Classification(NamedTuple):
    reason: str  # Sisimai's reason name
    hard: bool  # retrying can never succeed
    status: str | None  # the status, made more precise from the text where it was vague
    rule: str  # what decided: "status 5.1.1", "text userunknown: 'user ?unknown'", ...


@dataclass(frozen=True, slots=True)
class Rule:
    reason: str
    hard: bool
    doc: str
    patterns: tuple[re.Pattern[str], ...]
    # (a literal every match contains, the pattern): the plain `in` test skips most searches
    guarded: tuple[tuple[str, re.Pattern[str]], ...]


@dataclass(frozen=True, slots=True)
class Rules:
    decisive: dict[str, str]
    vague: dict[str, str]
    text: tuple[Rule, ...]
    hard: frozenset[str]


def load(path: Path = RULES_FILE) -> Rules:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    text = tuple(_rule(r) for r in data.get("reason", ()))
    hard = frozenset(r.reason for r in text if r.hard)
    status = data.get("status", {})
    return Rules(dict(status.get("decisive", {})), dict(status.get("vague", {})), text, hard)


def _rule(entry: dict[str, object]) -> Rule:
    # the diagnostic is lower-cased once before matching, so no IGNORECASE (slower) here
    patterns = tuple(re.compile(str(p)) for p in entry.get("patterns", ()))  # type: ignore[attr-defined]
    return Rule(
        str(entry["name"]),
        bool(entry.get("hard", False)),
        str(entry.get("doc", "")),
        patterns,
        tuple((required_literal(p.pattern), p) for p in patterns),
    )


def required_literal(pattern: str) -> str:
    """The longest run of plain characters at the top level of a pattern: every match
    contains it ("" when there is none, e.g. a top-level alternation)."""
    try:
        from re import _parser  # type: ignore[attr-defined]  # the stdlib's sre_parse

        ops = list(_parser.parse(pattern))
    except Exception:  # a future Python without it: no shortcut, same answers
        return ""
    best, run = "", ""
    for op, value in ops:
        if op is _parser.LITERAL:
            run += chr(value)
            continue
        best, run = max(best, run, key=len), ""
    return max(best, run, key=len)


RULES = load()
MAX_DIAGNOSTIC = 4096  # characters of a diagnostic that the rules read


def is_hard(reason: str, status: str | None, code: int | None = None, action: str = "failed") -> bool:
    """Sisimai's hard-bounce flag for a reason (notaccept is hard only when permanent)."""
    if reason == "notaccept":
        if status:
            return status.startswith("5")
        if code is not None:
            return 500 <= code < 600
        return action == "failed"
    return reason in RULES.hard


def normalise_text(text: str) -> str:
    """One line: whitespace collapsed, a multi-line reply's repeated "550-5.7.1" prefixes
    removed ("550-5.7.1 Messages with multiple 550 5.7.1 addresses" -> "... multiple
    addresses"), so that phrases broken across reply lines still match."""
    text = " ".join(text.split())
    m = _REPLY_PREFIX.search(text)
    if m:
        prefix = re.escape(m.group(1)) + r"[ -]" + (re.escape(m.group(2)) + " " if m.group(2) else "")
        head, tail = text[: m.end()], text[m.end() :]
        text = head + re.sub(r"\s?" + prefix, " ", tail)
        text = " ".join(text.split())
    return text


def find_status(text: str) -> str | None:
    """The most precise RFC 3463 status written in a text (not x.0.0 if a better one is there)."""
    best: str | None = None
    for m in _STATUS.finditer(text):
        found = f"{m.group(1)}.{int(m.group(2))}.{int(m.group(3))}"
        if best is None or (is_vague(best) and not is_vague(found)):
            best = found
            if not is_vague(best):
                break
    return best


def find_code(text: str) -> int | None:
    """The first SMTP reply code (2xx-5xx) written in a text."""
    m = _CODE.search(text)
    return int(m.group(1)) if m else None


def is_vague(status: str | None) -> bool:
    """A status that says nothing beyond its class: absent, x.0.0."""
    if not status:
        return True
    parts = status.split(".")
    return len(parts) != 3 or parts[1:] == ["0", "0"]


def _status_key(table: dict[str, str], status: str | None) -> str | None:
    if not status:
        return None
    parts = status.split(".")
    if len(parts) != 3:
        return None
    return table.get(status) or table.get(f"{parts[1]}.{parts[2]}")


def match_text(diagnostic: str) -> tuple[str, str] | None:
    """(reason, pattern) of the first text rule that matches, or None."""
    text = diagnostic[:MAX_DIAGNOSTIC].lower()
    for rule in RULES.text:
        for literal, pattern in rule.guarded:
            if literal in text and pattern.search(text):
                return rule.reason, pattern.pattern
    return None


def classify(
    status: str | None,
    code: int | None,
    diagnostic: str,
    command: str | None = None,
    action: str = "failed",
    diagnostic_type: str | None = None,
) -> Classification:
    """Decide the reason for one recipient's report.

    `status` is the RFC 3463 status as reported (may be vague or absent); `code` the SMTP
    reply code; `diagnostic` the remote text; `command` the SMTP command it answered
    (HELO, EHLO, MAIL, RCPT, DATA; CONN for the greeting), `action` failed or delayed, and
    `diagnostic_type` the DSN's Diagnostic-Code type (smtp, x-unix, x-postfix, ...).
    """
    text = normalise_text(diagnostic)
    if is_vague(status):
        mined = find_status(text)
        if mined and (status is None or not is_vague(mined)):
            status = mined
    if code is None:
        code = find_code(text)
    reason, rule = _decide(status, code, text, action, (diagnostic_type or "").lower())
    reason, rule = _adjust(reason, rule, status, command)
    return Classification(reason, is_hard(reason, status, code, action), status, rule)


def _decide(status: str | None, code: int | None, text: str, action: str, diagnostic_type: str) -> tuple[str, str]:
    if status and status.startswith("2"):
        return "delivered", f"status {status}"
    decisive = _status_key(RULES.decisive, status)
    matched = match_text(text)
    if decisive:
        if decisive == "userunknown" and matched and matched[0] in _NOT_A_MISSING_MAILBOX:
            # "550 5.1.1 ... mailbox is over quota": servers that answer every refusal with
            # 5.1.1; the words are more precise than the status
            return matched[0], f"text {matched[0]}: {matched[1]!r} (over status {status})"
        return decisive, f"status {status}"
    if matched:
        return matched[0], f"text {matched[0]}: {matched[1]!r}"
    if diagnostic_type == "x-unix":  # a local delivery program (procmail, a pipe) failed
        return "mailererror", "Diagnostic-Code type x-unix"
    if action == "delayed":
        return "expired", "action delayed"
    vague = _status_key(RULES.vague, status)
    if vague and vague != "undefined":
        return vague, f"vague status {status}"
    if not text:
        return "undefined", "no diagnostic"
    return "onhold", "no rule matched"


_NOT_A_MISSING_MAILBOX = frozenset(
    {"norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept", "filtered"}
)
_SENDER_STAGE = ("userunknown", "hostunknown", "filtered", "suspend", "undefined", "onhold")


def _filter_status(status: str | None) -> bool:
    return status is None or status.split(".")[1:2] in (["2"], ["7"])


def _adjust(reason: str, rule: str, status: str | None, command: str | None) -> tuple[str, str]:
    """Sisimai's conventions about the SMTP step a refusal answered."""
    cmd = (command or "").upper()
    if cmd == "MAIL" and reason in _SENDER_STAGE:
        # refused at MAIL FROM: whatever the words, it is the sender that was refused
        return "rejected", rule + "; at MAIL"
    if cmd in ("HELO", "EHLO", "CONN") and (
        reason in ("hostunknown", "userunknown", "onhold", "undefined") or rule.startswith("vague status")
    ):
        # refused before any address was given: it is this client that was refused
        return "blocked", rule + f"; at {cmd}"
    if (
        reason == "userunknown"
        and rule.startswith("text")
        and (cmd == "DATA" or (cmd != "RCPT" and _filter_status(status)))
    ):
        # "user unknown" said after the recipient had been accepted (at DATA), or with a
        # mailbox or policy status (5.2.x, 5.7.x) or none at a step the report does not
        # name: the mailbox exists, a filter refused the message. (With an address status,
        # 5.1.x, or a vague 5.0.0 the words are all there is: the mailbox does not exist.)
        return "filtered", rule + "; not at RCPT"
    return reason, rule
