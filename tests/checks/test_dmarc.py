"""The DMARC policy record and organisational domain by DMARCbis's DNS Tree Walk (checks/dmarc.py),
asked of the loopback DNS server: no Public Suffix List, at most 8 questions."""

from __future__ import annotations

import pytest

from returnpath.checks import Status
from returnpath.checks.dmarc import tree_walk, walk_names
from returnpath.checks.lookups import Lookups
from returnpath.checks.sending import dmarc_checks
from returnpath.core.senders import SendingDomain
from tests.dns_server import DnsServer, txt

# The last seven labels of the long names below, and one label less each time after them.
UP_FROM_SEVEN = ["b.c.d.e.example.co.uk", "c.d.e.example.co.uk", "d.e.example.co.uk", "e.example.co.uk"]
UP_FROM_SEVEN += ["example.co.uk", "co.uk", "uk"]
WALKS = {
    "example.com": ["example.com", "com"],
    "mail.example.co.uk": ["mail.example.co.uk", "example.co.uk", "co.uk", "uk"],
    # 8 labels: one less each time, 8 questions.
    "a.b.c.d.e.example.co.uk": ["a.b.c.d.e.example.co.uk", *UP_FROM_SEVEN],
    # 11 labels: the domain, then straight to its last 7 labels; 8 questions in all.
    "x.y.z.a.b.c.d.e.example.co.uk": ["x.y.z.a.b.c.d.e.example.co.uk", *UP_FROM_SEVEN],
}


@pytest.mark.parametrize(("domain", "names"), WALKS.items(), ids=WALKS.keys())
def test_the_walk_asks_at_most_eight_names_up_to_the_top(domain: str, names: list[str]) -> None:
    assert walk_names(domain) == names


def dmarc_queries(dns: DnsServer) -> list[str]:
    return [name.removeprefix("_dmarc.") for name, rtype, _ in dns.queries if rtype == "TXT"]


@pytest.fixture
def lookups(dns_server: DnsServer) -> Lookups:
    return Lookups([(dns_server.host, dns_server.port)], timeout=1.0)


def test_a_record_at_the_organisational_domain_under_a_two_label_suffix(
    dns_server: DnsServer, lookups: Lookups
) -> None:
    # The Public Suffix List would know co.uk is a suffix; the walk asks and finds nothing there.
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=quarantine")]
    walk = tree_walk(lookups, "mail.example.co.uk")
    assert walk.policy_record is not None and walk.policy_record.found_at == "example.co.uk"
    assert walk.policy == "quarantine"
    assert walk.organisational_domain == "example.co.uk"
    assert dmarc_queries(dns_server) == walk_names("mail.example.co.uk")
    # From the organisational domain itself: the same record and organisational domain.
    assert tree_walk(lookups, "example.co.uk").organisational_domain == "example.co.uk"


def test_a_subdomain_gets_the_sp_policy_and_the_domain_itself_p(dns_server: DnsServer, lookups: Lookups) -> None:
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=reject; sp=none")]
    assert tree_walk(lookups, "mail.example.co.uk").policy == "none"
    assert tree_walk(lookups, "example.co.uk").policy == "reject"
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=reject")]  # no sp=: p= for subdomains too
    assert tree_walk(lookups, "mail.example.co.uk").policy == "reject"


def test_no_record_anywhere(dns_server: DnsServer, lookups: Lookups) -> None:
    walk = tree_walk(lookups, "mail.example.co.uk")
    assert walk.policy_record is None and walk.policy == "" and walk.problems == ()
    assert walk.organisational_domain == "mail.example.co.uk"  # the domain itself
    assert dmarc_queries(dns_server) == walk_names("mail.example.co.uk")  # asked all the way up


def test_the_record_with_the_fewest_labels_is_the_organisational_domain(
    dns_server: DnsServer, lookups: Lookups
) -> None:
    dns_server.zone["_dmarc.mail.example.co.uk"] = [txt("v=DMARC1; p=none")]
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=reject")]
    walk = tree_walk(lookups, "news.mail.example.co.uk")
    assert walk.policy_record is not None and walk.policy_record.found_at == "mail.example.co.uk"  # the nearest
    assert walk.policy == "none"
    assert walk.organisational_domain == "example.co.uk"


