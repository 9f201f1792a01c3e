"""`returnpath domains`: add a sending domain (keys made, sealed, in the store), the DNS
records it prints to publish, list, show, remove; one account per domain. Key files left by an
earlier version are stored by `returnpath migrate`."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import dns.rdatatype
import dns.zone
import pytest

from returnpath.core.ports import SealedKey
from returnpath.dkim import keys, records, sealing
from returnpath.dkim.keys import DomainKey
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN, Server, wait_for


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


def stored_keys(server: Server, domain: str = "example.com") -> dict[str, DomainKey]:
    """The domain's keys in the server's store, opened with its secret, by selector."""
    cipher = sealing.sealing_key(server.settings.secret_bytes)
    with closing(sqlite3.connect(server.data / "returnpath.db")) as conn:
        rows = conn.execute("SELECT selector, sealed FROM dkim_keys WHERE domain = ?", (domain,)).fetchall()
    return {selector: sealing.unseal(cipher, SealedKey(domain, selector, "", blob, 0.0)) for selector, blob in rows}


def joined(value: str) -> str:
    """A zone file's TXT data (quoted strings) as DNS hands it to a verifier: joined."""
    return "".join(re.findall(r'"([^"]*)"', value))


def test_add_prints_the_records_to_publish_and_keeps_the_keys_private(server: Server) -> None:
    lines = ok(server.cli("domains", "add", "Example.COM"))
    assert lines[0] == "; publish for example.com (account default):"
    found = zone(lines)
    (rsa_name, rsa_type, rsa_value), (ed_name, ed_type, ed_value) = found[:2]
    selector = re.fullmatch(r"(rp\d{6})\._domainkey\.example\.com\.", rsa_name)
    assert selector and rsa_type == ed_type == "TXT"
    assert ed_name == f"{selector[1]}e._domainkey.example.com."
    assert found[2:] == [
        ("bounces.example.com.", "MX", "10 relay.example.test."),
        ("bounces.example.com.", "TXT", '"v=spf1 a:relay.example.test -all"'),
        ("_dmarc.example.com.", "TXT", '"v=DMARC1; p=none; rua=mailto:postmaster@example.com"'),
    ]
    # Pasted into the domain's zone file, the lines publish at exactly these names (absolute:
    # a name without the final dot would be taken as relative to the zone's origin).
    pasted = dns.zone.from_text(
        "$TTL 300\n@ SOA ns.example.com. host.example.com. 1 1 1 1 1\n@ NS ns.example.com.\n" + "\n".join(lines),
        origin="example.com.",
        relativize=False,
    )
    assert {(str(name), dns.rdatatype.to_text(rdataset.rdtype)) for name, rdataset in pasted.iterate_rdatasets()} >= {
        (rsa_name, "TXT"),
        (ed_name, "TXT"),
        ("bounces.example.com.", "MX"),
        ("bounces.example.com.", "TXT"),
        ("_dmarc.example.com.", "TXT"),
    }
    assert str(pasted.find_rdataset("bounces.example.com.", "MX")[0].exchange) == "relay.example.test."
    # Without [delivery] public_addresses the SPF record names the host, and says how to do better.
    assert lines[-1] == (
        "; SPF names this host by name: set [delivery] public_addresses to list the sending addresses "
        "(ip4:/ip6:) instead"
    )
    # The keys are in the store, sealed (no private key in the clear in the file, nor a key
    # file in the data folder), and the printed records carry exactly their public halves (an
    # RSA record is cut into 255-octet strings).
    assert not (server.data / "domains").exists()
    assert b"PRIVATE KEY" not in (server.data / "returnpath.db").read_bytes()
    kept = stored_keys(server)
    rsa_key, ed_key = (kept[name.split(".")[0]] for name in (rsa_name, ed_name))
    assert all(len(part) <= 255 for part in re.findall(r'"([^"]*)"', rsa_value)) and rsa_value.count('"') >= 4
    assert records.record_problem(rsa_key, [joined(rsa_value)]) is None
    assert records.record_problem(ed_key, [joined(ed_value)]) is None
    assert records.record_problem(rsa_key, [joined(ed_value)]) is not None
    # show prints the same records again.
    assert ok(server.cli("domains", "show", "example.com")) == lines


def test_the_spf_record_lists_the_public_addresses_when_they_are_set(make_server: ServerFactory) -> None:
    server = make_server(start=False, delivery__public_addresses="192.0.2.10, 2001:db8::10")
    lines = ok(server.cli("domains", "add", "example.com"))
    assert ("bounces.example.com.", "TXT", '"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"') in zone(lines)
    assert not any("public_addresses" in line for line in lines)  # nothing left to set
    shown = json.loads(ok(server.cli("domains", "show", "example.com", "--json"))[0])
    assert {
        "name": "bounces.example.com",
        "type": "TXT",
        "value": '"v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all"',
        "purpose": "SPF: the addresses this host sends from",
    } in shown["records"]


