"""Sending domains end to end (issue 11): a message whose From: is in a configured domain (or a
subdomain of it) leaves signed, verified by dkimpy against the records `domains add` printed
(served by a loopback DNS server), with the domain's own bounce domain in MAIL FROM; a DSN
sent back to that bounce domain fails the right delivery. A message whose domain's key cannot
be opened is accepted and deferred (4.7.5, naming the key), never sent unsigned, and leaves
signed once the key is repaired. A rotation switches once its records are published."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from returnpath import config
from returnpath.core import tokens
from returnpath.smtp.inbound import DOMAINS_FRESH as INBOUND_FRESH
from returnpath.usecases.relay import DOMAINS_FRESH
from tests.delivery.sinks import Sink
from tests.dkim.verifiers import all_say, dkimpy, require_verifiers, results_by_kind
from tests.dns_server import DnsServer, dns_server, txt  # noqa: F401 - a fixture
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, wait_for
from tests.e2e.test_bounces import DSN, give_back

MESSAGE = (
    b"From: Shop <news@mail.example.com>\r\nTo: a@example.net\r\nSubject: order\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks.\r\n"
)


@pytest.fixture
def server(make_server: ServerFactory, sink: Sink, dns_server: DnsServer) -> Server:  # noqa: F811
    return signing_server(make_server, sink, dns_server)


def signing_server(make_server: ServerFactory, sink: Sink, dns_server: DnsServer, **changes: object) -> Server:  # noqa: F811
    """A started server delivering to `sink`, with example.com added (bounce domain
    rp.example.com) and its two DKIM key records published in `dns_server`."""
    srv = make_server(
        start=False,
        workers=1,
        delivery__routes={"*": sink.route},
        delivery__retry__first=config.Duration(0.3),
        dns__nameservers=f"127.0.0.1:{dns_server.port}",
        dns__rotation_check=config.Duration(0.3),
        **changes,
    )
    added = srv.cli("domains", "add", "example.com", "--bounce-domain", "rp.example.com", "--json")
    assert added.returncode == 0, added.stderr
    publish(dns_server, json.loads(added.stdout)["records"][:2])  # the two DKIM key records, as printed
    return srv.start()


def publish(dns_server: DnsServer, records: list[dict[str, str]]) -> None:  # noqa: F811
    for record in records:
        dns_server.zone[record["name"]] = [txt(*re.findall(r'"([^"]*)"', record["value"]))]


def arrived(sink: Sink, recipient: str) -> tuple[str, bytes]:
    transaction = wait_for(
        lambda: next((t for t in sink.transactions if t.rcpt_to == [recipient]), None),
        what=f"the sink to receive mail for {recipient}",
    )
    return transaction.mail_from, transaction.data


def test_smtp_and_http_submissions_leave_signed_with_the_domains_bounce_domain(
    server: Server,
    sink: Sink,
    dns_server: DnsServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    require_verifiers()
    selectors = json.loads(server.cli("domains", "show", "example.com", "--json").stdout)["selectors"]
    smtp_id = server.submit_smtp("news@mail.example.com", ["a@example.net"], MESSAGE)["a@example.net"]
    with server.api() as api:
        reply = api.post(
            "/v1/send",
            json={"recipient": "b@example.net", "mime": MESSAGE.decode().replace("a@example.net", "b@example.net")},
        )
    assert reply.status_code == 200, reply.text
    http_id = reply.json()["recipients"]["b@example.net"]
    for recipient, delivery_id in (("a@example.net", smtp_id), ("b@example.net", http_id)):
        mail_from, data = arrived(sink, recipient)
        local, _, domain = mail_from.rpartition("@")
        assert domain == "rp.example.com"
        assert tokens.decode(server.settings.secret_bytes, local) == delivery_id
        assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
        # The bytes as they arrived, by three verifiers that share no code (tests/dkim/verifiers.py).
        results = results_by_kind(data, dns_server, tmp_path / recipient, selectors)
        assert all_say("pass", results), results
        assert len(dkimpy(data, dns_server)) == 2  # no other signature
        # Changed in transit, it fails.
        changed = results_by_kind(data.replace(b"Thanks.", b"Thanks!"), dns_server, tmp_path / "changed", selectors)
        assert all_say("fail", changed), changed


def test_mail_of_other_domains_is_not_signed_and_keeps_the_instance_bounce_domain(server: Server, sink: Sink) -> None:
    other = MESSAGE.replace(b"news@mail.example.com", b"news@example.org")
    server.submit_smtp("news@example.org", ["c@example.net"], other)
    mail_from, data = arrived(sink, "c@example.net")
    assert mail_from.endswith("@" + server.settings.bounce_domain)
    assert b"DKIM-Signature" not in data


def test_a_dsn_to_the_domains_bounce_domain_fails_the_right_delivery(server: Server, sink: Sink) -> None:
    # Two deliveries at the same bounce domain, one submitted over each path; the DSN of the
    # one submitted over HTTP fails that one, and only that one.
    kept_id = server.submit_smtp("news@mail.example.com", ["kept@example.net"], MESSAGE)["kept@example.net"]
    with server.api() as api:
        reply = api.post("/v1/send", json={"recipient": "gone@example.net", "mime": MESSAGE.decode()})
    assert reply.status_code == 200, reply.text
    delivery_id = reply.json()["recipients"]["gone@example.net"]
    kept, _ = arrived(sink, "kept@example.net")
    envelope, _ = arrived(sink, "gone@example.net")
    assert kept.endswith("@rp.example.com") and envelope.endswith("@rp.example.com") and kept != envelope
    give_back(server, envelope, DSN, recipient="gone@example.net")
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        what="the async failure in failures.log",
    )
    assert (failure["type"], failure["status"], failure["recipient"]) == ("async", "5.1.1", "gone@example.net")
    assert server.delivery(delivery_id)["state"] == "failed"
    assert server.delivery(kept_id)["state"] == "delivered"
    assert not [f for f in server.log("failures") if f["id"] == kept_id]


def test_a_dsn_to_a_removed_domains_bounce_domain_still_fails_the_right_delivery(server: Server, sink: Sink) -> None:
    delivery_id = server.submit_smtp("news@mail.example.com", ["gone@example.net"], MESSAGE)["gone@example.net"]
    envelope, _ = arrived(sink, "gone@example.net")
    assert envelope.endswith("@rp.example.com")
    removed = server.cli("domains", "remove", "example.com")
    assert removed.returncode == 0, removed.stderr
    retry = server.settings.delivery.retry.lifetime
    assert json.loads(removed.stdout)["bounce_domain_accepted_until"] >= time.time() + retry + 7 * 86400 - 60
    # Once the relay and the inbound server have read the domains again, new mail is neither
    # signed nor sent from the removed bounce domain...
    time.sleep(INBOUND_FRESH + 0.5)
    server.submit_smtp("news@mail.example.com", ["later@example.net"], MESSAGE)
    later, data = arrived(sink, "later@example.net")
    assert later.endswith("@" + server.settings.bounce_domain) and b"DKIM-Signature" not in data
    # ...but the DSN of mail sent before the removal is accepted there, and recognised.
    give_back(server, envelope, DSN, recipient="gone@example.net")
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        what="the async failure in failures.log",
    )
    assert (failure["type"], failure["status"], failure["recipient"]) == ("async", "5.1.1", "gone@example.net")


def fails_async(server: Server, delivery_id: str, recipient: str) -> None:
    """Wait for the delivery's asynchronous failure (of the DSN given back) in failures.log."""
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        what=f"the async failure of {recipient} in failures.log",
    )
    assert (failure["type"], failure["status"], failure["recipient"]) == ("async", "5.1.1", recipient)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_removed_domain_added_again_with_another_bounce_domain_is_new_and_the_old_one_still_takes_dsns(
    backend: str,
    make_server: ServerFactory,
    sink: Sink,
    dns_server: DnsServer,  # noqa: F811
    request: pytest.FixtureRequest,
) -> None:
    store = {"store": request.getfixturevalue("pg_url")} if backend == "postgresql" else {}
    server = signing_server(make_server, sink, dns_server, **store)
    old = json.loads(server.cli("domains", "show", "example.com", "--json").stdout)["selectors"]
    before_id = server.submit_smtp("news@mail.example.com", ["before@example.net"], MESSAGE)["before@example.net"]
    before, _ = arrived(sink, "before@example.net")
    assert before.endswith("@rp.example.com")

    # Removed, and added again at once, with another bounce domain.
    assert server.cli("domains", "remove", "example.com").returncode == 0
    added = server.cli("domains", "add", "example.com", "--bounce-domain", "rp2.example.com", "--json")
    assert added.returncode == 0, added.stderr
    again = json.loads(added.stdout)
    assert again["bounce_domain"] == "rp2.example.com"
    new = again["selectors"]
    assert not set(new.values()) & set(old.values())  # new keys, under selectors never used before
    publish(dns_server, again["records"][:2])

    # The new domain signs with its new keys and sends from its new bounce domain...
    time.sleep(INBOUND_FRESH + 0.5)  # the relay and the inbound server read the domains again
    after_id = server.submit_smtp("news@mail.example.com", ["after@example.net"], MESSAGE)["after@example.net"]
    after, data = arrived(sink, "after@example.net")
    assert after.endswith("@rp2.example.com")
    assert dkimpy(data, dns_server) == {new["rsa"]: "pass", new["ed25519"]: "pass"}
    # ...its DSNs come back there and are recognised...
    give_back(server, after, DSN, recipient="after@example.net")
    fails_async(server, after_id, "after@example.net")
    # ...and the DSN of mail sent before the removal still comes back to the old bounce domain.
    give_back(server, before, DSN, recipient="before@example.net")
    fails_async(server, before_id, "before@example.net")


