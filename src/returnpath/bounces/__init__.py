"""Bounce recognition: the raw bytes of a returned message -> a `BounceVerdict`.

Pure code: no I/O, no clock. `recognise` never raises — a message nothing can read is
`Kind.OTHER`. The steps, in order (the first that recognises the message decides):

1. `arf`       an RFC 5965 feedback report, or a digest of them (or Microsoft's JMRP,
                Apple's unsubscribe mail, SpamCop's plain-text report) -> complaint;
                an X-ARF network abuse report -> other
   `challenge` a challenge/response message ("confirm you are a person") -> other, before
                the DSN reader: some wrap a delivery-status part that says failed; and a
                quarantine filter's digest of the mail it holds for a mailbox -> other
   digest      a mailing list's digest (multipart/digest) -> other: a bounce among its
                messages was sent to the list, not to us; and a person's forward of a
                notice about his own mail, or a list's notice to its owner of a bounce that
                came to the list -> other
2. `dsn`       an RFC 3464 delivery-status report, read by its fields -> dsn / delivery
                (also one forwarded as an attachment, or several attached together; one
                without recipient blocks names them in X-Failed-Recipients or the returned
                message's To; a bounce of a bounce passed on to the address it says
                failed is read as the bounce it returns)
3. `autoreply` RFC 3834 and the non-standard signs of auto-responders -> autoreply
4. `lhost`     the rules of the software that wrote a non-standard bounce -> bounce; the
                last, `lhost/generic`, reads any failure or delay notice by its shape (and
                the notices a detector knew but found no recipient in)
5. a broken delivery-status report that no rule could read -> dsn without recipients
6. anything else -> other

With `recipient` (the delivery a returned message answers: it came to that delivery's
tracking address), a failure report that names the recipient only in its text, mangled or
not at all still gives that recipient a failed row (`evidence.py`).

Why (reason, hard/soft) is decided for every recipient by `reasons.classify`; each
`Recipient.rule` says which field or rule decided.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace

from . import arf, autoreply, challenge, dsn, evidence, notice, regex, rules
from .lhost import generic
from .mail import Mail, addresses, clean_address
from .reasons import WEAK_REASONS, Classification, classify, is_hard, normalise_text, receiving_hosts
from .rules import Detector, Found
from .verdict import BounceVerdict, Kind, Recipient

__all__ = ["BounceVerdict", "Kind", "Recipient", "recognise"]

_FAILURES = ("failed", "delayed")


def recognise(raw: bytes, recipient: str | None = None) -> BounceVerdict:
    """What a returned message says; never raises (worst case `Kind.OTHER`).

    `recipient` is the address the returned mail was for, when the caller knows it (the
    delivery whose tracking address it reached): evidence for a report that does not name it.
    """
    try:
        mail = Mail.parse(raw)
        return evidence.apply(_recognise(mail), mail, recipient)
    except Exception:  # a bug here must not stop the returned-mail worker; the raw is kept
        return BounceVerdict(Kind.OTHER)


def _recognise(mail: Mail) -> BounceVerdict:
    complaint = arf.read(mail)
    if complaint is None:
        complaint = arf.read_jmrp(mail)
    if complaint is None:
        complaint = arf.read_unsubscribe(mail)
    if complaint is None:
        complaint = arf.read_spamcop(mail)
    if complaint is not None:
        return BounceVerdict(Kind.COMPLAINT, tuple(complaint))
    if arf.is_xarf(mail):  # a network's abuse report, with report fields no bounce reader should take
        return BounceVerdict(Kind.OTHER)

    if challenge.is_challenge(mail):  # before the DSN reader: some wrap an "Action: failed" part
        return BounceVerdict(Kind.OTHER)
    if challenge.is_quarantine_digest(mail):  # other senders' held mail, listed as "blocked"
        return BounceVerdict(Kind.OTHER)
    if mail.is_digest:  # a list's digest of messages, one of which may be a bounce sent to the list
        return BounceVerdict(Kind.OTHER)
    if _forwards_own_notice(mail):
        return BounceVerdict(Kind.OTHER)

    report = dsn.read(mail)
    found: list[Recipient] = []
    if report is not None:
        found = _report_rows(mail, report, mail.body, mail)
    else:
        # a report forwarded as an attachment (a help desk, or a filter that wraps bounces),
        # or several: a relay that collects the notices for one sender and sends them on
        # together, each a message/rfc822 part (blind batch 32's exim-batched-01)
        for inner in mail.attached_mails(containing=b"elivery-status"):
            inner_report = dsn.read(inner)
            if inner_report is not None:
                report = report or inner_report
                found += _report_rows(mail, inner_report, inner.body, inner)
        found = _dedupe(found)
    if found:
        return BounceVerdict(_report_kind(found, Kind.DSN), tuple(found))

    replier = autoreply.read(mail)
    if replier is not None:
        return BounceVerdict(Kind.AUTOREPLY, tuple(replier))

    verdict = _run_detectors(mail)
    if verdict is not None and not verdict.recipients:  # the software known, its recipient not:
        verdict = _run_detectors(mail, [d for d in rules.DETECTORS if d.name == "generic"]) or verdict
    if verdict is not None:
        return verdict

    if report is not None:  # a delivery-status report without readable recipient fields
        return BounceVerdict(Kind.DSN)
    return BounceVerdict(Kind.OTHER)


def _report_rows(mail: Mail, report: dsn.Report, text: str, holder: Mail) -> list[Recipient]:
    """The rows of a delivery-status report found in `holder` (`mail` itself or a message
    attached to it) — or, when it is a bounce of a bounce passed on, of the bounce it returns."""
    found = dsn.recipients(report, text, holder) or (_unnamed(mail, holder, text) if not report.recipients else [])
    returned = _returned_notice(mail, holder, found)
    return list(returned.recipients) if returned is not None else found


def _returned_notice(mail: Mail, holder: Mail, found: Sequence[Recipient]) -> BounceVerdict | None:
    """A bounce of a bounce passed on to the address it says failed: the verdict of the
    bounce it returns. A bounce that could not be delivered goes to the postmaster as a
    double bounce (sendmail's "Postmaster notify: see transcript for details", Postfix's
    "Postmaster Copy: Undelivered Mail" with notify_classes = 2bounce), whose report names
    the first bounce's recipient — the envelope sender of the mail that failed, our tracking
    address — and whose returned message is that first bounce. Kept by the postmaster, it
    reports that address (as Sisimai reads lhost-sendmail-41); sent on to that very address
    (a postmaster's forward, a redirect), the address evidently takes mail, and what the
    message tells it is what the first bounce reports."""
    failed = {r.address for r in found if r.action in _FAILURES}
    head = mail.root.head.lower()
    if not any(a.encode("utf-8", "replace") in head for a in failed) or failed.isdisjoint(_delivered_to(mail)):
        return None  # (the first test, on the raw header block, spares most reports the second)
    for inner in holder.attached_mails():
        if notice.from_daemon(inner) and failed <= set(addresses(inner.header("to"))):
            verdict = _recognise(inner)
            if verdict.kind in (Kind.BOUNCE, Kind.DSN) and verdict.recipients:
                return verdict
    return None


_FOR = regex.compile(r"\bfor\s+<?([^\s<>;]+@[^\s<>;]+)>?", re.IGNORECASE)


def _delivered_to(mail: Mail) -> set[str]:
    """The addresses a message says it was delivered to: its To, Resent-To, Delivered-To
    and X-Original-To, and the "for <address>" of the Received field the last hop added."""
    found = {a for name in _DELIVERY_FIELDS for a in addresses(mail.header(name))}
    received = mail.root.get("received") or ""
    m = _FOR.search(received)
    if m:
        found.add(clean_address(m.group(1)))
    return found - {""}


_DELIVERY_FIELDS = ("to", "resent-to", "delivered-to", "x-original-to", "envelope-to")


def _unnamed(mail: Mail, holder: Mail, text: str) -> list[Recipient]:
    """The recipients of a report (in `holder`) without recipient blocks: those its headers
    or its returned message name (`dsn.unnamed`), else those its human-readable part names
    next to an error text, read as the generic layer reads any notice. RFC 3464 section 2
    makes that first part the explanation for people; servers that drop the per-recipient
    fields still write it: Netscape Messaging Server's "The following recipients did not
    receive your message:", MIMEsweeper's "A message could not be delivered to:" (flufl.bounce's
    netscape_01, simple_13 and simple_31 test emails)."""
    if not mail.header("x-failed-recipients"):
        found = [f for f in generic.read(holder, declared=True) or [] if f.pattern in generic.NAMED_IN_TEXT]
        rows = [r for r in _dedupe(_recipient(generic.DETECTOR, f) for f in found) if r.address]
        if rows:
            return rows
    return dsn.unnamed(mail, text)


def _forwards_own_notice(mail: Mail) -> bool:
    """A person's forward of a notice about his own mail: a mail system's notice, attached as a
    message, that was sent to the person who forwards it. Notices go to the envelope sender
    of the mail they report on (RFC 5321 section 4.5.5, RFC 3461 section 6), so this one
    reports on the forwarder's message, not on ours — unlike a help desk or postmaster
    passing on a notice that came to our tracking address, which is read as that notice.
    (An inline forward, with the notice quoted in the text, is still read as the notice: the
    Sisimai corpus counts one, maildir/bsd/lhost-sendmail-14.eml, as the bounce it quotes.)"""
    forwarder = mail.sender
    if not forwarder or notice.from_daemon(mail, null_return_path=False):
        return False
    # the forwarder's addresses: its From, and those a mailing list sends its own mail from
    # (Sender, the envelope's Return-Path), the list's bounce address among them. Mailman's
    # "Uncaught bounce notification" to the list owner attaches a notice that came to the
    # list's -bounces address about a member's copy of a post: the list's mail, not ours
    # (as a list's digest that holds a bounce, `Mail.is_digest`)
    own = {forwarder} | {clean_address(mail.header(name)) for name in ("sender", "return-path")} - {""}
    return any(
        notice.from_daemon(inner)
        and inner.sender not in own
        and not own.isdisjoint(addresses(inner.header("to")))
        and not any(notice.from_daemon(returned) for returned in inner.attached_mails())
        for inner in mail.attached_mails()
    )


def _report_kind(recipients: Sequence[Recipient], failure: Kind) -> Kind:
    if any(r.action in _FAILURES for r in recipients):
        return failure
    if recipients and all(r.reason == "feedback" for r in recipients):
        return Kind.COMPLAINT
    if recipients and all(r.reason == "vacation" for r in recipients):
        return Kind.AUTOREPLY
    return Kind.DELIVERY


def _run_detectors(mail: Mail, detectors: Sequence[Detector] | None = None) -> BounceVerdict | None:
    for detector in rules.DETECTORS if detectors is None else detectors:
        try:
            found = detector.detect(mail)
        except Exception:  # one detector's bug must not hide the others' answers
            continue
        if found is None:
            continue
        recipients = _dedupe(_recipient(detector, f) for f in found)
        return BounceVerdict(_report_kind(recipients, Kind.BOUNCE) if recipients else Kind.BOUNCE, tuple(recipients))
    return None


# Sisimai's "retry" reasons: a detector's phrase that says one of these gives way to a
# specific reason that `classify` reads in the same recipient's wording or status (as
# Sisimai's Reason->get reconsiders them); otherwise the phrase's reason stands. The words
# besides the phrase are read first; the whole text next, where a reason of Sisimai's first
# class order (`_ORDER`) wins only over a weak one it comes before ("User not listed in
# public Name & Address Book" is no block list). A decisive status in the words (5.1.1)
# decides even a weak reason: Exim's "LMTP error after RCPT TO:<a>: 550 5.1.1 <a> User
# doesn't exist" is the LMTP server's unknown user, not the wrapper's systemerror, as Sisimai
# recomputes a retry reason from the status. A delay's rows are reconsidered the same
# way (Exim's "LMTP error after RCPT TO:<a>: 452 4.2.2 <a> Quota exceeded" quotes the LMTP
# server, whose words say more than the phrase), but the delay's own fallback, expired, is
# no reading of the words and does not displace the phrase. (`WEAK_REASONS` is defined in
# reasons.py, where the detectors' own reconsiderations read it too.)
_ORDER = (
    "mailboxfull", "mesgtoobig", "exceedlimit", "suspend", "hasmoved", "norelaying", "userunknown",
    "filtered", "rejected", "hostunknown", "spamdetected", "toomanyconn", "blocked",
)  # fmt: skip


def _specific(decided: Classification) -> bool:
    # (not one of reasons._adjust's conventions about the SMTP step: those are for wording)
    adjusted = "; at " in decided.rule or "; not at " in decided.rule
    by_default = decided.rule == "action delayed"
    if adjusted or by_default or decided.reason == "delivered":
        return False
    return decided.reason not in WEAK_REASONS or decided.rule.startswith("status ")


def _reconsider(found: Found, diagnostic: str, hosts: tuple[str, str]) -> Found:
    """`found` (whose reason is weak) with the specific reason its words show, if any."""
    weak = found.reason or ""
    at = diagnostic.lower().find(found.phrase) if found.phrase else -1
    rest = diagnostic[:at] + " " + diagnostic[at + len(found.phrase) :] if at >= 0 else diagnostic
    decided = classify(found.status, found.code, rest, found.command, found.action, hosts=hosts)
    if not _specific(decided) and at >= 0:
        decided = classify(found.status, found.code, diagnostic, found.command, found.action, hosts=hosts)
        r = decided.reason
        if r in _ORDER and weak in _ORDER and _ORDER.index(r) > _ORDER.index(weak):
            return found
    if not _specific(decided):
        return found
    return replace(found, reason=decided.reason, pattern=f"{found.pattern}; over it {decided.rule}")


def _recipient(detector: Detector, found: Found) -> Recipient | None:
    address = clean_address(found.address)
    if not address and found.address.strip():
        return None  # something that is no address; "" is a row whose recipient is unnamed
    diagnostic = normalise_text(found.diagnostic)
    where = f"lhost/{detector.name}" + (f": {found.pattern}" if found.pattern else "")
    if found.action in ("delivered", "relayed", "expanded"):
        return Recipient(
            address,
            found.action,
            found.status,
            found.code,
            diagnostic,
            found.remote_mta,
            found.command,
            "delivered",
            False,
            where,
        )
    hosts = receiving_hosts(found.remote_mta, address)
    if found.reason in WEAK_REASONS and found.action in ("failed", "delayed"):
        found = _reconsider(found, diagnostic, hosts)
        where = f"lhost/{detector.name}: {found.pattern}"
    if found.reason:
        return Recipient(
            address,
            found.action,
            found.status,
            found.code,
            diagnostic,
            found.remote_mta,
            found.command,
            found.reason,
            is_hard(found.reason, found.status, found.code, found.action),
            where,
            found.feedback_type,
        )
    decided = classify(found.status, found.code, diagnostic, found.command, found.action, hosts=hosts)
    return Recipient(
        address,
        found.action,
        decided.status,
        found.code,
        diagnostic,
        found.remote_mta,
        found.command,
        decided.reason,
        decided.hard,
        f"{where}; {decided.rule}",
        found.feedback_type,
    )


def _dedupe(recipients: Iterable[Recipient | None]) -> list[Recipient]:
    seen: dict[str, Recipient] = {}
    for r in recipients:
        if r is not None and r.address not in seen:
            seen[r.address] = r
    return list(seen.values())
