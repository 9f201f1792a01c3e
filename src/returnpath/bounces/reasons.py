"""Why a message bounced: status, reply code and diagnostic text -> a Sisimai reason.

The rules are data (`reasons.toml`, read once); this module only applies them in order:
the receiving provider's own codes (`[[host]]`), decisive status, text rules (first match
wins), vague status, fallbacks. `classify` is what every recogniser calls — the DSN reader,
each lhost detector and our own delivery's refusals — so one reply line gets one reason
wherever it was found, and the verdict's `rule` says which rule decided.

Start-up cost matters (`returnpath parse` reads one file): a pattern is compiled the first
time its required literal (a run of plain characters every match contains, found by a small
scanner) occurs in a diagnostic, so most patterns are never compiled in a short run.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
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


class Pattern:
    """One regular expression of reasons.toml, compiled on first need.

    `literal` is a run of plain characters every match contains ("" when there is none):
    the plain `in` test skips most searches, and the compilation of patterns whose literal
    never occurs."""

    __slots__ = ("_compiled", "literal", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.literal = required_literal(source)
        self._compiled: re.Pattern[str] | None = None

    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source)
        return self._compiled

    def search(self, text: str) -> bool:
        return self.literal in text and self.compiled().search(text) is not None


@dataclass(frozen=True, slots=True)
class Rule:
    reason: str
    hard: bool
    doc: str
    patterns: tuple[Pattern, ...]
    provider: str = ""  # a [[host]] rule: the provider whose codes these are
    hosts: tuple[str, ...] = ()  # ... its host names (suffixes); the rule applies to them
    anywhere: bool = False  # ... and also without the host: the codes are the provider's alone

    def key(self, pattern: Pattern) -> str:
        """How the verdict's `rule` names a pattern of this rule (and `Rules.restricted` takes it)."""
        where = f"host {self.provider} " if self.provider else "text "
        return f"{where}{self.reason}: {pattern.source!r}"


@dataclass(frozen=True, slots=True)
class Rules:
    decisive: dict[str, str]
    vague: dict[str, str]
    text: tuple[Rule, ...]
    hard: frozenset[str]
    host: tuple[Rule, ...] = ()

    def restricted(self, keep: Collection[str]) -> Rules:
        """The same rules with only the wording patterns named in `keep` (by `Rule.key`):
        the split score of bench/parse_accuracy.py scores half of the corpus with the rules
        that also decide something in the other half."""

        def only(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
            return tuple(replace(r, patterns=tuple(p for p in r.patterns if r.key(p) in keep)) for r in rules)

        return replace(self, text=only(self.text), host=only(self.host))


def load(path: Path = RULES_FILE) -> Rules:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    text = tuple(_rule(r) for r in data.get("reason", ()))
    hard = frozenset(r.reason for r in text if r.hard)
    providers = data.get("provider", {})
    host = tuple(_rule(r, providers) for r in data.get("host", ()))
    status = data.get("status", {})
    return Rules(dict(status.get("decisive", {})), dict(status.get("vague", {})), text, hard, host)


def _rule(entry: dict[str, object], providers: dict[str, dict[str, object]] | None = None) -> Rule:
    # the diagnostic is lower-cased once before matching, so no IGNORECASE (slower) here
    patterns = tuple(Pattern(str(p)) for p in entry.get("patterns", ()))  # type: ignore[attr-defined]
    if providers is None:
        return Rule(str(entry["name"]), bool(entry.get("hard", False)), str(entry.get("doc", "")), patterns)
    provider = str(entry["provider"])
    hosts = tuple(str(h).lower() for h in providers[provider].get("hosts", ()))  # type: ignore[attr-defined]
    return Rule(
        str(entry["reason"]),
        False,  # hard or not is the reason's, as the text rules say
        str(entry.get("doc", "")) or str(providers[provider].get("doc", "")),
        patterns,
        provider,
        hosts,
        bool(entry.get("anywhere", False)),
    )


def required_literal(pattern: str) -> str:
    """The longest run of plain characters at the top level of a pattern: every match
    contains it ("" when there is none, e.g. a top-level alternation).

    A small scanner of the `re` syntax that reasons.toml uses: an escaped punctuation mark
    is a plain character; groups, classes, `.`, anchors and class escapes (`\\d`, `\\b`) end
    a run; a character under `?`, `*` or `{m,n}` is not part of one. Wrong only towards a
    shorter literal (a slower, never a wrong, answer)."""
    best, run = "", ""
    i, depth, end = 0, 0, len(pattern)
    while i < end:
        char = pattern[i]
        plain: str | None = None
        if char == "\\" and i + 1 < end:
            plain = None if pattern[i + 1].isalnum() else pattern[i + 1]
            i += 2
        elif char == "[":
            i = _class_end(pattern, i)
        elif char in "()":
            depth += 1 if char == "(" else -1
            i += 1
        elif char == "|" and depth == 0:
            return ""  # a top-level alternation: no literal is in every match
        else:
            plain = None if char in ".^$|" else char
            i += 1
        repeat = ""
        if i < end and pattern[i] in "?*+{" and char != "(":
            repeat = pattern[i]
            close = pattern.find("}", i) if repeat == "{" else i
            i = (close if close > i or repeat != "{" else i) + 1
            if i < end and pattern[i] in "?+":
                i += 1  # lazy or possessive
        if plain is None or depth > 0 or repeat in ("?", "*", "{"):
            best, run = max(best, run, key=len), ""
        elif repeat == "+":  # "x+": one x at least, then the run starts again
            best, run = max(best, run + plain, key=len), plain
        else:
            run += plain
    return max(best, run, key=len)


def _class_end(pattern: str, start: int) -> int:
    """The index after the `]` that closes the character class opened at `start`."""
    i = start + 1
    if i < len(pattern) and pattern[i] == "^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # a "]" first in a class is a member
    while i < len(pattern) and pattern[i] != "]":
        i += 2 if pattern[i] == "\\" else 1
    return i + 1


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


