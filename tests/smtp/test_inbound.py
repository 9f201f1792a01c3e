"""The inbound server of the bounce domain, over real loopback sockets, with a real store."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from returnpath.config import Settings
from returnpath.core import ids, tokens
from returnpath.smtp.inbound import start_inbound_server
from returnpath.store.sqlite import SqliteStore

from .conftest import Address, RawClient

S250_RECIPIENT_OK = "250 2.1.5 Recipient OK"
S550_NO_SUCH_USER = "550 5.1.1 No such recipient here"
DSN = (
    b"From: MAILER-DAEMON@mx.example.net\r\nTo: x@bounces.example.test\r\nSubject: Undelivered\r\n\r\n"
    b"The mail system: <gone@example.net>: user unknown\r\n"
)


@pytest.fixture
async def inbound(store: SqliteStore, settings: Settings) -> AsyncIterator[Address]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(10)
    server = await start_inbound_server(store, settings, sock)
    yield Address("127.0.0.1", sock.getsockname()[1])
    server.close()
    await server.wait_closed()


def tracking_address(settings: Settings, delivery_id: str | None = None) -> tuple[str, str]:
    delivery_id = delivery_id or ids.new_id(1_800_000_000)
    return delivery_id, tokens.envelope_address(settings.secret_bytes, delivery_id, settings.bounce_domain)


async def dialogue(address: Address, rcpts: list[str], data: bytes | None = DSN, mail_from: str = "<>") -> list[str]:
    client = await RawClient.connect(address)
    replies = [await client.command("EHLO mx.example.net"), await client.command(f"MAIL FROM:{mail_from}")]
    replies += [await client.command(f"RCPT TO:<{r}>") for r in rcpts]
    if data is not None:
        replies.append(await client.command("DATA"))
        await client.send(data + b".\r\n")
        replies.append(await client.reply())
    await client.close()
    return replies


async def test_a_bounce_to_a_valid_token_is_stored_raw_before_250(
    inbound: Address, store: SqliteStore, settings: Settings
) -> None:
    delivery_id, address = tracking_address(settings)
    replies = await dialogue(inbound, [address.upper()])  # some servers change the case
    assert replies[1].startswith("250") and replies[2] == S250_RECIPIENT_OK
    assert replies[-1].startswith("250 2.0.0 OK received as ")
    return_id = replies[-1].rsplit(" ", 1)[1]
    returned = await store.returned(return_id)
    assert returned is not None
    assert returned.raw == DSN and returned.mailfrom == "" and returned.deliveries == (delivery_id,)
    assert returned.rcptto == (address.upper(),) and returned.client == "127.0.0.1"


@pytest.mark.parametrize("local_part", ["postmaster", "abuse", "Postmaster"])
async def test_role_accounts_are_accepted(
    inbound: Address, store: SqliteStore, settings: Settings, local_part: str
) -> None:
    replies = await dialogue(inbound, [f"{local_part}@{settings.bounce_domain}"], mail_from="<isp@example.org>")
    assert replies[2] == S250_RECIPIENT_OK and replies[-1].startswith("250")
    returned = await store.returned(replies[-1].rsplit(" ", 1)[1])
    assert returned is not None and returned.deliveries == () and returned.mailfrom == "isp@example.org"


async def test_anything_else_is_refused_at_rcpt_and_never_stored(
    inbound: Address, store: SqliteStore, settings: Settings
) -> None:
    delivery_id, address = tracking_address(settings)
    local, _, domain = address.partition("@")
    forged = local[:-1] + ("a" if local[-1] != "a" else "b")
    refused = [
        f"{forged}@{domain}",  # a token whose signature fails
        f"{local}@example.com",  # our token, another domain: not an open relay
        f"someone@{domain}",
        f"b{delivery_id}@{domain}",  # the id without a signature
    ]
    replies = await dialogue(inbound, refused, data=None)
    assert replies[2:] == [S550_NO_SUCH_USER] * len(refused)
    assert await store.claim_returns("w", 2e9, 2e9 + 60, 10) == []


async def test_a_client_that_hangs_up_mid_data_stores_nothing(
    inbound: Address, store: SqliteStore, settings: Settings
) -> None:
    _, address = tracking_address(settings)
    client = await RawClient.connect(inbound)
    await client.command("EHLO mx.example.net")
    await client.command("MAIL FROM:<>")
    await client.command(f"RCPT TO:<{address}>")
    await client.command("DATA")
    await client.send(DSN[:40])
    await client.hang_up()
    assert await store.claim_returns("w", 2e9, 2e9 + 60, 10) == []


async def test_no_auth_is_offered(inbound: Address, settings: Settings) -> None:
    client = await RawClient.connect(inbound)
    ehlo = await client.command("EHLO mx.example.net")
    plain = await client.command("AUTH PLAIN AGEAYg==")  # \0a\0b
    login = await client.command("AUTH LOGIN")
    await client.close()
    assert "AUTH" not in ehlo and f"SIZE {settings.smtp.inbound_message_size}" in ehlo
    assert plain == login == "503 5.5.1 Error: authentication not enabled"  # not 535, not a 334
