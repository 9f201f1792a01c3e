"""Bounce recognition over the Sisimai corpus: one row per email and aspect.

For every email of ../shared/corpus/sisimai/maildir/{bsd,dos,mac,not} and `expected.json`:

- kind:       the verdict's kind fits the email's (dsn, bounce, autoreply, complaint, ...);
- recipients: every expected recipient is among the verdict's;
- statuses:   the RFC 3463 status, where Sisimai read it from the email (not a pseudo one);
- reasons:    Sisimai's reason;
- same-as-bsd: a dos/ (CRLF) or mac/ (CR) copy gives the bsd/ (LF) copy's verdict.

What we miss is listed in KNOWN_MISSES, each with why; those rows are strict xfails, so a
change that fixes one fails the run until the list is updated — improvements show up.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from returnpath.bounces import BounceVerdict, Kind, recognise
from tests import corpus

SISIMAI = corpus.require()  # skips this module without the corpus (fails it under CI)
FOLDERS = ("bsd", "dos", "mac", "not")

KINDS: dict[str, set[Kind]] = {
    "dsn": {Kind.DSN},
    "non-standard-bounce": {Kind.BOUNCE, Kind.DSN},  # a DSN pasted as text is read as one
    "auto-reply": {Kind.AUTOREPLY},
    "feedback-report": {Kind.COMPLAINT},
    "delivered-notice": {Kind.DELIVERY},
    "not-bounce": {Kind.OTHER},
}

# (email, aspect) -> why we miss it. Sisimai's answer comes from its per-receiving-host
# tables or its per-software modules where these disagree with what the words say.
_USERUNKNOWN_AT_UNKNOWN_STEP = (
    "'user unknown' with a vague 5.0.0 (or no status) and no SMTP "
    "step: Sisimai says filtered here, userunknown elsewhere"
)
KNOWN_MISSES: dict[tuple[str, str], str] = {
    ("bsd/lhost-apachejames-01.eml", "recipients"): "expected.json has 11 zeros, the email 12",
    ("bsd/lhost-domino-03.eml", "recipients"): "Sisimai takes the address of the text, not of Final-Recipient",
    ("bsd/lhost-office365-04.eml", "recipients"): "expected.json's address is cut in the middle",
    ("bsd/lhost-v5sendmail-01.eml", "recipients"): "the recipient is only in the returned message",
    ("bsd/rfc3464-28.eml", "recipients"): "two reports concatenated in one file",
    ("not/rb-issue-368-bug.eml", "kind"): "a postmaster's 'reject reason: Mailbox full' notice "
    "read as the failure it reports; the not/ folder's assertion predates Sisimai's own run, "
    "which finds the recipient too (expected.json: sisimai_run agrees false, count 1)",
    ("bsd/lhost-amazonses-01.eml", "statuses"): "Sisimai takes the inner 5.7.1 over the outer 5.1.0",
    ("bsd/lhost-amazonses-17.eml", "statuses"): "Sisimai takes the quoted 4.4.2 over 4.4.7",
    ("bsd/lhost-sendmail-18.eml", "statuses"): "5.3.0 is Sisimai's for an x-unix exit code",
    ("bsd/lhost-sendmail-56.eml", "statuses"): "Sisimai's 4.7.0 is not in the email",
    ("bsd/rhost-franceptt-10.eml", "statuses"): "Orange's code table",
    ("bsd/lhost-amazonses-01.eml", "reasons"): "Sisimai's Amazon SES table",
    ("bsd/lhost-dragonfly-18.eml", "reasons"): "'Policy violation' with 5.7.0 is securityerror to Sisimai",
    ("bsd/lhost-exim-46.eml", "reasons"): "'Missing reverse DNS' is blocked to Sisimai here, requireptr elsewhere",
    ("bsd/lhost-gmail-05.eml", "reasons"): "Sisimai's Gmail table (state 13)",
    ("bsd/lhost-postfix-74.eml", "reasons"): "Yahoo's TSS04 is rejected here, badreputation in lhost-qmail-19",
    ("bsd/lhost-powermta-01.eml", "reasons"): "'User Unknown' with 5.2.1 is suspend to Sisimai "
    "here, filtered elsewhere",
    ("bsd/lhost-sendmail-13.eml", "reasons"): "x-unix exit 77 is systemerror to Sisimai",
    ("bsd/lhost-v5sendmail-05.eml", "reasons"): "'You cannot send E-Mail to yourself'",
    ("bsd/lhost-x2-06.eml", "reasons"): "qmail's 'wasn't able to establish an SMTP connection' is "
    "expired here, networkerror in lhost-qmail-07",
    ("bsd/lhost-surfcontrol-01.eml", "reasons"): _USERUNKNOWN_AT_UNKNOWN_STEP,
    ("bsd/rfc3464-42.eml", "reasons"): _USERUNKNOWN_AT_UNKNOWN_STEP,
    ("bsd/rfc3464-35.eml", "reasons"): "a delayed report without diagnostic; a gateway's words",
    ("bsd/rfc3464-39.eml", "reasons"): "no diagnostic at all: onhold to Sisimai",
    ("bsd/rhost-aol-06.eml", "reasons"): "'Malformed name server reply' is notaccept here, "
    "networkerror in lhost-postfix-17",
    ("bsd/rhost-messagelabs-03.eml", "reasons"): "'542 ... Rejected': MessageLabs' table",
}


@cache
def _expected() -> dict[str, Any]:
    return json.loads((SISIMAI / "expected.json").read_text(encoding="utf-8"))["emails"]


@cache
def _verdict(path: str) -> BounceVerdict:
    return recognise((SISIMAI / path).read_bytes())


def _cases() -> list[Any]:
    cases = []
    emails = _expected()
    for path, entry in sorted(emails.items()):
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "maildir" or parts[1] not in FOLDERS:
            continue
        name = f"{parts[1]}/{parts[2]}"
        rows = [r for r in entry["expected"] if r["recipient"]]
        aspects = ["kind"]
        if rows:
            aspects += ["recipients", "reasons"]
        if any(r["deliverystatus"] and not r["status_is_sisimai_pseudo"] for r in rows):
            aspects.append("statuses")
        if parts[1] in ("dos", "mac") and f"maildir/bsd/{parts[2]}" in emails:
            aspects = ["same-as-bsd"]  # the rest is checked on the bsd/ copy
        for aspect in aspects:
            why = KNOWN_MISSES.get((name, aspect))
            marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
            cases.append(pytest.param(path, aspect, id=f"{name}-{aspect}", marks=marks))
    return cases


def _found(path: str) -> list[tuple[dict[str, Any], Any]]:
    got = {r.address: r for r in _verdict(path).recipients}
    return [(row, got.get(row["recipient"].lower())) for row in _expected()[path]["expected"] if row["recipient"]]


@pytest.mark.parametrize(("path", "aspect"), _cases())
def test_corpus(path: str, aspect: str) -> None:
    entry = _expected()[path]
    verdict = _verdict(path)
    if aspect == "kind":
        rows = entry["expected"]
        kinds = {Kind.DELIVERY} if rows and all(r["reason"] == "delivered" for r in rows) else KINDS[entry["kind"]]
        assert verdict.kind in kinds
        if entry["kind"] in ("not-bounce", "auto-reply"):
            assert not verdict.failed
    elif aspect == "recipients":
        missing = [row["recipient"] for row, r in _found(path) if r is None]
        assert not missing, f"not found: {missing}; found {[r.address for r in verdict.recipients]}"
    elif aspect == "statuses":
        for row, r in _found(path):
            if r is not None and row["deliverystatus"] and not row["status_is_sisimai_pseudo"]:
                assert r.status == row["deliverystatus"], r.diagnostic
    elif aspect == "reasons":
        for row, r in _found(path):
            if r is not None:
                assert (r.reason, r.hard) == (row["reason"], bool(row["hardbounce"])), r.rule
    elif aspect == "same-as-bsd":
        twin = "maildir/bsd/" + path.split("/", 2)[2]
        assert verdict.as_dict() == _verdict(twin).as_dict()
