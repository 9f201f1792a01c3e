"""Fixtures of the checks' tests: a sending domain example.com with its keys in a data folder,
and the loopback DNS server (tests/dns_server.py) serving a zone in which every check passes.
Each test breaks one thing in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from returnpath.checks.lookups import Lookups
from returnpath.core.senders import SendingDomain
from returnpath.dkim.keys import DomainKey, generate_pair
from returnpath.dkim.records import record_name, record_value, txt_strings
from tests.dns_server import DnsServer, a, dns_server, mx, ptr, reverse, txt

__all__ = ["dns_server", "good_zone", "keys", "lookups", "pair"]

DOMAIN = "example.com"
BOUNCE = "bounces.example.com"
HOST = "relay.example.test"
ADDRESS = "192.0.2.10"
NOW = 1796119867.0  # 2026-12-01 10:11:07 UTC


@pytest.fixture(scope="session")
def pair() -> tuple[DomainKey, DomainKey]:
    return generate_pair(NOW, [])


@pytest.fixture
def keys(pair: tuple[DomainKey, DomainKey]) -> dict[str, DomainKey]:
    """The keys the checks are given, by selector (the store's, in `domains check`)."""
    return {key.selector: key for key in pair}


@pytest.fixture
def sending(pair: tuple[DomainKey, DomainKey]) -> SendingDomain:
    return SendingDomain("acct", DOMAIN, BOUNCE, NOW, pair[0].selector, pair[1].selector)


@pytest.fixture
def good_zone(dns_server: DnsServer, pair: tuple[DomainKey, DomainKey]) -> Iterator[DnsServer]:
    """Everything published as `domains add` says, and this host's name and reverse DNS."""
    for key in pair:
        dns_server.zone[record_name(key.selector, DOMAIN)] = [txt(*txt_strings(record_value(key)))]
    dns_server.zone[BOUNCE] = [mx(10, HOST), txt(f"v=spf1 a:{HOST} -all")]
    dns_server.zone[HOST] = [a(ADDRESS)]
    dns_server.zone[f"_dmarc.{DOMAIN}"] = [txt(f"v=DMARC1; p=none; rua=mailto:postmaster@{DOMAIN}")]
    dns_server.zone[reverse(ADDRESS)] = [ptr(HOST)]
    yield dns_server


@pytest.fixture
def lookups(dns_server: DnsServer) -> Lookups:
    return Lookups([(dns_server.host, dns_server.port)], timeout=1.0)
