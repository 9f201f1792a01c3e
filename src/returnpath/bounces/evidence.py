"""What returnpath already knows about a returned message: whom the mail was for.

A returned message arrives at the tracking address of one delivery, so the relay knows the
recipient it answers before reading a word of it. `recognise(raw, recipient=...)` takes that
as evidence, for failure reports only (a DSN or a non-standard bounce; an auto-reply stays an
auto-reply, a complaint a complaint):

- the report names the recipient: nothing changes;
- it names nobody (a detector knew the notice but found no address, or a report without
  recipient fields): the recipient gets the failed row, with the notice's error text as its
  diagnostic;
- the recipient wrote it himself, as a person (a forward of his own bounce): no failure at
  all, but other;
- it names one address that is the recipient mangled (an alias domain, a truncated or
  rewritten local part), or a detector read another address out of its prose while the
  recipient appears in it: that row becomes the recipient's. (A DSN's Final-Recipient
  naming another address is where the mail went, an alias or a forward: it stays; so does
  an address the text says the recipient was expanded into, Postfix's "(expanded from
  <recipient>)" or Exim's "(generated from recipient)", with or without a DSN part.)

Every row changed here says so in its `rule`, after the rule that read the report.
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import notice
from .mail import Mail, clean_address
from .reasons import classify, normalise_text, receiving_hosts
from .verdict import BounceVerdict, Kind, Recipient

UNNAMED = ""  # the address of a row whose recipient the notice does not name
_FAILURE_KINDS = (Kind.DSN, Kind.BOUNCE)
_PROSE = 1000  # characters of a notice's own text kept as the diagnostic of an unnamed row

# Lines that carry the reason in a notice that names nobody: an SMTP reply or an RFC 3463
# status ("550 5.1.1 ...", "#5.1.1", "<<< 554 ..."), as any MTA writes them.
_REPLY_LINE = re.compile(r"^.*(?:(?<![\d.])[245]\d\d[ -]|(?<![\d.])#?[245]\.\d{1,3}\.\d{1,3}(?![\d.]*\d)).*$", re.M)


def apply(verdict: BounceVerdict, mail: Mail, recipient: str | None) -> BounceVerdict:
    """The verdict, with the delivery's `recipient` taken as evidence (see the module)."""
    known = clean_address(recipient) if recipient else ""
    rows = verdict.recipients
    if known and verdict.kind in _FAILURE_KINDS and _written_by(mail, known):
        return BounceVerdict(Kind.OTHER)
    if not known or verdict.kind not in _FAILURE_KINDS:
        return _without_unnamed(verdict)
    if any(r.address == known for r in rows):
        return _without_unnamed(verdict)
    unnamed = [r for r in rows if r.address == UNNAMED]
    if unnamed:
        row = replace(unnamed[0], address=known, rule=unnamed[0].rule + "; recipient: the delivery's (named nowhere)")
        return BounceVerdict(verdict.kind, (row, *(r for r in rows if r.address != UNNAMED)))
    if not rows:
        return BounceVerdict(verdict.kind, (_from_text(mail, known),))
    failures = [r for r in rows if r.action in ("failed", "delayed")]
    if len(failures) == 1:
        row = failures[0]
        if _mangled(row.address, known):
            note = f"; recipient: the delivery's (the report reads {row.address!r})"
        elif known in mail.lower_body and not row.rule.startswith("dsn:") and known not in _expanded_from(mail):
            # a detector read the wrong address out of prose; a DSN's Final-Recipient is not
            # prose: it names where the mail went (an alias, a forward), and the events keep both
            note = f"; recipient: the delivery's, named in the text (the report's field reads {row.address!r})"
        else:
            return verdict  # another address (an alias, a forward): the events keep both
        return BounceVerdict(
            verdict.kind, tuple(replace(r, address=known, rule=r.rule + note) if r is row else r for r in rows)
        )
    return verdict


# Where the text names the address an alias (or a .forward) expanded into, beside the alias
# the mail was sent to: Postfix "<final> (expanded from <alias>)" (bounce(8)), Sendmail
# "(expanded from: <alias>)" (savemail.c), Exim "(generated from alias)" and "(ultimately
# generated from alias)" (deliver.c, print_address_information). The row then names where
# the mail went, as a DSN's Final-Recipient does, and is right as it is.
_EXPANDED_FROM = re.compile(r"\((?:ultimately )?(?:expanded|generated) from:?\s*<?([^\s<>()]+)>?\)")


def _expanded_from(mail: Mail) -> set[str]:
    """The aliases the notice's text says its addresses were expanded from (lower case)."""
    return {clean_address(m.group(1)) for m in _EXPANDED_FROM.finditer(mail.lower_body)}


def _written_by(mail: Mail, known: str) -> bool:
    """Whether the delivery's recipient wrote the message himself, as a person (From is his
    address, no mail system's): a report of his mailbox failing cannot come from him. What
    it quotes is someone else's notice — his own bounce forwarded inline ("Fwd: Undelivered
    Mail Returned to Sender", Gmail's "---------- Forwarded message ---------"), which is
    read as a bounce when nothing says who wrote it (the Sisimai corpus counts one)."""
    return mail.sender == known and not notice.from_daemon(mail, null_return_path=False)


def _without_unnamed(verdict: BounceVerdict) -> BounceVerdict:
    if all(r.address != UNNAMED for r in verdict.recipients):
        return verdict
    return BounceVerdict(verdict.kind, tuple(r for r in verdict.recipients if r.address != UNNAMED))


def _mangled(reported: str, known: str) -> bool:
    """Whether `reported` is `known` as a server mangled it: the same local part at another
    domain (an alias domain, a rewritten host), or nearly the same address (truncated,
    a character lost or added by a broken encoder)."""
    if "@" not in reported:
        return reported == known.split("@", 1)[0]
    local, _, domain = reported.rpartition("@")
    known_local, _, known_domain = known.rpartition("@")
    if local == known_local:
        return True
    if domain == known_domain:
        return local.startswith(known_local) or known_local.startswith(local) or _near(local, known_local)
    return _near(reported, known)


def _near(a: str, b: str) -> bool:
    import difflib  # rarely needed: not loaded by every `returnpath parse`

    return difflib.SequenceMatcher(None, a, b).ratio() >= 0.9


def _from_text(mail: Mail, known: str) -> Recipient:
    """A failed row for a notice that names no recipient: its reply lines (or, with none, its
    own prose up to the returned copy) are the diagnostic the reason is read from."""
    text, _copy = notice.split_copy(mail.body)
    lines = _REPLY_LINE.findall(text)
    diagnostic = normalise_text(" ".join(lines) if lines else text)[:_PROSE]
    return prose_row(known, diagnostic, "recipient: the delivery's (named nowhere)")


def prose_row(address: str, diagnostic: str, where: str) -> Recipient:
    """A failed row whose only evidence is a report's words: the reason is read from them."""
    decided = classify(None, None, diagnostic, None, "failed", hosts=receiving_hosts(None, address))
    return Recipient(
        address,
        "failed",
        decided.status,
        None,
        diagnostic,
        None,
        None,
        decided.reason,
        decided.hard,
        f"{where} -> {decided.rule}",
    )
