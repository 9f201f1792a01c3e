"""Why a message bounced: status, reply code and diagnostic text -> a Sisimai reason.

The rules are data (`reasons.toml`, read once); this module only applies them in order:
the receiving provider's own codes (`[[host]]`), decisive status, text rules (first match
wins), vague status, fallbacks. `classify` is what every recogniser calls — the DSN reader,
each lhost detector and our own delivery's refusals — so one reply line gets one reason
wherever it was found, and the verdict's `rule` says which rule decided.

Cost matters: `returnpath parse` reads one file, the returned-mail worker thousands; the
patterns are compiled on first need and found through an index (`patterns.py`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from . import patterns as _patterns
from .patterns import Index, Pattern

RULES_FILE = Path(__file__).with_name("reasons.toml")

# Reasons that are never a failure to deliver (kept apart so callers can tell).
NOT_FAILURES = frozenset({"delivered", "vacation", "feedback", "expanded"})
# Sisimai's "retry" reasons (Reason->get reconsiders them): a detector's phrase that says one
# gives way to a specific reason the same recipient's words or status show (see __init__.py).
WEAK_REASONS = frozenset(
    {"undefined", "onhold", "systemerror", "securityerror", "networkerror", "hostunknown", "userunknown"}
)

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.]*\d)")
_REPLY_PREFIX = re.compile(r"\b([245]\d\d)-(?:([245]\.\d{1,3}\.\d{1,3}) )?")
_HOST_END = re.compile(r"[\s\[(]")  # "mx.example.org[192.0.2.1]", "mx.example.org (192.0.2.1)"
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
    patterns: tuple[Pattern, ...]
    provider: str = ""  # a [[host]] rule: the provider whose codes these are
    hosts: tuple[str, ...] = ()  # ... its host names (suffixes); the rule applies to them
    anywhere: bool = False  # ... and also without the host: the codes are the provider's alone
    command: str = ""  # ... and only in a refusal at this SMTP step ("DATA"), when one is set

    def key(self, pattern: Pattern) -> str:
        """How the verdict's `rule` names a pattern of this rule: "text mailboxfull [over the
        quota]: 'over ?quota'", "host yahoo blocked: '\\[ts03\\]'"."""
        where = f"host {self.provider} " if self.provider else "text "
        family = f" [{pattern.family}]" if pattern.family else ""
        return f"{where}{self.reason}{family}: {pattern.source!r}"

    def unit(self, pattern: Pattern) -> str:
        """The wording rule a pattern is part of: its family ("text mailboxfull [over the
        quota]"), or the pattern itself when it has none ("host yahoo blocked: '...'")."""
        where = f"host {self.provider} " if self.provider else "text "
        if pattern.family:
            return f"{where}{self.reason} [{pattern.family}]"
        return f"{where}{self.reason}: {pattern.source!r}"


