"""DKIM keys kept in the store (usecases/domains.py, dkim/sealing.py), so that every node of a
deployment signs: two nodes on one PostgreSQL database (each its own data folder, the same
secret), a domain added through one and signed for by the other, verified by dkimpy against the
records the first printed; a node with another secret does not send the message unsigned but
defers it, saying which key it cannot open; and key files of earlier versions are imported."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from returnpath.config import Duration, Settings
from returnpath.core.model import Submission, Trace, Verdict
from returnpath.core.senders import SendingDomain
from returnpath.delivery.engine import DeliveryEngine
from returnpath.dkim import keys
from returnpath.dkim.records import record_value, txt_strings
from returnpath.errors import StoreError
from returnpath.store.postgresql import PostgresStore
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import domains
from returnpath.usecases.accounts import NewAccount, create_account
from returnpath.usecases.relay import Relay
from tests.delivery.sinks import Sink, sink
from tests.dkim.verifiers import dkimpy
from tests.dns_server import DnsServer, txt

__all__ = ["sink"]

NOW = 1796119867.0  # 2026-12-01 10:11:07 UTC
MESSAGE = b"From: Shop <news@example.com>\r\nTo: a@example.net\r\nSubject: order\r\n\r\nThanks.\r\n"


def node_settings(settings: Settings, folder: Path, secret: str | None = None) -> Settings:
    """`settings` for another node: its own data folder; the same secret unless told."""
    other = copy.deepcopy(settings)
    other.base = folder
    if secret is not None:
        other.secret = secret
    return other


@pytest.fixture
async def nodes(pg_url: str, settings: Settings, tmp_path: Path) -> AsyncIterator[list[tuple[PostgresStore, Settings]]]:
    """Two nodes' stores on one PostgreSQL database, and their settings."""
    made = []
    for name in ("a", "b"):
        store = PostgresStore(pg_url, node=name)
        await store.open()
        made.append((store, node_settings(settings, tmp_path / name)))
    yield made
    for store, _ in made:
        await store.close()


def publish_printed(dns_server: DnsServer, printed: list[domains.DnsRecord]) -> None:
    """The DKIM records as `domains add` printed them, into the loopback DNS server."""
    for record in printed:
        if "._domainkey." in record.name:
            dns_server.zone[record.name] = [txt(*re.findall(r'"([^"]*)"', record.value))]


async def test_a_domain_added_on_one_node_is_signed_for_by_another(
    nodes: list[tuple[PostgresStore, Settings]], dns_server: DnsServer
) -> None:
    (store_a, settings_a), (store_b, settings_b) = nodes
    account = (await create_account(store_a, "app", NOW)).account
    domain = await domains.add_domain(store_a, settings_a, account, "example.com", NOW)
    publish_printed(dns_server, await domains.dns_records(store_a, settings_a, domain))

    signing = await Relay(store_b, settings_b).signing(account, MESSAGE)
    assert signing is not None and signing[1] is not None
    signed = signing[1].sign(MESSAGE, NOW) + MESSAGE
    assert dkimpy(signed, dns_server) == {domain.rsa_selector: "pass", domain.ed25519_selector: "pass"}
    # No key file anywhere: the keys are in the store only, sealed.
    assert not list(settings_a.path(".").rglob("*.pem")) and not list(settings_b.path(".").rglob("*.pem"))
    stored = await store_b.dkim_keys("example.com")
    assert [k.selector for k in stored] == list(domain.selectors)
    assert all(b"PRIVATE KEY" not in k.sealed and len(k.sealed) > 32 for k in stored)

    # A rotation made on node b is signed with on node a once it switches.
    rotating = await domains.rotate_domain(store_b, settings_b, account, "example.com", NOW + 60)
    switched = rotating.switched(NOW + 120)
    assert await store_b.update_domain(switched, rotating)
    publish_printed(dns_server, await domains.dns_records(store_b, settings_b, switched))
    relay_a = Relay(store_a, settings_a)
    signing = await relay_a.signing(account, MESSAGE)
    assert signing is not None and signing[1] is not None
    assert dkimpy(signing[1].sign(MESSAGE, NOW) + MESSAGE, dns_server) == dict.fromkeys(switched.selectors, "pass")


@pytest.fixture
def fast_settings(settings: Settings, sink: Sink, tmp_path: Path) -> Settings:
    """A node with ANOTHER secret, delivering to the sink, retrying within a second."""
    other = node_settings(settings, tmp_path / "c", secret="another secret of 16+ characters")
    other.delivery.routes = {"*": sink.route}
    other.delivery.poll_interval = Duration(0.05)
    other.delivery.retry.first = Duration(0.2)
    other.delivery.retry.factor = 1.0
    return other


