"""The loopback DNS server that `domains check` and `doctor` tests will lean on answers as a
real authoritative server would, for each kind of answer they need."""

from __future__ import annotations

import dns.resolver
import pytest

from tests.dns_server import SERVFAIL, TIMEOUT, DnsServer, a, aaaa, cname, mx, ptr, reverse, txt


def test_records_of_each_type_are_served(dns_server: DnsServer) -> None:
    dns_server.zone["rp.example.com"] = [mx(10, "relay.example.net"), txt("v=spf1 ip4:192.0.2.7 -all")]
    dns_server.zone["relay.example.net"] = [a("192.0.2.7"), aaaa("2001:db8::7")]
    dns_server.zone[reverse("192.0.2.7")] = [ptr("relay.example.net")]
    dns_server.zone["www.example.com"] = [cname("relay.example.net")]
    resolver = dns_server.resolver()
    assert [str(r) for r in resolver.resolve("RP.example.com.", "MX")] == ["10 relay.example.net."]
    assert dns_server.txt_lookup("rp.example.com") == ["v=spf1 ip4:192.0.2.7 -all"]
    assert [str(r) for r in resolver.resolve("relay.example.net", "AAAA")] == ["2001:db8::7"]
    assert [str(r) for r in resolver.resolve_address("192.0.2.7")] == ["relay.example.net."]
    assert [str(r) for r in resolver.resolve("www.example.com", "A")] == ["192.0.2.7"]


def test_missing_names_and_types(dns_server: DnsServer) -> None:
    dns_server.zone["rp202612._domainkey.example.com"] = [txt("v=DKIM1; p=")]
    resolver = dns_server.resolver()
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("rp202701._domainkey.example.com", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):  # an empty non-terminal exists
        resolver.resolve("_domainkey.example.com", "TXT")
    with pytest.raises(dns.resolver.NoAnswer):
        resolver.resolve("rp202612._domainkey.example.com", "MX")


def test_failures_and_silence(dns_server: DnsServer) -> None:
    dns_server.zone["broken.example.com"] = SERVFAIL
    dns_server.zone["slow.example.com"] = TIMEOUT
    with pytest.raises(dns.resolver.NoNameservers, match="SERVFAIL"):
        dns_server.resolver().resolve("broken.example.com", "TXT")
    with pytest.raises(dns.resolver.LifetimeTimeout):
        dns_server.resolver(timeout=0.3).resolve("slow.example.com", "TXT")


def test_a_multi_string_record_too_big_for_udp_comes_over_tcp(dns_server: DnsServer) -> None:
    dns_server.zone["big.example.com"] = [txt("a" * 255, "b" * 255, "c" * 10)]
    dns_server.udp_limit = 512
    assert dns_server.txt_lookup("big.example.com") == ["a" * 255 + "b" * 255 + "c" * 10]
    assert [t for name, _, t in dns_server.queries if name == "big.example.com"] == ["udp", "tcp"]


def test_a_record_changed_during_the_test_is_served_changed(dns_server: DnsServer) -> None:
    dns_server.zone["_dmarc.example.com"] = [txt("v=DMARC1; p=none")]
    assert dns_server.txt_lookup("_dmarc.example.com") == ["v=DMARC1; p=none"]
    dns_server.zone["_dmarc.example.com"] = [txt("v=DMARC1; p=reject")]
    assert dns_server.txt_lookup("_dmarc.example.com") == ["v=DMARC1; p=reject"]
