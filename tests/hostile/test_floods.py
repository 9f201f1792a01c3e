"""Connection floods: every port takes at most `max_connections` at once, and at most
`max_connections_per_address` from one client address; over either, an SMTP client is told
421 4.7.0 instead of the greeting, an HTTP client gets a 503 problem document, and the
connection is closed. A connection that ends frees its place. The inbound server also takes
at most `messages_per_minute_per_address` MAIL commands a minute from one address (451 4.7.1).

Clients connect from several loopback addresses (127.0.0.x) to tell the limits apart; the
limits are small (conftest: 4 in all, 2 per address, 3 messages a minute).
"""

from __future__ import annotations

import asyncio
import ssl

import pytest

from returnpath.config import Duration, Settings

from .conftest import (
    MAX_CONNECTIONS,
    MESSAGES_PER_MINUTE,
    PER_ADDRESS,
    Address,
    RawClient,
    Server,
    closed,
    http_answer,
    http_from,
    smtp_from,
)

S220 = "220 relay.example.test ESMTP returnpath"
S421_TOTAL = "421 4.7.0 relay.example.test Too many connections; try again later"
S421_ADDRESS = "421 4.7.0 relay.example.test Too many connections from your address; try again later"
S451_RATE = "451 4.7.1 Too many messages from your address; try again later"


def patient(settings: Settings) -> None:
    """Deadlines long enough that the connections a test holds open stay open."""
    for server in (settings.smtp.submission, settings.smtp.inbound):
        server.command_timeout = Duration(60)
    settings.http.header_timeout = Duration(60)


async def greeted_again(address: Address, source: str) -> RawClient:
    """A connection from `source` that is greeted, once the server has seen a place freed."""
    for _ in range(200):
        client = await smtp_from(address, source)
        if client.greeting.startswith("220"):
            return client
        await client.close()
        await asyncio.sleep(0.02)
    raise AssertionError(f"no place for {source} again")


async def test_smtp_connections_over_the_limits_are_refused(small: Settings, smtp: Server) -> None:
    patient(small)
    address = await smtp.start()
    first = [await smtp_from(address, "127.0.0.1") for _ in range(PER_ADDRESS)]
    assert [c.greeting for c in first] == [S220] * PER_ADDRESS
    over = await smtp_from(address, "127.0.0.1")
    assert over.greeting == S421_ADDRESS
    assert await over.closed()
    second = [await smtp_from(address, "127.0.0.2") for _ in range(MAX_CONNECTIONS - PER_ADDRESS)]
    assert [c.greeting for c in second] == [S220] * (MAX_CONNECTIONS - PER_ADDRESS)
    third = await smtp_from(address, "127.0.0.3")
    assert third.greeting == S421_TOTAL
    assert await third.closed()
    # The connections that were let in work; one that ends frees its place.
    assert await first[0].command("NOOP") == "250 OK"
    await first[0].close()
    again = await greeted_again(address, "127.0.0.3")
    assert (await again.command("EHLO client.example.com")).startswith("250")
    for client in [*first[1:], *second, over, third, again]:
        await client.close()


async def test_a_flood_of_idle_smtp_connections(small: Settings, smtp: Server) -> None:
    """Issue 8: 3,000 idle connections were all taken. Now MAX_CONNECTIONS are, the rest are
    refused at once, and the idle ones are cut at the command deadline, freeing their places."""
    # A deadline the flood is all in before: 40 connections one after the other took more than
    # the usual 0.6 s on a loaded machine (CI), and the first were cut, freeing places, first.
    for server in (small.smtp.submission, small.smtp.inbound):
        server.command_timeout = Duration(3)
    address = await smtp.start()
    flood = [await smtp_from(address, f"127.0.1.{i}") for i in range(1, 41)]
    greetings = [client.greeting for client in flood]
    assert greetings.count(S220) == MAX_CONNECTIONS
    assert greetings.count(S421_TOTAL) == 40 - MAX_CONNECTIONS
    for client in flood:
        if client.greeting == S220:
            assert (await client.reply()).startswith("421 4.4.2 relay.example.test Timeout")
        assert await client.closed()
        await client.close()
    late = await greeted_again(address, "127.0.1.99")
    await late.close()


@pytest.mark.parametrize("smtp", ["submission"], indirect=True)  # where the tests set up TLS
async def test_a_starttls_connection_counts_once(small: Settings, smtp: Server) -> None:
    """After STARTTLS aiosmtpd sees the connection made again (over TLS); it is still one."""
    patient(small)
    address = await smtp.start()
    tls = await smtp_from(address)
    await tls.command("EHLO client.example.com")
    assert await tls.command("STARTTLS") == "220 Ready to start TLS"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    await tls.writer.start_tls(context)
    assert (await tls.command("EHLO client.example.com")).startswith("250")
    plain = await smtp_from(address)
    assert plain.greeting == S220
    over = await smtp_from(address)
    assert over.greeting == S421_ADDRESS  # two from 127.0.0.1, not one and not three
    await tls.close()
    again = await greeted_again(address, "127.0.0.1")
    for client in (plain, over, again):
        await client.close()


@pytest.mark.parametrize("smtp", ["inbound"], indirect=True)
async def test_inbound_messages_per_minute_per_address(small: Settings, smtp: Server) -> None:
    address = await smtp.start()
    client = await smtp_from(address, "127.0.0.1")
    await client.command("EHLO mx.example.net")
    for _ in range(MESSAGES_PER_MINUTE):
        assert await client.command("MAIL FROM:<>") == "250 2.1.0 Sender OK"
        assert await client.command("RSET") == "250 OK"
    assert await client.command("MAIL FROM:<>") == S451_RATE
    other = await smtp_from(address, "127.0.0.2")
    await other.command("EHLO mx2.example.net")
    assert await other.command("MAIL FROM:<>") == "250 2.1.0 Sender OK"
    await client.close()
    await other.close()


async def test_http_connections_over_the_limits_are_answered_503(small: Settings, http: Server) -> None:
    patient(small)
    address = await http.start()
    held = [await http_from(address, "127.0.0.1") for _ in range(PER_ADDRESS)]
    reader, writer = await http_from(address, "127.0.0.1")
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = await http_answer(reader)
    assert answer.status == 503 and answer.headers["retry-after"] == "5"
    problem = answer.problem()
    assert problem["type"] == "urn:returnpath:problem:too-many-connections"
    assert problem["detail"] == "too many connections from your address"
    assert await closed(reader)
    writer.close()
    held += [await http_from(address, "127.0.0.2") for _ in range(MAX_CONNECTIONS - PER_ADDRESS)]
    reader, writer = await http_from(address, "127.0.0.3")
    answer = await http_answer(reader)  # answered before it asks
    assert answer.status == 503
    assert answer.problem()["detail"] == "the server has as many connections as it takes"
    writer.close()
    # The held connections are served; one that ends frees its place.
    first_reader, first_writer = held[0]
    first_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await http_answer(first_reader)).status == 200
    first_writer.close()
    for _ in range(200):
        reader, writer = await http_from(address, "127.0.0.3")
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        status = (await http_answer(reader)).status
        writer.close()
        if status == 200:
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the place of a closed connection was never freed")
    for _, held_writer in held[1:]:
        held_writer.close()