@dataclass(frozen=True, slots=True)
class Rules:
    decisive: dict[str, str]
    vague: dict[str, str]
    text: tuple[Rule, ...]
    hard: frozenset[str]
    host: tuple[Rule, ...] = ()
    index: Index[Rule] = field(init=False)  # the wording rules' patterns, found by their strings
    providers: dict[str, str] = field(init=False)  # host suffix -> provider

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", Index([(p, r) for r in self.host + self.text for p in r.patterns]))
        object.__setattr__(self, "providers", {h: r.provider for r in self.host for h in r.hosts})

    def restricted(self, keep: Collection[str]) -> Rules:
        """The same rules with only the wording rules named in `keep` (by `Rule.unit`):
        the split score of bench/parse_accuracy.py scores half of the corpus with the rules
        that also decide something in the other half."""

        def only(rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
            return tuple(replace(r, patterns=tuple(p for p in r.patterns if r.unit(p) in keep)) for r in rules)

        return replace(self, text=only(self.text), host=only(self.host))


def load(path: Path = RULES_FILE) -> Rules:
    import tomllib  # here: a start that finds the rules cached (`load_cached`) needs no TOML

    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return _build(data)


def _build(data: dict[str, Any]) -> Rules:
    text = tuple(_rule(r) for r in data.get("reason", ()))
    hard = frozenset(r.reason for r in text if r.hard)
    providers = data.get("provider", {})
    host = tuple(_rule(r, providers) for r in data.get("host", ()))
    status = data.get("status", {})
    return Rules(dict(status.get("decisive", {})), dict(status.get("vague", {})), text, hard, host)


def _rule(entry: dict[str, Any], providers: dict[str, dict[str, Any]] | None = None) -> Rule:
    # the diagnostic is lower-cased once before matching, so no IGNORECASE (slower) here
    patterns = tuple(Pattern(str(p)) for p in entry.get("patterns", ())) + tuple(
        Pattern(str(p), str(family["name"])) for family in entry.get("family", ()) for p in family["patterns"]
    )
    if providers is None:
        return Rule(str(entry["name"]), bool(entry.get("hard", False)), str(entry.get("doc", "")), patterns)
    provider = str(entry["provider"])
    hosts = tuple(str(h).lower() for h in providers[provider].get("hosts", ()))
    return Rule(
        str(entry["reason"]),
        False,  # hard or not is the reason's, as the text rules say
        str(entry.get("doc", "")) or str(providers[provider].get("doc", "")),
        patterns,
        provider,
        hosts,
        bool(entry.get("anywhere", False)),
        str(entry.get("command", "")).upper(),
    )


def load_cached(path: Path = RULES_FILE) -> Rules:
    """`load(path)`, kept beside the bytecode: reading and indexing the rules takes ~50 ms,
    unpickling them ~2 ms, and `returnpath parse` should start in well under 0.2 s.

    The cache is what Python does for modules: a file in `__pycache__`, named by a digest of
    the rules and of the code that builds them (so an edit of either makes a new one), written
    when the folder is writable and bytecode is written (`sys.dont_write_bytecode`), and
    read as trusted as the `.pyc` beside it. Any problem with it means building afresh.
    """
    digest = hashlib.sha256()
    for source in (path, Path(__file__), Path(_patterns.__file__)):
        digest.update(source.read_bytes())
    cache = path.parent / "__pycache__" / f"{path.stem}.{sys.implementation.cache_tag}.{digest.hexdigest()[:16]}.pickle"
    try:
        rules = pickle.loads(cache.read_bytes())
        if isinstance(rules, Rules):
            return rules
    except Exception:  # absent, unreadable or from elsewhere: build afresh
        pass
    rules = load(path)
    if not sys.dont_write_bytecode:
        temporary = cache.with_name(f"{cache.name}.{os.getpid()}")
        try:
            cache.parent.mkdir(exist_ok=True)
            temporary.write_bytes(pickle.dumps(rules, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(temporary, cache)  # whole or not at all, whoever else writes it
            for old in cache.parent.glob(f"{path.stem}.{sys.implementation.cache_tag}.*.pickle"):
                if old != cache:  # of rules or code since edited
                    old.unlink(missing_ok=True)
        except OSError:  # a read-only install: every start builds them, as before
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
    return rules


RULES = load_cached()
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


# Exchange (2013 and later, and Exchange Online) reports a next hop's temporary refusal inside
# its own "451 4.4.0 Primary target IP address responded with: "<the remote's reply>"" (the
# wording of its delay notices and their Diagnostic-Code, as learn.microsoft.com's NDR pages
# quote it, e.g. 'responded with: "421 4.4.2 Connection dropped due to SocketError"'): the
# 4.4.0 is Exchange's own summary, the quoted reply's status is the remote's and says why.
_WRAPPED_REPLY = re.compile(r"primary target ip address responded with:?", re.IGNORECASE)


def find_status(text: str) -> str | None:
    """The most precise RFC 3463 status written in a text (not x.0.0 if a better one is there)."""
    wrapper = _WRAPPED_REPLY.search(text)
    if wrapper:
        inner = find_status(text[wrapper.end() :])
        if not is_vague(inner):
            return inner
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


def receiving_hosts(remote: str | None, recipient: str) -> tuple[str, str]:
    """`classify`'s `hosts` for a refusal: the host that refused and the recipient's domain."""
    return (remote or "", recipient.rpartition("@")[2])


def host_names(hosts: Sequence[str]) -> tuple[str, ...]:
    """Host names as the rules compare them: lower case, without "[192.0.2.1]", "(...)",
    a trailing dot or a "dns;" type; an address literal is no name and is dropped."""
    names = []
    for host in hosts:
        name = (host or "").lower().rpartition(";")[2].strip()
        name = _HOST_END.split(name, maxsplit=1)[0].rstrip(".")
        if "." in name and not name.replace(".", "").isdigit():
            names.append(name)
    return tuple(names)


@functools.lru_cache(maxsize=4096)
def _providers(hosts: tuple[str, ...]) -> frozenset[str]:
    """The providers serving these hosts (remote MTAs and recipient domains repeat: cached)."""
    return frozenset(_served_by(host_names(hosts)))


def _served_by(names: tuple[str, ...]) -> set[str]:
    """The providers whose hosts include one of these names (or a domain above it)."""
    found = set()
    for name in names:
        labels = name.split(".")
        for i in range(len(labels) - 1):
            provider = RULES.providers.get(".".join(labels[i:]))
            if provider:
                found.add(provider)
    return found


def match(diagnostic: str, hosts: Sequence[str] = (), command: str | None = None) -> tuple[str, str] | None:
    """(reason, rule) of the first wording rule that matches, or None: first the codes of a
    provider that serves one of `hosts` and those written `anywhere = true` (codes no one
    else writes), then the text rules. (A match of the first kind names "host <provider>".)
    A provider's rule that names an SMTP step holds only for a refusal at that `command`."""
    text = diagnostic[:MAX_DIAGNOSTIC].lower()
    served = _providers(tuple(hosts)) if hosts else frozenset()
    entries = RULES.index.entries
    for n in RULES.index.candidates(text):
        pattern, rule = entries[n]
        if rule.provider and not (rule.anywhere or rule.provider in served):
            continue
        if rule.command and rule.command != (command or "").upper():
            continue
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
    reason, rule = _decide(status, code, text, action, (diagnostic_type or "").lower(), hosts, command)
    reason, rule = _adjust(reason, rule, status, command)
    return Classification(reason, is_hard(reason, status, code, action), status, rule)


def _decide(
    status: str | None,
    code: int | None,
    text: str,
    action: str,
    diagnostic_type: str,
    hosts: Sequence[str],
    command: str | None,
) -> tuple[str, str]:
    if status and status.startswith("2"):
        return "delivered", f"status {status}"
    matched = match(text, hosts, command)
    if matched and matched[1].startswith("host"):
        return matched  # the receiving provider's own code says more than status or wording
    decisive = _status_key(RULES.decisive, status)
    if decisive:
        if matched and matched[0] in _WORDS_OVER_STATUS.get(decisive, ()):
            # "550 5.1.1 ... mailbox is over quota": servers that answer every refusal with
            # one status; the words are more precise than the status
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
    if not _WORD.search(_NOT_WORDS.sub(" ", text)):
        # "550 5.0.0", "554 <addr>...": a reply code, a status, an address and no word of
        # cause — as little as no diagnostic (Sisimai's undefined), nothing a rule could read
        return "undefined", "no words in the diagnostic"
    return "onhold", "no rule matched"


# What a diagnostic without words of its own still carries: reply codes, statuses, addresses.
_NOT_WORDS = re.compile(r"<[^<>]*>|\S+@\S+|\b[245]\d\d\b|\b[245]\.\d{1,3}\.\d{1,3}\b")
_WORD = re.compile(r"[^\W\d_]{2,}")


# A decisive status -> the reasons whose words win over it.
_WORDS_OVER_STATUS: dict[str, frozenset[str]] = {
    # 5.1.1 written for every refusal: "550 5.1.1 ... mailbox is over quota", "... relay
    # access denied", "... account disabled"
    "userunknown": frozenset(
        {"norelaying", "blocked", "mailboxfull", "hasmoved", "rejected", "notaccept", "filtered", "suspend"}
    ),
    # "551 5.1.6 User not local" / "not our customer": no such mailbox here (RFC 5321's 551)
    "hasmoved": frozenset({"userunknown"}),
    # X.5.3 and X.2.3 for a rate: "452 4.5.3 Too many connections" is no recipient limit
    "exceedlimit": frozenset({"toomanyconn"}),
    # X.7.27 is a sender domain's null MX (RFC 7505), and Gmail's refusal for an SPF hard
    # fail (support.google.com/a/answer/3726730: "550 5.7.27 The MAIL FROM domain [x] has an
    # SPF record with a hard fail policy (-all) but it fails to pass SPF checks"): the words
    # tell which
    "notaccept": frozenset({"authfailure"}),
}
_SENDER_STAGE = ("userunknown", "hostunknown", "filtered", "suspend", "undefined", "onhold")


def _adjust(reason: str, rule: str, status: str | None, command: str | None) -> tuple[str, str]:
    """Sisimai's conventions about the SMTP step a refusal answered."""
    cmd = (command or "").upper()
    if cmd == "MAIL" and reason in _SENDER_STAGE:
        # refused at MAIL FROM: whatever the words, it is the sender that was refused
        return "rejected", rule + "; at MAIL"
    if cmd in ("HELO", "EHLO", "CONN") and (
        reason in ("hostunknown", "userunknown", "filtered", "onhold", "undefined") or rule.startswith("vague status")
    ):
        # refused before any address was given: it is this client that was refused (no
        # recipient's filter either: "Connection refused - <ip> - Sender is on blocklist"
        # names the connecting host, the only sender known at that step)
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
