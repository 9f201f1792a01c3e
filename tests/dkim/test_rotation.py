"""Rotating a domain's DKIM keys (issue 11): the new keys are made under new selectors and wait;
the old ones sign until both new records are seen in DNS (the loopback server here), then the
new ones sign and the old selectors are listed as removable a week later. Signatures are
verified by dkimpy against the records served."""

from __future__ import annotations

import re

import dns.asyncresolver
import pytest

from returnpath.config import Settings
from returnpath.core.senders import RETIRED_KEEP, DomainState, SendingDomain
from returnpath.dkim import lookup
from returnpath.dkim.keys import DomainKey
from returnpath.dkim.records import record_name, record_value, txt_strings
from returnpath.errors import InputError
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import domains
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import DOMAINS_FRESH, Relay
from tests.dkim.verifiers import dkimpy
from tests.dns_server import SERVFAIL, DnsServer, txt

NOW = 1796119867.0  # 2026-12-01 10:11:07 UTC
MESSAGE = b"From: Shop <news@example.com>\r\nTo: a@example.net\r\nSubject: order\r\n\r\nThanks.\r\n"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def publish(dns_server: DnsServer, domain: SendingDomain, keys: list[DomainKey]) -> None:
    for key in keys:
        dns_server.zone[record_name(key.selector, domain.domain)] = [txt(*txt_strings(record_value(key)))]


async def signed_by(relay: Relay, clock: Clock, account: NewAccount, dns_server: DnsServer) -> dict[str, str]:
    """The selectors of a message the relay signs now, with dkimpy's verdicts."""
    clock.now += DOMAINS_FRESH  # the relay reads the domain's selectors again
    signing = await relay.signing(account.account, MESSAGE)
    assert signing is not None
    return dkimpy(signing[1].sign(MESSAGE, clock.now) + MESSAGE, dns_server)


@pytest.fixture
def resolver(dns_server: DnsServer) -> dns.asyncresolver.Resolver:
    settings = Settings()
    settings.dns.nameservers = f"127.0.0.1:{dns_server.port}"
    return lookup.make_resolver(settings.dns)


async def test_signatures_switch_selector_only_after_the_new_records_are_seen(
    store: SqliteStore,
    settings: Settings,
    account: NewAccount,
    dns_server: DnsServer,
    resolver: dns.asyncresolver.Resolver,
) -> None:
    clock = Clock(NOW)
    relay = Relay(store, settings, clock=clock)
    domain = await domains.add_domain(store, settings, account.account, "example.com", NOW)
    publish(dns_server, domain, await domains.signing_keys(store, settings, domain))
    assert await signed_by(relay, clock, account, dns_server) == {"rp202612": "pass", "rp202612e": "pass"}

    rotating = await domains.rotate_domain(store, settings, account.account, "example.com", NOW + 86400)
    assert rotating.pending_selectors == ("rp202612b", "rp202612be")
    assert rotating.state is DomainState.ROTATING
    # The records to publish list the next keys after the signing ones.
    names = [r.name for r in await domains.dns_records(store, settings, rotating) if r.type == "TXT"][:4]
    assert names == [record_name(s, "example.com") for s in (*rotating.selectors, *rotating.pending_selectors)]
    with pytest.raises(InputError, match="pending already"):
        await domains.rotate_domain(store, settings, account.account, "example.com", NOW + 86400)

    # Nothing published yet: no switch, each record's problem said; the old keys sign.
    check = await domains.check_rotation(store, settings, rotating, resolver, NOW + 86400)
    assert not check.switched and check.problems == {"rp202612b": "no TXT record", "rp202612be": "no TXT record"}
    assert await signed_by(relay, clock, account, dns_server) == {"rp202612": "pass", "rp202612e": "pass"}

    # One of the two published: still no switch.
    publish(dns_server, rotating, (await domains.pending_keys(store, settings, rotating))[:1])
    assert await domains.check_rotations(store, settings, resolver, NOW + 86400) == 0
    assert await signed_by(relay, clock, account, dns_server) == {"rp202612": "pass", "rp202612e": "pass"}

    # DNS not answering is not "no record": it is said, and nothing changes.
    dns_server.zone[record_name("rp202612be", "example.com")] = SERVFAIL
    with pytest.raises(lookup.LookupFailed):
        await domains.check_rotation(store, settings, rotating, resolver, NOW + 86400)
    assert await domains.check_rotations(store, settings, resolver, NOW + 86400) == 0

    # Both published: the check switches, and the new keys sign from then on.
    publish(dns_server, rotating, await domains.pending_keys(store, settings, rotating))
    switch_at = NOW + 2 * 86400
    assert await domains.check_rotations(store, settings, resolver, switch_at) == 1
    assert await signed_by(relay, clock, account, dns_server) == {"rp202612b": "pass", "rp202612be": "pass"}
    stored = await store.domain("example.com")
    assert stored is not None and stored.state is DomainState.ACTIVE and stored.pending_selectors == ()
    assert stored.retired == (("rp202612", switch_at), ("rp202612e", switch_at))
    shown = domains.domain_json(stored)["retired"]
    assert shown == [
        {
            "selector": s,
            "name": f"{s}._domainkey.example.com",
            "retired_at": switch_at,
            "removable_after": switch_at + RETIRED_KEEP,
        }
        for s in ("rp202612", "rp202612e")
    ]
    assert [re.sub(r"\s+", " ", line) for line in domains.retired_lines(stored)] == [
        f"; retired: {s}._domainkey.example.com TXT removable after 2026-12-10 10:11:07 UTC"
        for s in ("rp202612", "rp202612e")
    ]
    # A later rotation takes selectors never used before.
    again = await domains.rotate_domain(store, settings, account.account, "example.com", switch_at)
    assert again.pending_selectors == ("rp202612c", "rp202612ce")


async def test_a_record_with_another_key_does_not_switch(
    store: SqliteStore,
    settings: Settings,
    account: NewAccount,
    dns_server: DnsServer,
    resolver: dns.asyncresolver.Resolver,
) -> None:
    domain = await domains.add_domain(store, settings, account.account, "example.com", NOW)
    rotating = await domains.rotate_domain(store, settings, account.account, "example.com", NOW)
    # The old keys' records published under the new names: a copy-paste mistake.
    for key, new in zip(await domains.signing_keys(store, settings, domain), rotating.pending_selectors, strict=True):
        dns_server.zone[record_name(new, "example.com")] = [txt(*txt_strings(record_value(key)))]
    check = await domains.check_rotation(store, settings, rotating, resolver, NOW)
    assert not check.switched
    assert set(check.problems.values()) == {"a different public key from this selector's private key"}
    assert (await store.domain("example.com")) == rotating
