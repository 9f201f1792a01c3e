"""`domains check`'s lines for one sending domain, against the loopback DNS server: the good
zone gives only ok lines; each broken record gives its own fail line (or a "cannot check"
warn when the DNS does not answer), and every other line stays ok."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from returnpath.checks import Check, Status
from returnpath.checks.lookups import Lookups
from returnpath.checks.sending import domain_checks
from returnpath.core.senders import SendingDomain
from returnpath.dkim.keys import DomainKey, KeyAlgorithm, generate_key
from returnpath.dkim.records import record_name, record_value, txt_strings
from tests.checks.conftest import ADDRESS, BOUNCE, DOMAIN, HOST
from tests.dns_server import SERVFAIL, TIMEOUT, DnsServer, a, mx, txt

Break = Callable[[DnsServer, tuple[DomainKey, DomainKey]], None]


def run(lookups: Lookups, keys: dict[str, DomainKey], sending: SendingDomain) -> list[Check]:
    return domain_checks(lookups, keys.__getitem__, sending, [ADDRESS], HOST)


def rsa_name(pair: tuple[DomainKey, DomainKey]) -> str:
    return record_name(pair[0].selector, DOMAIN)


def other_rsa_key(zone: DnsServer, pair: tuple[DomainKey, DomainKey]) -> None:
    other = generate_key(KeyAlgorithm.ED25519, pair[0].selector)  # a key of another type and value
    zone.zone[rsa_name(pair)] = [txt(record_value(other).replace("k=ed25519", "k=rsa"))]


def include_chain(zone: DnsServer, pair: tuple[DomainKey, DomainKey]) -> None:
    # Eleven nested includes: the twelfth lookup is past RFC 7208's limit of ten.
    zone.zone[BOUNCE] = [mx(10, HOST), txt("v=spf1 include:s1.example.com -all")]
    for n in range(1, 12):
        zone.zone[f"s{n}.example.com"] = [txt(f"v=spf1 include:s{n + 1}.example.com -all")]
    zone.zone["s12.example.com"] = [txt(f"v=spf1 a:{HOST} -all")]


BROKEN: dict[str, tuple[Break, str, str]] = {
    "dkim record missing": (lambda z, p: z.zone.pop(rsa_name(p)), "DKIM ", "no TXT record"),
    "dkim another key": (other_rsa_key, "DKIM ", "different public key"),
    "dkim broken syntax": (
        lambda z, p: z.zone.__setitem__(rsa_name(p), [txt("v=DKIM1; k=rsa; p=@@not base64@@")]),
        "DKIM ",
        "not valid base64",
    ),
    "mx missing": (lambda z, p: z.zone.__setitem__(BOUNCE, [txt(f"v=spf1 a:{HOST} -all")]), "MX ", "no MX record"),
    "mx elsewhere": (
        lambda z, p: (
            z.zone.__setitem__(BOUNCE, [mx(10, "mx.other.example"), txt(f"v=spf1 a:{HOST} -all")]),
            z.zone.__setitem__("mx.other.example", [a("198.51.100.7")]),
        ),
        "MX ",
        "points at mx.other.example, not at this host",
    ),
    "spf missing": (lambda z, p: z.zone.__setitem__(BOUNCE, [mx(10, HOST)]), "SPF ", "no SPF record"),
    "spf not covering": (
        lambda z, p: z.zone.__setitem__(BOUNCE, [mx(10, HOST), txt("v=spf1 ip4:198.51.100.0/24 -all")]),
        "SPF ",
        "fail (-all (in bounces.example.com))",
    ),
    "spf too many lookups": (include_chain, "SPF ", "more than 10 DNS lookups"),
    "dmarc missing": (lambda z, p: z.zone.pop(f"_dmarc.{DOMAIN}"), "DMARC ", "no DMARC record"),
}


@pytest.mark.usefixtures("good_zone")
def test_the_good_zone_is_all_ok(lookups: Lookups, keys: dict[str, DomainKey], sending: SendingDomain) -> None:
    checks = run(lookups, keys, sending)
    assert [c.status for c in checks] == [Status.OK] * 5, checks
    assert [c.what.split()[0] for c in checks] == ["DKIM", "DKIM", "MX", "SPF", "DMARC"]
    spf = next(c for c in checks if c.what.startswith("SPF"))
    assert spf.detail == f"pass: a:{HOST} (in {BOUNCE})"
    dmarc = checks[-1].detail
    assert "p=none" in dmarc and "DKIM aligns (relaxed)" in dmarc and "SPF aligns (relaxed" in dmarc


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_record_gives_its_own_fail_line(
    case: str,
    good_zone: DnsServer,
    pair: tuple[DomainKey, DomainKey],
    lookups: Lookups,
    keys: dict[str, DomainKey],
    sending: SendingDomain,
) -> None:
    breaks, what, detail = BROKEN[case]
    breaks(good_zone, pair)
    checks = run(lookups, keys, sending)
    failing = [c for c in checks if c.status is not Status.OK]
    assert len(failing) == 1, checks
    (line,) = failing
    assert line.status is Status.FAIL and line.what.startswith(what) and detail in line.detail, line
    assert line.fix  # a fail says what to do


def test_spf_failing_makes_dmarc_say_spf_does_not_pass(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], sending: SendingDomain
) -> None:
    good_zone.zone[BOUNCE] = [mx(10, HOST), txt("v=spf1 -all")]
    dmarc = run(lookups, keys, sending)[-1]
    assert (
        dmarc.status is Status.OK
        and "SPF would align (relaxed: bounces.example.com is under example.com) but does not pass" in dmarc.detail
    )


@pytest.mark.parametrize("failure", [SERVFAIL, TIMEOUT], ids=repr)
def test_a_dns_that_does_not_answer_gives_cannot_check_lines(
    failure: object,
    good_zone: DnsServer,
    pair: tuple[DomainKey, DomainKey],
    lookups: Lookups,
    keys: dict[str, DomainKey],
    sending: SendingDomain,
) -> None:
    good_zone.zone[rsa_name(pair)] = failure  # type: ignore[assignment]
    good_zone.zone[BOUNCE] = failure  # type: ignore[assignment]
    checks = run(lookups, keys, sending)
    unchecked = [c for c in checks if c.status is Status.WARN]
    assert [c.what.split()[0] for c in unchecked] == ["DKIM", "MX", "SPF"], checks
    assert all(c.detail.startswith("cannot check: ") for c in unchecked)
    assert not [c for c in checks if c.status is Status.FAIL]
    expected = "SERVFAIL" if failure is SERVFAIL else "no answer within"
    assert expected in unchecked[0].detail
    # A resolver that does not answer at all is named, and the fix says where it is configured.
    if failure is TIMEOUT:
        assert f"from 127.0.0.1:{good_zone.port} ([dns] nameservers) for" in unchecked[0].detail
    assert "[dns] nameservers" in unchecked[0].fix


def test_a_bounce_domain_outside_the_domain_does_not_align_spf(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], pair: tuple[DomainKey, DomainKey]
) -> None:
    good_zone.zone["rp.example.net"] = good_zone.zone[BOUNCE]
    sending = SendingDomain("acct", DOMAIN, "rp.example.net", 0.0, pair[0].selector, pair[1].selector)
    dmarc = run(lookups, keys, sending)[-1]
    assert "SPF does not align: the bounce domain rp.example.net is not under example.com" in dmarc.detail


def test_strict_dkim_alignment_is_reported(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], sending: SendingDomain
) -> None:
    good_zone.zone[f"_dmarc.{DOMAIN}"] = [txt("v=DMARC1; p=reject; adkim=s; aspf=s")]
    dmarc = run(lookups, keys, sending)[-1]
    assert "p=reject" in dmarc.detail and "(adkim=s)" in dmarc.detail and "SPF does not align: aspf=s" in dmarc.detail


def test_an_unpublished_rotation_key_is_a_warn(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], pair: tuple[DomainKey, DomainKey]
) -> None:
    nxt = generate_key(KeyAlgorithm.RSA, "rp202612b")
    keys[nxt.selector] = nxt
    sending = SendingDomain(
        "acct", DOMAIN, BOUNCE, 0.0, pair[0].selector, pair[1].selector, pending_rsa_selector="rp202612b"
    )
    checks = run(lookups, keys, sending)
    assert [c.status for c in checks].count(Status.WARN) == 1
    assert checks[2].what == "DKIM rp202612b._domainkey.example.com" and "not published yet" in checks[2].detail
    good_zone.zone[record_name("rp202612b", DOMAIN)] = [txt(*txt_strings(record_value(nxt)))]
    assert all(c.status is Status.OK for c in run(lookups, keys, sending))


def test_a_dmarc_record_at_the_parent_domain_counts(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], pair: tuple[DomainKey, DomainKey]
) -> None:
    # mail.example.com publishes none: receivers use the organisational domain's (RFC 7489 6.6.3)
    for key in pair:
        good_zone.zone[record_name(key.selector, "mail.example.com")] = good_zone.zone[
            record_name(key.selector, DOMAIN)
        ]
    sending = SendingDomain("acct", "mail.example.com", BOUNCE, 0.0, pair[0].selector, pair[1].selector)
    dmarc = run(lookups, keys, sending)[-1]
    assert dmarc.status is Status.OK and dmarc.detail.startswith("_dmarc.example.com p=none")
    assert "SPF aligns (relaxed" in dmarc.detail  # bounces.example.com is under the organisational domain


def test_a_host_without_a_public_name_is_not_offered_as_the_mx_nor_in_spf(
    good_zone: DnsServer, lookups: Lookups, keys: dict[str, DomainKey], sending: SendingDomain
) -> None:
    # hostname "localhost" (what init writes where the resolver knows no other name): an MX or
    # an SPF `a:` naming it would send the bounces nowhere and pass no SPF check
    good_zone.zone[BOUNCE] = [txt("v=spf1 -all")]
    checks = domain_checks(lookups, keys.__getitem__, sending, [ADDRESS], "localhost")
    fixes = {c.what.split()[0]: c.fix for c in checks if c.status is Status.FAIL}
    assert "MX 10 localhost" not in fixes["MX"] and "public DNS name" in fixes["MX"]
    assert "a:localhost" not in fixes["SPF"] and f"ip4:{ADDRESS}" in fixes["SPF"]
