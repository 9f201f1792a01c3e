"""Slow clients (slowloris): a byte now and then must not hold a connection open. Each SMTP
command line, the whole message data and each HTTP request head and body have a deadline that no
trickle of bytes extends (RFC 5321 4.5.3.2); past it the client is told so and cut off.
The deadlines are set small here (conftest.LIMITS); a client that keeps to them is served."""

from __future__ import annotations

import asyncio

import pytest

from returnpath.config import Duration, Settings
from returnpath.smtp.server import JUNK_COMMAND_LIMIT
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.smtp.test_inbound import tracking_address

from .conftest import (
    BODY_TIMEOUT,
    COMMAND_TIMEOUT,
    HEADER_TIMEOUT,
    RawClient,
    Server,
    closed,
    http_answer,
    http_from,
    smtp_from,
)

S354_DATA = "354 End data with <CR><LF>.<CR><LF>"


def timeout_reply(settings: Settings, what: str) -> str:
    return f"421 4.4.2 {settings.hostname} Timeout waiting for the {what}; closing connection"


async def trickle(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, byte: bytes = b"x") -> bytes:
    """Send one byte every 50 ms until the server says something; return what it said."""
    for _ in range(400):  # up to 20 s: far past every deadline here
        try:
            writer.write(byte)
            await writer.drain()
        except ConnectionError:
            break
        try:
            return await asyncio.wait_for(reader.readline(), 0.05)
        except TimeoutError:
            continue
    pytest.fail("the server let a client trickle bytes for 20 s")


async def open_transaction(port: str, client: RawClient, settings: Settings, account: NewAccount) -> None:
    """Up to the 354, as a client of that port would go."""
    if port == "submission":
        await client.login(account)
        await client.command("MAIL FROM:<app@example.com>")
        await client.command("RCPT TO:<someone@example.net>")
    else:
        await client.command("EHLO mx.example.net")
        await client.command("MAIL FROM:<>")
        await client.command(f"RCPT TO:<{tracking_address(settings)[1]}>")
    assert await client.command("DATA") == S354_DATA


async def test_a_command_line_trickled_is_cut_off(small: Settings, smtp: Server) -> None:
    client = await smtp_from(await smtp.start())
    await client.send(b"EHLO ")
    line = await trickle(client.writer, client.reader)
    assert line.decode().rstrip("\r\n") == timeout_reply(small, "command line")
    assert await closed(client.reader)
    await client.close()


async def test_the_message_data_trickled_is_cut_off_and_nothing_stored(
    small: Settings, smtp: Server, account: NewAccount, store: SqliteStore
) -> None:
    client = await smtp_from(await smtp.start())
    await open_transaction(smtp.name, client, small, account)
    await client.send(b"Subject: slow\r\n\r\n")
    line = await trickle(client.writer, client.reader, b"y")
    assert line.decode().rstrip("\r\n") == timeout_reply(small, "message data")
    assert await closed(client.reader)
    await client.close()
    assert sum((await store.queue_summary()).values()) == 0
    assert await store.claim_returns("test", 2e9, 2e9 + 60, 10) == []


async def test_a_client_that_keeps_to_the_deadlines_is_served(smtp: Server) -> None:
    """The deadline is per command: a session much longer than it goes on."""
    client = await smtp_from(await smtp.start())
    assert (await client.command("EHLO client.example.com")).startswith("250")
    for _ in range(6):  # twice the command timeout in all
        await asyncio.sleep(COMMAND_TIMEOUT / 3)
        assert await client.command("NOOP") == "250 OK"
    await client.close()


async def test_an_http_request_head_trickled_is_cut_off(http: Server) -> None:
    reader, writer = await http_from(await http.start())
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    line = await trickle(writer, reader)
    assert line == b"HTTP/1.1 408 Request Timeout\r\n"
    rest = await reader.read()
    head, _, body = rest.partition(b"\r\n\r\n")
    assert b"Content-Type: application/problem+json" in head and b"Connection: close" in head
    assert b'"type": "urn:returnpath:problem:request-timeout"' in body
    writer.close()


async def test_an_http_request_body_trickled_is_cut_off_and_nothing_sent(
    http: Server, account: NewAccount, store: SqliteStore
) -> None:
    """The head in at once, then the body a byte now and then: a 408 once `body_timeout` has
    passed since the head, and the connection closed. Nothing of the message is queued."""
    reader, writer = await http_from(await http.start())
    writer.write(b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    writer.write(b"Authorization: Bearer %s\r\nContent-Length: 100000\r\n\r\n{" % account.api_token.encode())
    line = await trickle(writer, reader, b" ")
    assert line == b"HTTP/1.1 408 Request Timeout\r\n"
    head, _, body = (await reader.read()).partition(b"\r\n\r\n")
    assert b"Connection: close" in head and b"the request body did not arrive in time" in body
    writer.close()
    assert sum((await store.queue_summary()).values()) == 0


async def test_an_http_body_that_keeps_to_its_deadline_is_read(http: Server, account: NewAccount) -> None:
    """The deadline is on the whole body: one sent in a few pieces within it is read (and
    answered for what it says: a 400 naming the field it lacks)."""
    reader, writer = await http_from(await http.start())
    body = b'{"from": "app@example.com", "subject": "slow but in time"}'
    writer.write(b"POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
    writer.write(b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n" % (account.api_token.encode(), len(body)))
    for piece in (body[:10], body[10:20], body[20:]):
        await asyncio.sleep(BODY_TIMEOUT / 5)
        writer.write(piece)
    answer = await http_answer(reader)
    assert answer.status == 400 and b"recipients" in answer.body, answer
    writer.close()


async def test_http_requests_in_time_are_served_on_a_kept_alive_connection(http: Server) -> None:
    """The head deadline starts again after each response."""
    reader, writer = await http_from(await http.start())
    for _ in range(3):
        await asyncio.sleep(HEADER_TIMEOUT / 2)  # idle, then the head at once: within the deadline
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await http_answer(reader)).status == 200
    writer.close()


async def test_commands_that_send_no_mail_cannot_hold_a_connection_forever(
    small: Settings, smtp: Server, account: NewAccount
) -> None:
    """Each NOOP keeps to the command deadline, so only a count bounds a client that sends one
    every few minutes (Postfix's smtpd_junk_command_limit); a message starts the count again."""
    # The count is what is tested, not the deadline: a deadline of `small`'s 0.6 s closed the
    # connection between two of the test's own commands on a machine loaded to 9.
    for server in (small.smtp.submission, small.smtp.inbound):
        server.command_timeout = Duration(30)
    client = await smtp_from(await smtp.start())
    for _ in range(JUNK_COMMAND_LIMIT - 10):
        assert (await client.command("NOOP")).startswith("250")
    await open_transaction(smtp.name, client, small, account)
    await client.send(b"From: a@example.com\r\nSubject: real mail\r\n\r\nbody\r\n.\r\n")
    assert (await client.reply()).startswith("250")
    junk = ["NOOP", "RSET", "VRFY <someone@example.net>", "HELP"]
    for n in range(JUNK_COMMAND_LIMIT):
        assert not (await client.command(junk[n % len(junk)])).startswith("421")
    assert (
        await client.command("NOOP")
        == f"421 4.7.0 {small.hostname} Too many commands that send no mail; closing connection"
    )
    assert await closed(client.reader)
    await client.close()
