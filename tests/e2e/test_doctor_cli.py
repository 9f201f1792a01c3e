"""`returnpath domains check` and `returnpath doctor` against a loopback DNS server
(`[dns] nameservers`): the records `domains add` prints, once published, make every DNS line
ok and the exit status 0; a broken record gives its fail line and exit status 1."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from returnpath.config import Duration, Size
from tests.dns_server import DnsServer, a, dns_server, mx, ptr, reverse, txt
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN, Server, free_port
from tests.hostile.tmpfs import SmallDisk, small_disk

__all__ = ["dns_server", "small_disk"]

HOST = "relay.example.test"
ADDRESS = "192.0.2.10"


@pytest.fixture
def server(make_server: ServerFactory, dns_server: DnsServer) -> Server:
    server = make_server(
        start=False,
        dns__nameservers=f"127.0.0.1:{dns_server.port}",
        dns__timeout=Duration(1),
        delivery__public_addresses=ADDRESS,
    )
    result = server.cli("domains", "add", "example.com")
    assert result.returncode == 0, result.stderr
    publish(dns_server, result.stdout)
    dns_server.zone[HOST] = [a(ADDRESS)]
    dns_server.zone[reverse(ADDRESS)] = [ptr(HOST)]
    dns_server.zone[BOUNCE_DOMAIN] = [mx(10, HOST)]
    return server


def publish(dns: DnsServer, printed: str) -> None:
    """Put the records `domains add` printed into the zone, as an operator would."""
    for line in printed.splitlines():
        if line.startswith(";"):
            continue
        name, kind, value = line.split(None, 2)
        entry = dns.zone.setdefault(name.rstrip("."), [])  # printed absolute, with the final dot
        assert isinstance(entry, list)
        if kind == "MX":
            preference, host = value.split()
            entry.append(mx(int(preference), host))
        else:
            entry.append(txt(*re.findall(r'"([^"]*)"', value)))


def lines(result: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_published_records_make_domains_check_and_doctor_pass(server: Server) -> None:
    result = server.cli("domains", "check", "example.com")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout.splitlines()
    assert text[0] == f"[ok  ] sending addresses: {ADDRESS} ([delivery] public_addresses)"
    assert any(line.startswith("[ok  ] SPF bounces.example.com for 192.0.2.10: pass: ip4:192.0.2.10") for line in text)
    assert sum(line.startswith("[ok  ] DKIM rp") for line in text) == 2

    result = server.cli("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    found = lines(result)
    assert not [c for c in found if c["status"] == "fail"], found
    whats = [c["what"] for c in found]
    for expected in (
        "MX bounces.example.com",
        f"MX {BOUNCE_DOMAIN}",
        f"hostname {HOST}",
        f"reverse DNS {ADDRESS}",
        "clock",
    ):
        assert expected in whats
    assert whats[0].startswith("store ") and found[0]["status"] == "ok"
    assert any(w.startswith("TLS certificate") for w in whats) and any(w.startswith("free disk") for w in whats)


def test_a_broken_record_fails_both_commands(server: Server, dns_server: DnsServer) -> None:
    name = next(
        n for n in dns_server.zone if n.endswith("._domainkey.example.com") and not n.split(".")[0].endswith("e")
    )
    dns_server.zone.pop(name)
    result = server.cli("domains", "check")
    assert result.returncode == 1
    assert f"[FAIL] DKIM {name}: no TXT record" in result.stdout
    assert "       fix: publish the record `returnpath domains show example.com` prints" in result.stdout

    dns_server.zone.pop(reverse(ADDRESS))
    result = server.cli("doctor", "--json")
    assert result.returncode == 1
    failing = {c["what"] for c in lines(result) if c["status"] == "fail"}
    assert failing == {f"DKIM {name}", f"reverse DNS {ADDRESS}"}


def test_an_unknown_domain_is_refused(server: Server) -> None:
    result = server.cli("domains", "check", "example.org")
    assert result.returncode == 1 and "no sending domain 'example.org'" in result.stderr


def test_a_bounce_domain_shared_with_the_instance_is_checked_once(server: Server, dns_server: DnsServer) -> None:
    """A sending domain whose bounce domain is `[bounce] domain` itself gets one MX line, not
    the same line twice (once as the domain's, once as the instance's default)."""
    result = server.cli("domains", "add", "example.org", "--bounce-domain", BOUNCE_DOMAIN)
    assert result.returncode == 0, result.stderr
    publish(dns_server, result.stdout)
    dns_server.zone[BOUNCE_DOMAIN] = [mx(10, HOST)]  # publish() appended the same MX again
    result = server.cli("doctor", "--json")
    whats = [c["what"] for c in lines(result)]
    assert whats.count(f"MX {BOUNCE_DOMAIN}") == 1, whats
    assert whats.count("MX bounces.example.com") == 1, whats


def test_a_file_that_is_no_database_is_said_so(server: Server) -> None:
    """Its fix is not the permissions (which are right): the file is damaged or another one."""
    (server.data / "returnpath.db").write_bytes(b"not an SQLite file, whatever its name says\n" * 100)
    result = server.cli("doctor", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (store,) = [line for line in lines(result) if line["what"].startswith("store ")]
    assert (store["status"], store["detail"]) == ("fail", "cannot be read: file is not a database")
    assert store["fix"] == "restore it from a backup, or set [storage] url to the node's returnpath.db"


@pytest.mark.parametrize("wrong", ["no such database", "no server there"])
def test_a_postgresql_store_it_cannot_connect_to_is_not_told_to_migrate(
    tmp_path: Path, pg_url: str, dns_server: DnsServer, wrong: str
) -> None:
    """`migrate` cannot reach it either: the fix names the server, the URL and createdb."""
    url = pg_url.rsplit("/", 1)[0] + "/nosuchdb" if wrong == "no such database" else pg_url
    if wrong == "no server there":
        url = re.sub(r":\d+/", f":{free_port()}/", pg_url)
    server = Server(tmp_path / "node", store=pg_url, storage__url=url, dns__nameservers=f"127.0.0.1:{dns_server.port}")
    result = server.cli("doctor", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    (store,) = [line for line in lines(result) if line["what"].startswith("store ")]
    reason = 'database "nosuchdb" does not exist' if wrong == "no such database" else "Connection refused"
    assert store["status"] == "fail" and reason in store["detail"], store
    assert "migrate" not in store["fix"] and "correct [storage] url" in store["fix"], store


def test_free_disk_below_the_reserve_is_shown_in_comparable_sizes(
    make_server: ServerFactory, small_disk: SmallDisk
) -> None:
    # A 1 MB disk against a 2 MB reserve: "0.0 GB free, below reserve_free_space" told the
    # operator nothing they could compare; the line gives both, in MB.
    server = make_server(
        start=False, logs__dir=str(small_disk.path), smtp__inbound__reserve_free_space=Size(2 * 1024**2)
    )
    result = server.cli("doctor", "--json")
    [disk] = [line for line in lines(result) if line["what"] == f"free disk {small_disk.path}"]
    assert (disk["status"], disk["detail"]) == (
        "fail",
        "1.0 MB free, below [smtp.inbound] reserve_free_space (2.0 MB): returned mail is refused",
    )
