"""A worker that stops (SIGTERM, `serve` stopping) tells its SMTP clients so, RFC 5321's way: a
connection between two messages hears 421 4.3.2 at once; one in the middle of a message gets
that message's reply first (it was stored: its client must not send it again), then the 421;
one that does not finish within the grace hears the 421 then, and nothing of it is stored.
Before, open connections were cut without a reply when the process ended."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import pytest

from returnpath.config import Settings
from returnpath.smtp.replies import S421_SHUTTING_DOWN
from returnpath.smtp.server import shut_down
from returnpath.smtp.submission import start_submission_server
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import Relay

from .conftest import MIME, TEST_AUTH_DELAY, Address, RawClient

GOODBYE = S421_SHUTTING_DOWN.format("relay.example.test")
QUEUED = re.compile(r"^250 2\.0\.0 OK queued as (?P<message>\w{26}) delivery \w{26}$")


@pytest.fixture
async def listening(relay: Relay, settings: Settings) -> AsyncIterator[tuple[asyncio.Server, Address]]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(100)
    server = await start_submission_server(relay, settings, sock, auth_delay=TEST_AUTH_DELAY)
    yield server, Address("127.0.0.1", sock.getsockname()[1])
    server.close()


async def _in_data(client: RawClient, account: NewAccount) -> None:
    """Logged in, a message begun: its data is being sent."""
    await client.login(account)
    assert (await client.command("MAIL FROM:<app@example.com>")).startswith("250")
    assert (await client.command("RCPT TO:<someone@example.net>")).startswith("250")
    assert (await client.command("DATA")).startswith("354")
    await client.send(MIME[:40])


async def test_a_connection_between_messages_hears_421_at_once(
    listening: tuple[asyncio.Server, Address], account: NewAccount
) -> None:
    server, address = listening
    client = await RawClient.connect(address)
    await client.login(account)
    await shut_down(server, grace=30)  # returns at once: nothing was under way
    assert await client.reply() == GOODBYE
    assert await client.closed()
    await client.close()
    with pytest.raises(OSError):  # and no new connection is taken
        await RawClient.connect(address)


async def test_a_message_under_way_is_answered_before_the_421(
    listening: tuple[asyncio.Server, Address], account: NewAccount, store: SqliteStore
) -> None:
    server, address = listening
    idle, sending = await RawClient.connect(address), await RawClient.connect(address)
    await idle.command("EHLO client.example.com")
    await _in_data(sending, account)
    stopping = asyncio.create_task(shut_down(server, grace=30))
    assert await idle.reply() == GOODBYE  # the idle one is not kept waiting for the other
    assert not stopping.done()
    await sending.send(MIME[40:] + b".\r\n")
    stored = QUEUED.match(await sending.reply())
    assert stored, "the message under way is taken and answered"
    assert await sending.reply() == GOODBYE
    assert await sending.closed()
    await asyncio.wait_for(stopping, 10)
    await idle.close()
    await sending.close()
    assert await store.mime(stored["message"]) is not None


async def test_a_message_not_finished_within_the_grace_is_cut_with_421_and_not_stored(
    listening: tuple[asyncio.Server, Address], account: NewAccount, store: SqliteStore
) -> None:
    server, address = listening
    client = await RawClient.connect(address)
    await _in_data(client, account)
    await shut_down(server, grace=0.2)
    assert await client.reply() == GOODBYE
    assert await client.closed()
    await client.close()
    assert sum((await store.queue_summary()).values()) == 0  # nothing of it stored
