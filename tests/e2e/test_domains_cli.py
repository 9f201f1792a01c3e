"""`returnpath domains`: add a sending domain (keys made, 0600, in the data folder), the DNS
records it prints to publish, list, show, remove; one account per domain."""

from __future__ import annotations

import json
import re
import stat
import subprocess

import pytest

from returnpath.dkim import keys, records
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN, Server


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server(start=False)  # the command works on the data folder, running or not


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


def zone(lines: list[str]) -> list[tuple[str, str, str]]:
    """The printed record lines as (name, type, value)."""
    found = []
    for line in lines:
        if line.startswith(";"):
            continue
        name, kind, value = line.split(None, 2)
        found.append((name, kind, value))
    return found


def joined(value: str) -> str:
    """A zone file's TXT data (quoted strings) as DNS hands it to a verifier: joined."""
    return "".join(re.findall(r'"([^"]*)"', value))


def test_add_prints_the_records_to_publish_and_keeps_the_keys_private(server: Server) -> None:
    lines = ok(server.cli("domains", "add", "Example.COM"))
    assert lines[0] == "; publish for example.com (account default):"
    found = zone(lines)
    (rsa_name, rsa_type, rsa_value), (ed_name, ed_type, ed_value) = found[:2]
    selector = re.fullmatch(r"(rp\d{6})\._domainkey\.example\.com", rsa_name)
    assert selector and rsa_type == ed_type == "TXT"
    assert ed_name == f"{selector[1]}e._domainkey.example.com"
    assert found[2:] == [
        ("bounces.example.com", "MX", "10 relay.example.test"),
        ("bounces.example.com", "TXT", '"v=spf1 a:relay.example.test -all"'),
        ("_dmarc.example.com", "TXT", '"v=DMARC1; p=none; rua=mailto:postmaster@example.com"'),
    ]
    # Without [delivery] public_addresses the SPF record names the host, and says how to do better.
    assert lines[-1] == (
        "; SPF names this host by name: set [delivery] public_addresses to list the sending addresses "
        "(ip4:/ip6:) instead"
    )
    # The keys are files of the data folder that only their owner reads, and the printed
    # records carry exactly their public halves (an RSA record is cut into 255-octet strings).
    folder = server.data / "domains" / "example.com"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    rsa_key, ed_key = (keys.read_key(folder / f"{name.split('.')[0]}.pem") for name in (rsa_name, ed_name))
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert all(len(part) <= 255 for part in re.findall(r'"([^"]*)"', rsa_value)) and rsa_value.count('"') >= 4
    assert records.record_problem(rsa_key, [joined(rsa_value)]) is None
    assert records.record_problem(ed_key, [joined(ed_value)]) is None
    assert records.record_problem(rsa_key, [joined(ed_value)]) is not None
    # show prints the same records again.
    assert ok(server.cli("domains", "show", "example.com")) == lines


def test_the_spf_record_lists_the_public_addresses_when_they_are_set(make_server: ServerFactory) -> None:
    server = make_server(start=False, delivery__public_addresses="192.0.2.10, 2001:db8::10")
    lines = ok(server.cli("domains", "add", "example.com"))
    assert ("bounces.example.com", "TXT", '"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"') in zone(lines)
    assert not any("public_addresses" in line for line in lines)  # nothing left to set
    shown = json.loads(ok(server.cli("domains", "show", "example.com", "--json"))[0])
    assert {
        "name": "bounces.example.com",
        "type": "TXT",
        "value": '"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"',
        "purpose": "SPF: the addresses this host sends from",
    } in shown["records"]


def test_list_show_and_remove(server: Server) -> None:
    ok(server.cli("domains", "add", "example.com", "--bounce-domain", "rp.example.com"))
    ok(server.cli("domains", "add", "example.org"))
    listed = [json.loads(line) for line in ok(server.cli("domains", "list", "--json"))]
    assert [(d["domain"], d["bounce_domain"], d["state"]) for d in listed] == [
        ("example.com", "rp.example.com", "active"),
        ("example.org", f"{BOUNCE_DOMAIN.split('.')[0]}.example.org", "active"),
    ]
    assert listed[0]["selectors"]["ed25519"] == listed[0]["selectors"]["rsa"] + "e"
    shown = json.loads(ok(server.cli("domains", "show", "example.com", "--json"))[0])
    assert [(r["name"], r["type"]) for r in shown["records"]][2:] == [
        ("rp.example.com", "MX"),
        ("rp.example.com", "TXT"),
        ("_dmarc.example.com", "TXT"),
    ]
    removed = json.loads(ok(server.cli("domains", "remove", "example.com"))[0])
    assert removed["removed"] == "example.com"
    assert [line.split()[0] for line in ok(server.cli("domains", "list"))] == ["example.org"]
    assert (
        refused(server.cli("domains", "show", "example.com")) == "returnpath: no domain 'example.com' in this account"
    )
    # The keys stay (a selector once published is never used again): adding the domain back
    # makes the month's next pair.
    assert len(list((server.data / "domains" / "example.com").glob("*.pem"))) == 2
    again = json.loads(ok(server.cli("domains", "add", "example.com", "--json"))[0])
    assert again["selectors"]["rsa"] == listed[0]["selectors"]["rsa"] + "b"
    assert again["selectors"]["ed25519"] == listed[0]["selectors"]["rsa"] + "be"


def test_a_domain_belongs_to_one_account(server: Server) -> None:
    assert server.cli("accounts", "add", "billing").returncode == 0
    ok(server.cli("domains", "add", "example.com", "--account", "billing"))
    assert refused(server.cli("domains", "add", "example.com")) == (
        "returnpath: the domain example.com belongs to another account"
    )
    assert refused(server.cli("domains", "add", "example.com", "--account", "billing")) == (
        "returnpath: the domain example.com is configured already"
    )
    # The other account neither sees nor removes it.
    assert ok(server.cli("domains", "list")) == []
    assert refused(server.cli("domains", "remove", "example.com")) == (
        "returnpath: no domain 'example.com' in this account"
    )
    assert [line.split()[0] for line in ok(server.cli("domains", "list", "--account", "billing"))] == ["example.com"]
    # A refused add wrote no key.
    assert len(list((server.data / "domains" / "example.com").glob("*.pem"))) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "localhost"), "returnpath: domain 'localhost' is not a domain name"),
        (("add", "exa mple.com"), "returnpath: domain 'exa mple.com' is not a domain name"),
        (
            ("add", "example.com", "--bounce-domain=x_y.example.com"),
            "returnpath: bounce domain 'x_y.example.com' is not",
        ),
        (("add",), "returnpath: domains add needs a DOMAIN"),
        (
            ("show", "example.com", "--bounce-domain", "rp.example.com"),
            "returnpath: --bounce-domain goes with domains add",
        ),
    ],
)
def test_bad_input_is_refused_with_a_reason(server: Server, args: tuple[str, ...], message: str) -> None:
    assert refused(server.cli("domains", *args)).startswith(message)
    assert not (server.data / "domains").exists() or not any((server.data / "domains").iterdir())