def test_psd_n_ends_the_walk_where_it_is(dns_server: DnsServer, lookups: Lookups) -> None:
    dns_server.zone["_dmarc.mail.example.co.uk"] = [txt("v=DMARC1; p=none; psd=n")]
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=reject")]
    walk = tree_walk(lookups, "news.mail.example.co.uk")
    assert walk.organisational_domain == "mail.example.co.uk"
    assert dmarc_queries(dns_server) == ["news.mail.example.co.uk", "mail.example.co.uk"]
    dns_server.queries.clear()
    assert tree_walk(lookups, "mail.example.co.uk").organisational_domain == "mail.example.co.uk"
    assert dmarc_queries(dns_server) == ["mail.example.co.uk"]  # psd=n at the first name: one question


def test_below_a_public_suffix_record_the_organisational_domain_is_one_label_longer(
    dns_server: DnsServer, lookups: Lookups
) -> None:
    dns_server.zone["_dmarc.co.uk"] = [txt("v=DMARC1; p=reject; sp=quarantine; psd=y")]
    walk = tree_walk(lookups, "news.mail.example.co.uk")
    assert walk.organisational_domain == "example.co.uk"
    assert walk.policy == "quarantine"  # the public suffix's policy for its subdomains
    assert "uk" not in dmarc_queries(dns_server)  # psd=y ends the walk


def test_two_records_at_one_name_count_as_none(dns_server: DnsServer, lookups: Lookups) -> None:
    dns_server.zone["_dmarc.mail.example.co.uk"] = [txt("v=DMARC1; p=none"), txt("v=DMARC1; p=reject")]
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=quarantine"), txt("not dmarc")]
    walk = tree_walk(lookups, "mail.example.co.uk")
    assert walk.policy == "quarantine" and walk.organisational_domain == "example.co.uk"
    assert walk.problems == ("_dmarc.mail.example.co.uk has 2 DMARC records, so receivers use none (RFC 7489 6.6.3)",)


def test_a_long_name_asks_eight_questions(dns_server: DnsServer, lookups: Lookups) -> None:
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=none")]
    long = "x.y.z.a.b.c.d.e.example.co.uk"
    assert tree_walk(lookups, long).organisational_domain == "example.co.uk"
    assert dmarc_queries(dns_server) == walk_names(long) and len(walk_names(long)) == 8


def sending(domain: str, bounce_domain: str) -> SendingDomain:
    return SendingDomain("acct", domain, bounce_domain, 0.0, "rp202612", "rp202612e")


def test_the_check_line_says_the_policy_that_applies_and_spf_alignment_by_organisational_domain(
    dns_server: DnsServer, lookups: Lookups
) -> None:
    dns_server.zone["_dmarc.example.co.uk"] = [txt("v=DMARC1; p=reject; sp=none")]
    (line,) = dmarc_checks(lookups, sending("mail.example.co.uk", "rp.example.co.uk"), spf_passes=True)
    assert line.status is Status.OK
    assert line.detail.startswith(
        "_dmarc.example.co.uk p=reject sp=none; sp=none applies to mail from mail.example.co.uk, a subdomain; "
        "organisational domain example.co.uk; DKIM aligns (relaxed)"
    )
    assert line.detail.endswith("SPF aligns (relaxed: rp.example.co.uk is under example.co.uk)")
    # A bounce domain under another organisational domain does not align, though both end in co.uk.
    (line,) = dmarc_checks(lookups, sending("mail.example.co.uk", "rp.other.co.uk"), spf_passes=True)
    assert line.detail.endswith(
        "SPF does not align: the bounce domain rp.other.co.uk is not under mail.example.co.uk's "
        "organisational domain example.co.uk (its own is rp.other.co.uk)"
    )


def test_the_check_line_fails_without_a_record(dns_server: DnsServer, lookups: Lookups) -> None:
    (line,) = dmarc_checks(lookups, sending("mail.example.co.uk", "rp.example.co.uk"), spf_passes=True)
    assert line.status is Status.FAIL
    assert line.detail.startswith("no DMARC record at _dmarc.mail.example.co.uk nor at a parent domain")
    assert line.fix.startswith("publish `_dmarc.mail.example.co.uk TXT")