def test_a_message_whose_key_cannot_be_read_is_deferred_and_leaves_signed_once_repaired(
    server: Server,
    sink: Sink,
    dns_server: DnsServer,  # noqa: F811
) -> None:
    # The RSA key's row damaged in the store (as a key sealed under another secret would be).
    with closing(sqlite3.connect(server.data / "returnpath.db")) as conn, conn:
        good = dict(conn.execute("SELECT selector, sealed FROM dkim_keys WHERE domain = 'example.com'").fetchall())
        rsa = min(good)
        conn.execute("UPDATE dkim_keys SET sealed = ? WHERE selector = ?", (good[rsa][:-1] + b"?", rsa))
    delivery_id = server.submit_smtp("news@mail.example.com", ["d@example.net"], MESSAGE)["d@example.net"]
    with server.api() as api:
        answer = api.post("/v1/send", json={"recipient": "e@example.net", "mime": MESSAGE.decode()})
    assert answer.status_code == 200, answer.text
    http_id = answer.json()["recipients"]["e@example.net"]
    for some in (delivery_id, http_id):
        view = wait_for(lambda some=some: (v := server.delivery(some))["attempt_count"] >= 2 and v, what="deferrals")
        deferred = [e for e in view["events"] if e["event"] == "deferred"]
        assert deferred and deferred[0]["status"] == "4.7.5", view
        assert deferred[0]["description"].startswith(f"cannot sign: the DKIM key {rsa} of example.com cannot be opened")
    assert not [t for t in sink.transactions if t.rcpt_to in (["d@example.net"], ["e@example.net"])]
    assert "cannot sign for example.com" in server.stderr()

    with closing(sqlite3.connect(server.data / "returnpath.db")) as conn, conn:
        conn.execute("UPDATE dkim_keys SET sealed = ? WHERE selector = ?", (good[rsa], rsa))
    _, data = arrived(sink, "d@example.net")
    assert dkimpy(data, dns_server) == dict.fromkeys(good, "pass")
    _, other = arrived(sink, "e@example.net")
    assert dkimpy(other, dns_server) == dict.fromkeys(good, "pass")
    assert server.delivery(delivery_id)["state"] == "delivered"


