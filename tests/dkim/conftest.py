"""Fixtures of the sending-domain tests: the loopback DNS server (tests/dns_server.py), keys
of example.com published in it, and the verifiers (tests/dkim/verifiers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from returnpath.dkim.keys import DomainKey, generate_pair
from returnpath.dkim.records import record_name, record_value, txt_strings
from tests.dkim.verifiers import require_verifiers
from tests.dns_server import DnsServer, dns_server, txt

__all__ = ["dns_server", "domain_keys", "published", "verifiers"]

DOMAIN = "example.com"
NOW = 1796119867.0  # 2026-12-01 10:11:07 UTC


@pytest.fixture(scope="session")
def domain_keys() -> tuple[DomainKey, DomainKey]:
    """An RSA and an Ed25519 key of example.com (made once: RSA key generation takes a while)."""
    return generate_pair(NOW, [])


@pytest.fixture
def published(dns_server: DnsServer, domain_keys: tuple[DomainKey, DomainKey]) -> Iterator[DnsServer]:
    """The loopback DNS server with example.com's two key records, as `domains add` prints them."""
    for key in domain_keys:
        dns_server.zone[record_name(key.selector, DOMAIN)] = [txt(*txt_strings(record_value(key)))]
    yield dns_server


@pytest.fixture(scope="session")
def verifiers() -> None:
    require_verifiers()