async def test_a_node_with_another_secret_defers_rather_than_sending_unsigned(
    nodes: list[tuple[PostgresStore, Settings]],
    pg_url: str,
    fast_settings: Settings,
    sink: Sink,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store_a, settings_a = nodes[0]
    account = (await create_account(store_a, "app", NOW)).account
    domain = await domains.add_domain(store_a, settings_a, account, "example.com", NOW)
    store_c = PostgresStore(pg_url, node="c")
    await store_c.open()
    engine = DeliveryEngine(store_c, fast_settings, owner="c/w")
    try:
        with pytest.raises(StoreError) as caught:
            await domains.signing_keys(store_c, fast_settings, domain)
        said = str(caught.value)
        assert said.startswith(f"the DKIM key {domain.rsa_selector} of example.com cannot be opened with this node's")
        assert "secret (returnpath.toml)" in said

        # Accepted (the application is not refused for the operator's mistake), never sent unsigned.
        caplog.set_level(logging.ERROR)
        relay = Relay(store_c, fast_settings)
        submission = Submission(mail_from="news@example.com", recipients=("d@example.net",), mime=MESSAGE)
        accepted = await relay.submit(account, submission, Trace("HTTP", "192.0.2.10"))
        assert "cannot sign for example.com" in caplog.text and said in caplog.text
        await engine.start()
        [(_, delivery_id)] = accepted.deliveries
        deadline = time.monotonic() + 10
        while (view := await store_c.delivery(account.id, delivery_id)) is None or len(view.history) < 2:
            assert time.monotonic() < deadline, view
            await asyncio.sleep(0.05)
        assert {(a.verdict, a.status) for a in view.history} == {(Verdict.TEMPORARY, "4.7.5")}
        assert view.history[0].text == f"cannot sign: {said}"
        assert sink.transactions == []
    finally:
        await engine.stop(1)
        await store_c.close()


async def test_key_files_of_an_earlier_version_are_imported_and_signed_with_everywhere(
    nodes: list[tuple[PostgresStore, Settings]], dns_server: DnsServer
) -> None:
    (store_a, settings_a), (store_b, settings_b) = nodes
    account = (await create_account(store_a, "app", NOW)).account
    # As an earlier version left node a: the keys as files in its data folder, the row in the store.
    pair = keys.generate_pair(NOW, [])
    folder = domains.keys_folder(settings_a, "example.com")
    files = [keys.write_key(folder, key) for key in pair]
    (folder / "junk.pem").write_bytes(b"not a key")  # said in the log and skipped, not fatal
    old = domain_row(account.id, pair)
    await store_a.add_domain(old)
    for key in pair:
        dns_server.zone[f"{key.selector}._domainkey.example.com"] = [txt(*txt_strings(record_value(key)))]
    # Before the import, node b has no way to the keys, and says where it looked.
    with pytest.raises(StoreError, match=r"in neither the store nor this node's .*/b/domains/example.com/rp202612.pem"):
        await domains.signing_keys(store_b, settings_b, old)

    assert await domains.import_key_files(store_a, settings_a) == 2
    assert await domains.import_key_files(store_a, settings_a) == 0  # again (every start): nothing new
    assert all(path.exists() for path in files)  # the files stay, for an earlier version run again
    signing = await Relay(store_b, settings_b).signing(account, MESSAGE)
    assert signing is not None and signing[1] is not None
    assert dkimpy(signing[1].sign(MESSAGE, NOW) + MESSAGE, dns_server) == dict.fromkeys(old.selectors, "pass")
    # Rotating on node b (no files) takes selectors never used, files included.
    rotating = await domains.rotate_domain(store_b, settings_b, account, "example.com", NOW)
    assert rotating.pending_selectors == ("rp202612b", "rp202612be")


def domain_row(account_id: str, pair: tuple[keys.DomainKey, keys.DomainKey]) -> SendingDomain:
    return SendingDomain(account_id, "example.com", "bounces.example.com", NOW, pair[0].selector, pair[1].selector)


async def test_a_key_file_not_imported_yet_is_imported_when_signing_needs_it(
    store: SqliteStore, settings: Settings, account: NewAccount
) -> None:
    pair = keys.generate_pair(NOW, [])
    for key in pair:
        keys.write_key(domains.keys_folder(settings, "example.com"), key)
    old = domain_row(account.account.id, pair)
    await store.add_domain(old)
    found = await domains.signing_keys(store, settings, old)
    assert [k.public_key_bytes() for k in found] == [k.public_key_bytes() for k in pair]
    assert [k.selector for k in await store.dkim_keys("example.com")] == list(old.selectors)
    # A damaged file is named, as before.
    keys.key_path(domains.keys_folder(settings, "example.com"), "rp202611").write_bytes(b"not a key")
    missing = domain_row(account.account.id, pair)
    with pytest.raises(StoreError, match=r"the DKIM key .*rp202611\.pem is not a usable PEM"):
        await domains.pending_keys(store, settings, missing.rotating("rp202611", "rp202611e"))