def test_a_rotation_switches_by_itself_once_the_new_records_are_published(
    server: Server,
    sink: Sink,
    dns_server: DnsServer,  # noqa: F811
) -> None:
    rotated = server.cli("domains", "rotate", "example.com", "--json")
    assert rotated.returncode == 0, rotated.stderr
    shown = json.loads(rotated.stdout)
    old, new = shown["selectors"], shown["pending_selectors"]
    assert (shown["state"], new) == ("rotating", {"rsa": old["rsa"] + "b", "ed25519": old["rsa"] + "be"})
    next_records = [r for r in shown["records"] if r["purpose"].startswith("next DKIM key")]
    assert [r["name"] for r in next_records] == [f"{s}._domainkey.example.com" for s in new.values()]

    # Not published yet: the old keys go on signing, and `show` says what the new ones wait for.
    server.submit_smtp("news@mail.example.com", ["before@example.net"], MESSAGE)
    _, before = arrived(sink, "before@example.net")
    assert dkimpy(before, dns_server) == {old["rsa"]: "pass", old["ed25519"]: "pass"}
    lines = server.cli("domains", "show", "example.com").stdout.splitlines()
    assert [line for line in lines if line.startswith("; next key")] == [
        f"; next key {s} not signing yet: no TXT record" for s in new.values()
    ]

    # Published: the supervisor's check switches without anybody running a command.
    publish(dns_server, next_records)
    wait_for(
        lambda: json.loads(server.cli("domains", "list", "--json").stdout)["selectors"] == new,
        what="the supervisor to switch to the new selectors",
    )
    time.sleep(DOMAINS_FRESH + 0.5)  # the relay's worker reads the domain's selectors again
    server.submit_smtp("news@mail.example.com", ["after@example.net"], MESSAGE)
    _, after = arrived(sink, "after@example.net")
    assert dkimpy(after, dns_server) == {new["rsa"]: "pass", new["ed25519"]: "pass"}
    assert "DKIM keys of example.com switched to" in server.stderr()
    shown = json.loads(server.cli("domains", "show", "example.com", "--json").stdout)
    assert [(r["selector"], r["removable_after"] - r["retired_at"]) for r in shown["retired"]] == [
        (old["rsa"], 7 * 86400),
        (old["ed25519"], 7 * 86400),
    ]
    assert shown["state"] == "active" and "pending_records" not in shown
