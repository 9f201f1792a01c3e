"""Signing at acceptance (`Relay.submit`): the signatures are made once per message and
stored with it before it is answered. Messages submitted at the same time must each be stored
with signatures of their own bytes, and a message that cannot be signed must be refused with
nothing stored."""

from __future__ import annotations

import asyncio

import pytest

from returnpath.config import Settings
from returnpath.core.model import Submission, Trace
from returnpath.dkim.records import record_name, record_value, txt_strings
from returnpath.errors import MessageError
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import domains
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import Relay
from tests.dkim.conftest import DOMAIN, NOW
from tests.dkim.verifiers import dkimpy
from tests.dns_server import DnsServer, txt

TRACE = Trace("ESMTPA", "192.0.2.7", "app.example.com")


def submission(i: int) -> Submission:
    mime = (
        f"From: Shop <news@{DOMAIN}>\r\nTo: c{i}@example.net\r\nSubject: order {i}\r\n\r\nThanks for order {i}.\r\n"
    ).encode()
    return Submission(mail_from=f"news@{DOMAIN}", recipients=(f"c{i}@example.net",), mime=mime)


@pytest.fixture
async def relay(store: SqliteStore, settings: Settings, account: NewAccount, dns_server: DnsServer) -> Relay:
    """A relay whose account has example.com as a sending domain, its records published."""
    domain = await domains.add_domain(store, settings, account.account, DOMAIN, NOW)
    for key in await domains.signing_keys(store, settings, domain):
        dns_server.zone[record_name(key.selector, DOMAIN)] = [txt(*txt_strings(record_value(key)))]
    return Relay(store, settings)


async def test_messages_submitted_at_once_are_each_stored_with_their_own_signatures(
    relay: Relay, store: SqliteStore, account: NewAccount, dns_server: DnsServer
) -> None:
    accepted = await asyncio.gather(*(relay.submit(account.account, submission(i), TRACE) for i in range(24)))
    for i, message in enumerate(accepted):
        stored = await store.mime(message.message_id)
        assert stored is not None
        assert stored.startswith(b"DKIM-Signature:")
        assert f"Subject: order {i}\r\n".encode() in stored
        # A signature made over another message's bytes would fail here (bh= or b=).
        assert sorted(dkimpy(stored, dns_server).values()) == ["pass", "pass"]


async def test_a_message_whose_header_cannot_be_signed_is_refused_and_not_stored(
    relay: Relay, store: SqliteStore, account: NewAccount
) -> None:
    broken = submission(1)
    broken = Submission(broken.mail_from, broken.recipients, mime=b"a line that is no header field\r\n" + broken.mime)
    with pytest.raises(MessageError, match="header cannot be parsed"):
        await relay.submit(account.account, broken, TRACE)
    assert not any((await store.queue_summary()).values())  # no delivery of it waits anywhere
