"""The SPF evaluator (checks/spf.py) as a table: a record (and the records it refers to), an
address, the result and the term that decided it, asked of the loopback DNS server."""

from __future__ import annotations

import pytest

from returnpath.checks.lookups import Lookups
from returnpath.checks.spf import evaluate
from tests.dns_server import DnsServer, a, aaaa, mx, txt

D = "rp.example.com"

# (records at D, other zone entries, address, result, deciding term)
CASES: list[tuple[list[str], dict[str, list[str]], str, str, str]] = [
    (["v=spf1 ip4:192.0.2.0/24 -all"], {}, "192.0.2.77", "pass", "ip4:192.0.2.0/24"),
    (["v=spf1 ip6:2001:db8::/32 -all"], {}, "2001:db8::9", "pass", "ip6:2001:db8::/32"),
    (["v=spf1 ip6:2001:db8::/32 -all"], {}, "192.0.2.1", "fail", "-all"),
    (
        ["v=spf1 a:h.example.com/24 ~all"],
        {"h.example.com": ["A 192.0.2.1"]},
        "192.0.2.200",
        "pass",
        "a:h.example.com/24",
    ),
    (
        ["v=spf1 a:h.example.com//64 ~all"],
        {"h.example.com": ["AAAA 2001:db8::1"]},
        "2001:db8::ff",
        "pass",
        "a:h.example.com//64",
    ),
    (["v=spf1 mx -all"], {D: ["MX 10 m.example.com"], "m.example.com": ["A 192.0.2.5"]}, "192.0.2.5", "pass", "mx"),
    (
        ["v=spf1 include:spf.example.net ~all"],
        {"spf.example.net": ["TXT v=spf1 ip4:198.51.100.1 -all"]},
        "198.51.100.1",
        "pass",
        "include:spf.example.net",
    ),
    (
        ["v=spf1 include:spf.example.net ~all"],
        {"spf.example.net": ["TXT v=spf1 ip4:198.51.100.1 -all"]},
        "198.51.100.2",
        "softfail",
        "~all",
    ),
    (
        ["v=spf1 redirect=spf.example.net"],
        {"spf.example.net": ["TXT v=spf1 ip4:198.51.100.1 ?all"]},
        "198.51.100.9",
        "neutral",
        "?all",
    ),
    (["v=spf1 ip4:192.0.2.1", "v=spf1 -all"], {}, "192.0.2.1", "permerror", ""),
    (["v=spf1 exists:%{i}.spf.example.net -all"], {}, "192.0.2.1", "temperror", ""),
    (["v=spf1 include:nothing.example.net -all"], {}, "192.0.2.1", "permerror", ""),
    ([], {}, "192.0.2.1", "none", ""),
]


@pytest.mark.parametrize(("records", "others", "address", "result", "term"), CASES)
def test_spf(
    dns_server: DnsServer,
    lookups: Lookups,
    records: list[str],
    others: dict[str, list[str]],
    address: str,
    result: str,
    term: str,
) -> None:
    dns_server.zone[D] = [txt(r) for r in records]
    for name, entries in others.items():
        for entry in entries:
            kind, value = entry.split(" ", 1)
            record = {"A": a, "AAAA": aaaa, "TXT": txt}.get(kind)
            dns_server.zone.setdefault(name, []).append(  # type: ignore[union-attr]
                record(value) if record else mx(int(value.split()[0]), value.split()[1])
            )
    found = evaluate(lookups, address, D)
    assert (found.result, found.term.split(" (in ")[0]) == (result, term), found