@pytest.mark.parametrize("hostname", ["localhost", "mybox", "mybox.localdomain", "192.0.2.10"])
def test_a_hostname_no_receiver_can_reach_is_said_with_the_records(make_server: ServerFactory, hostname: str) -> None:
    # `init` on a machine without a public name writes "localhost" (or a bare name): the MX
    # printed would point there.
    server = make_server(start=False, hostname=hostname)
    lines = ok(server.cli("domains", "add", "example.com"))
    assert ("bounces.example.com.", "MX", f"10 {hostname}.") in zone(lines)
    assert lines[-1] == (
        f"; hostname {hostname!r} is no public DNS name, so the MX above leads nowhere: set hostname in "
        "returnpath.toml to this host's public DNS name, then print the records again (domains show)"
    )
    # A public name (the harness's relay.example.test) gets no such line: see the first test,
    # whose last line is the SPF note.


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
    assert removed["keys_kept_in"] == server.settings.store_display
    assert len(stored_keys(server)) == 2
    again = json.loads(ok(server.cli("domains", "add", "example.com", "--json"))[0])
    assert again["selectors"]["rsa"] == listed[0]["selectors"]["rsa"] + "b"
    assert again["selectors"]["ed25519"] == listed[0]["selectors"]["rsa"] + "be"


def test_a_domain_belongs_to_one_account(server: Server) -> None:
    assert server.cli("accounts", "add", "billing").returncode == 0
    ok(server.cli("domains", "add", "example.com", "--account", "billing"))
    assert refused(server.cli("domains", "add", "example.com")) == (
        "returnpath: the domain example.com belongs to another account: that account must remove it before this "
        "one adds it"
    )
    assert refused(server.cli("domains", "add", "example.com", "--account", "billing")) == (
        "returnpath: the domain example.com is configured already: its records to publish are shown again by "
        "`returnpath domains show example.com` (GET /v1/domains/example.com)"
    )
    # The other account neither sees nor removes it.
    assert ok(server.cli("domains", "list")) == []
    assert refused(server.cli("domains", "remove", "example.com")) == (
        "returnpath: no domain 'example.com' in this account"
    )
    assert [line.split()[0] for line in ok(server.cli("domains", "list", "--account", "billing"))] == ["example.com"]
    # A refused add stored no key.
    assert len(stored_keys(server)) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "localhost"), "returnpath: domain 'localhost' is not a domain name"),
        (("add", "exa mple.com"), "returnpath: domain 'exa mple.com' is not a domain name"),
        (("add", "192.0.2.1"), "returnpath: domain '192.0.2.1' is not a domain name"),
        (
            ("add", "example.com", "--bounce-domain=x_y.example.com"),
            "returnpath: bounce domain 'x_y.example.com' is not",
        ),
        (
            ("add", "example.com", "--bounce-domain", "Example.com."),
            "returnpath: the bounce domain must not be the domain example.com itself, whose MX it takes over: "
            "give a name of its own under it, such as bounces.example.com",
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


def as_an_earlier_version_left_it(server: Server) -> Path:
    """The domain's keys as files of the data folder, none in the store; the folder."""
    folder = server.data / "domains" / "example.com"
    for key in stored_keys(server).values():
        keys.write_key(folder, key)
    with closing(sqlite3.connect(server.data / "returnpath.db")) as conn, conn:
        conn.execute("DELETE FROM dkim_keys")
    return folder


def test_migrate_stores_the_key_files_of_an_earlier_version(server: Server) -> None:
    shown = ok(server.cli("domains", "add", "example.com"))
    folder = as_an_earlier_version_left_it(server)
    migrated = ok(server.cli("migrate"))
    assert migrated[-1] == f"returnpath: 2 DKIM key file(s) of {server.data / 'domains'} stored (the files stay)"
    assert sorted(stored_keys(server)) == sorted(p.stem for p in folder.iterdir())
    assert ok(server.cli("domains", "show", "example.com")) == shown  # the same keys, so the same records
    assert "DKIM key file" not in "\n".join(ok(server.cli("migrate")))  # nothing new the second time


def test_serve_stores_the_key_files_of_an_earlier_version_at_start(server: Server) -> None:
    ok(server.cli("domains", "add", "example.com"))
    folder = as_an_earlier_version_left_it(server)
    server.start()
    wait_for(lambda: len(stored_keys(server)) == 2, what="serve to store the key files")
    assert sorted(stored_keys(server)) == sorted(p.stem for p in folder.iterdir())
