"""Where mail for a domain goes: static routes and RFC 5321 MX rules, over a fake DNS."""

from __future__ import annotations

import random

import pytest

from returnpath.config import Settings
from returnpath.core.events import refusal_fields
from returnpath.core.model import Outcome, Step, Verdict
from returnpath.delivery.routes import Destination, DnsResolver, DnsStatus, Routes
from returnpath.smtp.client import Target

from .fake_dns import FakeDns


async def resolve(settings: Settings, dns: FakeDns, domain: str, seed: int = 1) -> Destination | Outcome:
    return await Routes(settings, dns, rng=random.Random(seed)).resolve(domain)


async def test_static_route_overrides_mx(settings: Settings) -> None:
    settings.delivery.routes = {"example.test": "127.0.0.1:2526"}
    dns = FakeDns(mx_records={"example.test": [(10, "mx.example.test")]})
    destination = await resolve(settings, dns, "Example.TEST")
    assert destination == Destination("example.test", (Target("127.0.0.1", "127.0.0.1", 2526),))
    assert dns.questions == []


async def test_star_route_for_every_other_domain(settings: Settings) -> None:
    settings.delivery.routes = {"example.test": "127.0.0.1:2526", "*": "smarthost.test:587"}
    dns = FakeDns(hosts={"smarthost.test": ["192.0.2.7"]})
    destination = await resolve(settings, dns, "elsewhere.test")
    assert destination == Destination("elsewhere.test", (Target("smarthost.test", "192.0.2.7", 587),))
    assert dns.questions == ["A smarthost.test"]  # the route replaces the MX lookup


async def test_mx_hosts_by_preference(settings: Settings) -> None:
    dns = FakeDns(
        mx_records={"example.test": [(20, "backup.example.test."), (10, "mx1.example.test.")]},
        hosts={"mx1.example.test": ["192.0.2.1", "2001:db8::1"], "backup.example.test": ["192.0.2.9"]},
    )
    destination = await resolve(settings, dns, "example.test")
    assert isinstance(destination, Destination)
    assert destination.targets == (
        Target("mx1.example.test", "192.0.2.1", 25),
        Target("mx1.example.test", "2001:db8::1", 25),
        Target("backup.example.test", "192.0.2.9", 25),
    )


async def test_random_order_among_equal_preferences(settings: Settings) -> None:
    dns = FakeDns(
        mx_records={"example.test": [(10, "a.example.test"), (10, "b.example.test"), (5, "first.example.test")]},
        hosts={"a.example.test": ["192.0.2.1"], "b.example.test": ["192.0.2.2"], "first.example.test": ["192.0.2.5"]},
    )
    orders = set()
    for seed in range(20):
        destination = await resolve(settings, dns, "example.test", seed)
        assert isinstance(destination, Destination)
        orders.add(tuple(t.host for t in destination.targets))
    assert orders == {
        ("first.example.test", "a.example.test", "b.example.test"),
        ("first.example.test", "b.example.test", "a.example.test"),
    }


async def test_implicit_mx_from_the_domains_addresses(settings: Settings) -> None:
    dns = FakeDns(mx_records={"example.test": []}, hosts={"example.test": ["192.0.2.3"]})
    destination = await resolve(settings, dns, "example.test")
    assert destination == Destination("example.test", (Target("example.test", "192.0.2.3", 25),))


async def test_at_most_five_addresses(settings: Settings) -> None:
    dns = FakeDns(
        mx_records={"example.test": [(i, f"mx{i}.example.test") for i in range(4)]},
        hosts={f"mx{i}.example.test": [f"192.0.2.{i}", f"192.0.3.{i}"] for i in range(4)},
    )
    destination = await resolve(settings, dns, "example.test")
    assert isinstance(destination, Destination)
    assert len(destination.targets) == 5


def failure(verdict: Verdict, status: str, text_part: str, outcome: Destination | Outcome) -> None:
    assert isinstance(outcome, Outcome), outcome
    assert (outcome.verdict, outcome.step, outcome.code, outcome.status) == (verdict, Step.CONNECT, None, status)
    assert text_part in outcome.text


async def test_null_mx_fails_at_once(settings: Settings) -> None:
    dns = FakeDns(mx_records={"example.test": [(0, ".")]})
    failure(Verdict.PERMANENT, "5.1.10", "does not accept mail", await resolve(settings, dns, "example.test"))
    assert dns.questions == ["MX example.test"]


async def test_nxdomain(settings: Settings) -> None:
    failure(Verdict.PERMANENT, "5.1.2", "not found", await resolve(settings, FakeDns(), "nowhere.test"))


@pytest.mark.parametrize(
    "dns, reason",
    [
        (FakeDns(), "hostunknown"),  # the domain does not exist
        (FakeDns(mx_records={"example.test": [(0, ".")]}), "notaccept"),  # RFC 7505 null MX
        (
            FakeDns(mx_records={"example.test": [(10, "gone.example.test")]}, hosts={"gone.example.test": []}),
            "hostunknown",
        ),
    ],
)
async def test_a_domain_that_cannot_get_mail_is_the_addresss_hard_failure(
    settings: Settings, dns: FakeDns, reason: str
) -> None:
    # No remote said anything: the failure event must not read as a refusal of this client
    # at the greeting ("blocked", soft), which would send an operator looking for a blacklist.
    outcome = await resolve(settings, dns, "example.test")
    assert isinstance(outcome, Outcome)
    fields = refusal_fields(outcome, recipient="someone@example.test")
    assert (fields["reason"], fields["hard"], fields["command"]) == (reason, True, "CONN"), fields["rule"]


async def test_servfail_or_timeout(settings: Settings) -> None:
    dns = FakeDns(mx_records={"example.test": DnsStatus.FAILED})
    failure(Verdict.TEMPORARY, "4.4.3", "will try again", await resolve(settings, dns, "example.test"))


async def test_mx_host_without_address(settings: Settings) -> None:
    dns = FakeDns(mx_records={"example.test": [(10, "gone.example.test")]}, hosts={"gone.example.test": []})
    failure(Verdict.PERMANENT, "5.4.4", "no address", await resolve(settings, dns, "example.test"))


async def test_address_lookup_failure_is_temporary(settings: Settings) -> None:
    dns = FakeDns(mx_records={"example.test": [(10, "mx.example.test")]}, hosts={"mx.example.test": DnsStatus.FAILED})
    failure(Verdict.TEMPORARY, "4.4.3", "will try again", await resolve(settings, dns, "example.test"))


async def test_one_host_failing_does_not_hide_the_others(settings: Settings) -> None:
    dns = FakeDns(
        mx_records={"example.test": [(10, "mx1.example.test"), (20, "mx2.example.test")]},
        hosts={"mx1.example.test": DnsStatus.FAILED, "mx2.example.test": ["192.0.2.2"]},
    )
    destination = await resolve(settings, dns, "example.test")
    assert destination == Destination("example.test", (Target("mx2.example.test", "192.0.2.2", 25),))


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_the_real_resolver_finds_local_addresses(host: str) -> None:
    # getaddrinfo reads /etc/hosts: no network needed.
    assert "127.0.0.1" in await DnsResolver().addresses(host)  # type: ignore[operator]