def host_names(hosts: Sequence[str]) -> tuple[str, ...]:
    """Host names as the rules compare them: lower case, without "[192.0.2.1]", "(...)",
    a trailing dot or a "dns;" type; an address literal is no name and is dropped."""
    names = []
    for host in hosts:
        name = (host or "").lower().split(";")[-1].strip()
        name = re.split(r"[\s\[(]", name, maxsplit=1)[0].rstrip(".")
        if "." in name and not name.replace(".", "").isdigit():
            names.append(name)
    return tuple(names)


def _serves(rule: Rule, names: tuple[str, ...]) -> bool:
    return any(name == h or name.endswith("." + h) for name in names for h in rule.hosts)


def match_host(diagnostic: str, hosts: Sequence[str] = ()) -> tuple[str, str] | None:
    """(reason, rule) of the first provider code that matches: the rules of a provider that
    serves one of `hosts`, and those written `anywhere = true` (codes no one else writes)."""
    text = diagnostic[:MAX_DIAGNOSTIC].lower()
    names = host_names(hosts)
    for rule in RULES.host:
        if rule.anywhere or _serves(rule, names):
            for pattern in rule.patterns:
                if pattern.search(text):
                    return rule.reason, rule.key(pattern)
    return None


def match_text(diagnostic: str) -> tuple[str, str] | None:
    """(reason, rule) of the first text rule that matches, or None."""
    text = diagnostic[:MAX_DIAGNOSTIC].lower()
    for rule in RULES.text:
        for pattern in rule.patterns:
            if pattern.search(text):
                return rule.reason, rule.key(pattern)
    return None


def classify(
    status: str | None,
    code: int | None,
    diagnostic: str,
    command: str | None = None,
    action: str = "failed",
    diagnostic_type: str | None = None,
    *,
    hosts: Sequence[str] = (),
) -> Classification:
    """Decide the reason for one recipient's report.

    `status` is the RFC 3463 status as reported (may be vague or absent); `code` the SMTP
    reply code; `diagnostic` the remote text; `command` the SMTP command it answered
    (HELO, EHLO, MAIL, RCPT, DATA; CONN for the greeting), `action` failed or delayed, and
    `diagnostic_type` the DSN's Diagnostic-Code type (smtp, x-unix, x-postfix, ...).
    `hosts` names the receiving side — the remote MTA's host name, the recipient's domain —
    so that a provider's own codes (reasons.toml `[[host]]`) are read as that provider
    documents them.
    """
    text = normalise_text(diagnostic)
    if is_vague(status):
        mined = find_status(text)
        if mined and (status is None or not is_vague(mined)):
            status = mined
    if code is None:
        code = find_code(text)
    reason, rule = _decide(status, code, text, action, (diagnostic_type or "").lower(), hosts)
    reason, rule = _adjust(reason, rule, status, command)
    return Classification(reason, is_hard(reason, status, code, action), status, rule)


def _decide(
    status: str | None, code: int | None, text: str, action: str, diagnostic_type: str, hosts: Sequence[str]
) -> tuple[str, str]:
    if status and status.startswith("2"):
        return "delivered", f"status {status}"
    provider = match_host(text, hosts)
    if provider:  # the receiving provider's own code says more than any generic wording
        return provider
    decisive = _status_key(RULES.decisive, status)
    matched = match_text(text)
    if decisive:
        if decisive == "userunknown" and matched and matched[0] in _NOT_A_MISSING_MAILBOX:
            # "550 5.1.1 ... mailbox is over quota": servers that answer every refusal with
            # 5.1.1; the words are more precise than the status
            return matched[0], f"{matched[1]} (over status {status})"
        return decisive, f"status {status}"
    if matched:
        return matched
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
    {"norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept", "filtered", "suspend"}
)
_SENDER_STAGE = ("userunknown", "hostunknown", "filtered", "suspend", "undefined", "onhold")


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


def _filter_status(status: str | None) -> bool:
    return status is None or status.split(".")[1:2] in (["2"], ["7"])
