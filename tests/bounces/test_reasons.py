"""The reason rules (bounces/reasons.toml) as a table of reply lines -> reason, hard."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from returnpath.bounces import reasons
from returnpath.bounces.reasons import RULES, classify, normalise_text

CASES = [
    # (status, code, diagnostic, command) -> reason, hard
    (
        ("5.1.1", 550, "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown", "RCPT"),
        ("userunknown", True),
    ),
    (("5.0.0", 550, "550 No such user here", None), ("userunknown", True)),
    (("5.0.0", 550, "550 Unknown user a@example.org", "DATA"), ("filtered", False)),
    (("5.2.1", 550, "550 5.2.1 <a@example.org>... User Unknown", None), ("filtered", False)),
    (("5.1.1", 552, "552 sorry, mailbox a@example.org is over quota", None), ("mailboxfull", False)),
    (("5.2.2", 552, "552 5.2.2 Over quota", None), ("mailboxfull", False)),
    (("5.0.0", 550, "550 Host unknown", None), ("hostunknown", True)),
    (("5.1.2", None, "Host or domain name not found", None), ("hostunknown", True)),
    (
        (
            "5.4.4",
            None,
            "Host or domain name not found. Name service error for name=example.org type=A: Host not found",
            None,
        ),
        ("hostunknown", True),
    ),
    (  # Postfix's temporary form: the resolver's TRY_AGAIN, the domain may well exist
        (
            "4.4.3",
            None,
            "Host or domain name not found. Name service error for name=example.org type=MX: Host not found, try again",
            None,
        ),
        ("networkerror", False),
    ),
    (("5.0.0", 554, "554 5.7.1 <a@example.org>: Relay access denied", "RCPT"), ("norelaying", False)),
    (
        (
            "5.7.1",
            554,
            ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org"),
            "RCPT",
        ),
        ("blocked", False),
    ),
    (("5.7.1", 550, "550 5.7.1 Message rejected as spam", "DATA"), ("spamdetected", False)),
    (
        (
            "5.7.26",
            550,
            ("550-5.7.26 This mail is unauthenticated, which poses a security risk 550-5.7.26 to the sender"),
            None,
        ),
        ("authfailure", False),
    ),
    (("5.7.1", 550, "550 5.7.1 Email rejected per DMARC policy for example.com", "DATA"), ("authfailure", False)),
    (
        ("5.7.25", 550, "550 5.7.25 The IP address sending this message does not have a PTR record", None),
        ("requireptr", False),
    ),
    (("4.7.0", 421, "421 4.7.0 Too many concurrent SMTP connections", None), ("toomanyconn", False)),
    (("5.3.4", 552, "552 5.3.4 Message size exceeds fixed limit", "DATA"), ("mesgtoobig", False)),
    (("5.1.8", 553, "553 5.1.8 Domain of sender address a@b.example does not exist", "MAIL"), ("rejected", False)),
    (("5.0.0", 550, "550 5.0.0 No such domain", "MAIL"), ("rejected", False)),
    (("5.2.1", 550, "550 5.2.1 The email account that you tried to reach is disabled", None), ("suspend", False)),
    # a privacy relay's address its owner switched off (and may switch on again): suspend, under
    # whatever status the relay gives it
    (("5.7.1", 550, "550 5.7.1 Recipient address deactivated", "RCPT"), ("suspend", False)),
    (("5.1.1", 550, "550 5.1.1 Recipient address has been disabled", "RCPT"), ("suspend", False)),
    (("5.0.0", 550, "550 This alias is disabled", "RCPT"), ("suspend", False)),
    (("5.1.1", 550, "550 5.1.1 The alias has been deactivated by its owner", "RCPT"), ("suspend", False)),
    # a moderator refused the post: the list or group refuses this sender, whatever the status
    (("5.2.1", 550, "550 5.2.1 APPROVAL.InvalidExpiry; the moderator rejected the message", None), ("rejected", False)),
    (("5.0.0", None, "Your message was rejected by one of the moderators of this group", None), ("rejected", False)),
    (("5.7.1", 550, "550 5.7.1 Message rejected by the list moderator", "DATA"), ("rejected", False)),
    (("4.4.7", None, "Delivery expired (message too old)", None), ("expired", False)),
    # a hosting panel's limits on the sender's own account, in the bounce its host returns
    (
        (
            None,
            None,
            "Domain shop.example has exceeded the max emails per hour (250/250 (100%)) allowed.  Message discarded.",
            None,
        ),
        ("toomanyconn", False),
    ),
    (
        (
            None,
            None,
            "Domain shop.example has exceeded the max defers and failures per hour (5/5 (100%)) allowed.  Message discarded.",
            None,
        ),
        ("toomanyconn", False),
    ),
    (
        (
            "4.0.0",
            None,
            "The email account info@shop.example has exceeded the max emails per hour (50/50 (100%)) allowed.",
            None,
        ),
        ("toomanyconn", False),
    ),
    ((None, 550, "550 You (shopuser) have reached your daily email limit of 200 emails", None), ("toomanyconn", False)),
    # a recipient the receiver's verification could not confirm, refused at RCPT
    (
        (
            None,
            550,
            "550-The recipient cannot be verified.  Please check all recipients of this\n550 message to verify they are valid.",
            "RCPT",
        ),
        ("userunknown", True),
    ),
    (("5.0.0", 550, "550 Recipient address could not be verified", "RCPT"), ("userunknown", True)),
    # ... but a sender that did not verify is the sender refused
    (
        ("5.0.0", 550, "550-Verification failed for <a@example.org>\n550 Sender verify failed", "RCPT"),
        ("rejected", False),
    ),
    (("5.4.6", 554, "554 5.4.6 Too many hops", None), ("networkerror", False)),
    (("5.0.0", 550, "550 Access denied", "CONN"), ("blocked", False)),
    # a "sender on blocklist" before any recipient was named is the connecting host's, not a
    # recipient's filter; at RCPT it stays the recipient's own block list
    (("5.7.1", 550, "550 5.7.1 Connection refused - 192.0.2.7 - Sender is on blocklist", "CONN"), ("blocked", False)),
    (("5.7.1", 554, "554 5.7.1 Sender is on block list", "EHLO"), ("blocked", False)),
    (("5.7.1", 550, "550 5.7.1 Sender is on the recipient's block list", "RCPT"), ("filtered", False)),
    (("5.0.0", None, "", None), ("undefined", False)),
    (("5.0.0", 550, "550 something nobody has ever written", None), ("onhold", False)),
    (("5.1.10", 550, "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found", None), ("userunknown", True)),
    (("5.7.27", 550, "550 5.7.27 Sender address has null MX", "MAIL"), ("notaccept", True)),
    (("2.0.0", 250, "250 2.0.0 Ok: queued", None), ("delivered", False)),
]


@pytest.mark.parametrize(("given", "expected"), CASES, ids=[c[0][2][:50] for c in CASES])
def test_classify(given: tuple[str, int | None, str, str | None], expected: tuple[str, bool]) -> None:
    decided = classify(*given)
    assert (decided.reason, decided.hard) == expected, decided.rule


def test_a_vague_status_is_made_precise_from_the_text() -> None:
    assert classify("5.0.0", 550, "550 5.1.1 <a@example.org>... User unknown", "RCPT").status == "5.1.1"
    assert classify(None, None, "Sorry, I couldn't find any host named x. (#5.1.2)").status == "5.1.2"


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ('451 4.4.0 Primary target IP address responded with: "452 4.2.2 Mailbox full"', "4.2.2"),
        (
            '451 4.4.0 Primary target IP address responded with: "421 4.4.2 Connection dropped due to SocketError."',
            "4.4.2",
        ),
        (
            "451 4.4.0 Primary target IP address responded with: '451 4.7.1 Greylisted, please try again in 300 seconds'",
            "4.7.1",
        ),
        # the remote's reply gave no status: Exchange's own is all there is
        ('451 4.4.0 Primary target IP address responded with: "421 Service not available, closing channel"', "4.4.0"),
    ],
)
def test_exchange_reports_the_status_of_the_reply_it_quotes(text: str, status: str) -> None:
    # Exchange wraps a next hop's refusal in its own 4.4.0 summary; the quoted reply says why
    assert reasons.find_status(text) == status


def test_multiline_replies_are_joined() -> None:
    assert normalise_text("550-5.7.1 Messages with multiple\n550-5.7.1 addresses in From: header are not accepted") == (
        "550-5.7.1 Messages with multiple addresses in From: header are not accepted"
    )


def test_every_rule_is_documented_and_compiles() -> None:
    # patterns compile on first use: compile them all here, so a typo fails a test, not a bounce
    assert RULES.text and RULES.host and RULES.decisive["1.1"] == "userunknown" and RULES.vague["2.1"] == "suspend"
    for rule in RULES.text + RULES.host:
        assert rule.doc and rule.patterns, rule.reason
        for pattern in rule.patterns:
            assert pattern.compiled().pattern == pattern.source
            plain = re.sub(r"\\.", "", pattern.source)  # escapes such as \S keep their case
            assert plain == plain.lower(), f"{pattern.source}: diagnostics are lower-cased before matching"
        assert rule.reason in RULES.hard | {r.reason for r in RULES.text}, rule.reason
    assert RULES.hard == {"userunknown", "hostunknown", "hasmoved"}


def _rules_summary(rules: reasons.Rules) -> list[tuple[str, list[str]]]:
    return [(r.reason, [p.source for p in r.patterns]) for r in rules.host + rules.text]


def test_the_rules_are_cached_beside_the_bytecode_and_rebuilt_when_they_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "reasons.toml"
    path.write_bytes(reasons.RULES_FILE.read_bytes())

    first = reasons.load_cached(path)
    (cache,) = (tmp_path / "__pycache__").glob("reasons.*.pickle")
    assert _rules_summary(first) == _rules_summary(reasons.load(reasons.RULES_FILE))
    again = reasons.load_cached(path)  # read from the cache: the same rules
    assert _rules_summary(again) == _rules_summary(first)
    assert again.index.candidates("550 5.1.1 user unknown") == first.index.candidates("550 5.1.1 user unknown")

    # an edited rules file is read afresh, and the stale cache goes
    path.write_text(path.read_text(encoding="utf-8") + '\n[[reason]]\nname = "zz"\ndoc = "t"\npatterns = ["zzq"]\n')
    edited = reasons.load_cached(path)
    assert edited.text[-1].reason == "zz"
    assert list((tmp_path / "__pycache__").glob("reasons.*.pickle")) != [cache]
    assert len(list((tmp_path / "__pycache__").glob("reasons.*.pickle"))) == 1


def test_a_broken_rules_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    path = tmp_path / "reasons.toml"
    path.write_bytes(reasons.RULES_FILE.read_bytes())
    reasons.load_cached(path)
    (cache,) = (tmp_path / "__pycache__").glob("reasons.*.pickle")
    cache.write_bytes(b"not a pickle")
    assert _rules_summary(reasons.load_cached(path)) == _rules_summary(reasons.RULES)
    assert cache.read_bytes() != b"not a pickle"  # written anew


def test_no_rules_cache_is_written_when_bytecode_is_not(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    path = tmp_path / "reasons.toml"
    path.write_bytes(reasons.RULES_FILE.read_bytes())
    assert _rules_summary(reasons.load_cached(path)) == _rules_summary(reasons.RULES)
    assert not (tmp_path / "__pycache__").exists()
