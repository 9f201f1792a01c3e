"""ServerSMTP's block reader for DATA, over real sockets: it must end the data where, and only
where, aiosmtpd's line-by-line reader does, undo the dot-stuffing the same way, keep the same
limits and give the same replies. Many tests run the same bytes through both: `Reference` is
ServerSMTP with aiosmtpd's own smtp_DATA put back."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from returnpath.smtp.replies import S500_LINE_TOO_LONG, S552_MESSAGE_TOO_BIG
from returnpath.smtp.server import ServerSMTP

from .conftest import Address, RawClient

STORED = "250 2.0.0 stored"
S250_OK = "250 OK"
S354_DATA = "354 End data with <CR><LF>.<CR><LF>"


class Recorder:
    """A handler that keeps what the end of DATA hands it."""

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, Any]] = []

    async def handle_DATA(self, server: ServerSMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append((envelope.original_content, envelope.content))
        return STORED


class Reference(ServerSMTP):
    """ServerSMTP reading DATA line by line, as aiosmtpd does."""

    smtp_DATA = SMTP.smtp_DATA  # type: ignore[assignment]

    async def too_much_junk(self) -> bool:
        return False  # aiosmtpd's smtp_DATA does not start the count again, and the NOOPs add up


Serve = Callable[..., Awaitable[tuple[Address, Recorder]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def run(
        protocol: type[ServerSMTP] = ServerSMTP, limit: int = 1_000_000, data_timeout: float = 30
    ) -> tuple[Address, Recorder]:
        handler = Recorder()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: protocol(
                handler,
                hostname="test.example",
                data_size_limit=limit,
                enable_SMTPUTF8=True,
                decode_data=False,
                auth_require_tls=False,
                auth_required=False,
                command_timeout=30,
                data_timeout=data_timeout,
            ),
            "127.0.0.1",
            0,
        )
        servers.append(server)
        return Address("127.0.0.1", server.sockets[0].getsockname()[1]), handler

    yield run
    for server in servers:
        server.close()
        await server.wait_closed()


async def connect(address: Address) -> RawClient:
    client = await RawClient.connect(address)
    assert (await client.command("EHLO client.example.com")).startswith("250")
    return client


async def start_data(client: RawClient) -> None:
    assert await client.command("MAIL FROM:<app@example.com>") == "250 OK"
    assert await client.command("RCPT TO:<someone@example.net>") == "250 OK"
    assert await client.command("DATA") == S354_DATA


async def transaction(client: RawClient, pieces: Sequence[bytes], pause: float = 0.002) -> tuple[str, str]:
    """Send the data in separate writes, a NOOP pipelined right behind the last piece; return
    the reply to the data and the reply to the NOOP (which shows nothing past the end of the
    data was taken as data, nor any of the data as a command)."""
    await start_data(client)
    for index, piece in enumerate(pieces):
        if index:
            await asyncio.sleep(pause)
        await client.send(piece + (b"NOOP\r\n" if index == len(pieces) - 1 else b""))
    return await client.reply(), await client.reply()


def stuff(content: bytes) -> bytes:
    """The data as a client sends it: dot-stuffed, then the end marker."""
    return (b"\r\n" + content).replace(b"\r\n.", b"\r\n..")[2:] + b".\r\n"


CONTENT = b".Subject: dots\r\n\r\n.one\r\n.\r\n..\r\n\r\nend.\r\n"


# ---- where the data ends --------------------------------------------------------------------


async def test_the_end_marker_split_across_writes_at_every_offset(serve: Serve) -> None:
    address, recorder = await serve()
    client = await connect(address)
    stream = stuff(CONTENT)
    assert stream.startswith(b"..Subject") and b"\r\n..\r\n...\r\n" in stream
    for offset in range(1, len(stream)):
        assert await transaction(client, [stream[:offset], stream[offset:]]) == (STORED, S250_OK), offset
    assert recorder.messages == [(CONTENT, CONTENT)] * (len(stream) - 1)
    await client.close()


async def test_one_byte_per_write(serve: Serve) -> None:
    stream = b"a\r\n..\r\n\r\n.\r\r\n.\n\r\n.\r\n"
    for protocol in (ServerSMTP, Reference):
        address, recorder = await serve(protocol)
        client = await connect(address)
        assert await transaction(client, [stream[i : i + 1] for i in range(len(stream))], pause=0.001) == (
            STORED,
            S250_OK,
        )
        assert recorder.messages == [(b"a\r\n.\r\n\r\n\r\r\n\n\r\n",) * 2], protocol
        await client.close()


async def test_dot_unstuffing(serve: Serve) -> None:
    address, recorder = await serve()
    client = await connect(address)
    assert await transaction(client, [b"..leading\r\n..\r\n.x\r\n...y\r\na.b\r\n. \r\n.\r\n"]) == (STORED, S250_OK)
    assert recorder.messages[0][0] == b".leading\r\n.\r\nx\r\n..y\r\na.b\r\n \r\n"
    await client.close()


@pytest.mark.parametrize(
    "stream, content",
    [
        (b".\r\n", b""),  # the marker right after the 354: an empty message
        (b"\r\n.\r\n", b"\r\n"),
        (b"x\r\n.\r\n", b"x\r\n"),
        (b"..\r\n.\r\n", b".\r\n"),
    ],
)
async def test_short_and_empty_messages(serve: Serve, stream: bytes, content: bytes) -> None:
    address, recorder = await serve()
    client = await connect(address)
    assert await transaction(client, [stream]) == (STORED, S250_OK)
    assert await transaction(client, [stream[:1], stream[1:]]) == (STORED, S250_OK)
    assert recorder.messages == [(content, content)] * 2
    await client.close()


@pytest.mark.parametrize(
    "ending",
    [
        b"\n.\n",
        b"\r\n.\n",
        b"\n.\r\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r.\r",
        b"\n..\r\n",
        b"\r\n\r.\r\n",
        b"\r\n.\r\r\n",
        b"\r\n .\r\n",
    ],
)
async def test_only_crlf_dot_crlf_ends_the_data(serve: Serve, ending: bytes) -> None:
    """SMTP smuggling: any other ending stays in the data (where check_data refuses it), and
    what follows it is not read as commands."""
    address, recorder = await serve()
    client = await connect(address)
    smuggled = b"MAIL FROM:<ceo@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nPay.\r\n"
    stream = b"Subject: hi\r\n\r\nhello" + ending + smuggled + b".\r\n"
    assert await transaction(client, [stream]) == (STORED, S250_OK)
    assert await transaction(client, [stream[:17], stream[17:22], stream[22:]]) == (STORED, S250_OK)
    assert len(recorder.messages) == 2
    for content, _ in recorder.messages:
        assert content.endswith(smuggled) and b"hello" in content
    await client.close()


# ---- limits ---------------------------------------------------------------------------------


async def test_the_size_limit(serve: Serve) -> None:
    limit = 1000
    address, recorder = await serve(limit=limit)
    client = await connect(address)
    line = b"x" * 98 + b"\r\n"
    assert await transaction(client, [line * 10 + b".\r\n"]) == (STORED, S250_OK)  # exactly the limit
    assert await transaction(client, [line * 10 + b"y\r\n.\r\n"]) == (S552_MESSAGE_TOO_BIG, S250_OK)
    assert await transaction(client, [line * 9 + b".y" + line + b".\r\n"]) == (S552_MESSAGE_TOO_BIG, S250_OK)
    big = line * 5000  # far over the limit, in many writes: read to the end, then refused
    assert await transaction(client, [big[i : i + 7000] for i in range(0, len(big), 7000)] + [b".\r\n"]) == (
        S552_MESSAGE_TOO_BIG,
        S250_OK,
    )
    assert recorder.messages == [(line * 10, line * 10)]
    await client.close()


async def test_long_lines(serve: Serve) -> None:
    address, recorder = await serve()
    client = await connect(address)
    assert await transaction(client, [b"a\r\n" + b"x" * 999 + b"\r\nb\r\n.\r\n"]) == (STORED, S250_OK)
    assert await transaction(client, [b"a\r\n" + b"x" * 1000 + b"\r\nb\r\n.\r\n"]) == (S500_LINE_TOO_LONG, S250_OK)
    assert await transaction(client, [b"a\r\n" + b"x" * 5000, b"\r\nb\r\n.\r\n"]) == (S500_LINE_TOO_LONG, S250_OK)
    assert await transaction(client, [b"a\r\n" + b"x\n" * 600 + b"\r\n.\r\n"]) == (S500_LINE_TOO_LONG, S250_OK)
    assert await transaction(client, [b"." + b"x" * 999 + b"\r\n.\r\n"]) == (S500_LINE_TOO_LONG, S250_OK)
    assert recorder.messages == [(b"a\r\n" + b"x" * 999 + b"\r\nb\r\n",) * 2]
    await client.close()


async def test_a_10_mb_message(serve: Serve) -> None:
    address, recorder = await serve(limit=16 * 1024 * 1024)
    client = await connect(address)
    body = b"".join(b"%08d .%s\r\n" % (i, b"y" * (i % 90)) for i in range(220_000))[: 10 * 1024 * 1024]
    body = body[: body.rfind(b"\r\n") + 2]
    body = b"Subject: big\r\n\r\n" + body.replace(b"\r\n", b"\r\n.", 1000)
    assert len(body) > 10_000_000
    stream = body.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    assert await transaction(
        client, [stream[i : i + 1_000_003] for i in range(0, len(stream), 1_000_003)], pause=0
    ) == (STORED, S250_OK)
    assert recorder.messages[0][0] == body
    await client.close()


async def test_a_10_mb_message_over_a_1_mb_limit(serve: Serve) -> None:
    address, recorder = await serve(limit=1024 * 1024)
    client = await connect(address)
    stream = (b"z" * 78 + b"\r\n") * (10 * 1024 * 1024 // 80) + b".\r\n"
    assert await transaction(client, [stream], pause=0) == (S552_MESSAGE_TOO_BIG, S250_OK)
    assert recorder.messages == []
    await client.close()


# ---- the connection -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "partial", [b"", b"Subject: x\r\n\r\nbody", b"body\r\n", b"body\r\n.", b"body\r\n.\r", b"x" * 5000]
)
async def test_a_client_that_disconnects_mid_data(serve: Serve, partial: bytes) -> None:
    address, recorder = await serve()
    client = await connect(address)
    await start_data(client)
    if partial:
        await client.send(partial)
    await client.hang_up()
    assert recorder.messages == []
    # The server is still there for others.
    other = await connect(address)
    assert await transaction(other, [b"x\r\n.\r\n"]) == (STORED, S250_OK)
    await other.close()


async def test_the_data_deadline_bounds_the_whole_transfer_however_it_trickles(serve: Serve) -> None:
    """RFC 5321 4.5.3.2: a deadline for the data as a whole; bytes that keep coming do not
    extend it (the old idle timer did, so one byte a second held a connection forever)."""
    address, recorder = await serve(data_timeout=0.5)
    client = await connect(address)
    await start_data(client)
    await client.send(b"x\r\n.\r\n")
    assert await client.reply() == STORED  # in time
    await start_data(client)
    for _ in range(400):  # a byte every 50 ms, up to 20 s: far past the deadline
        await client.send(b"x")
        try:
            line = await asyncio.wait_for(client.reader.readline(), 0.05)
        except TimeoutError:
            continue
        assert line == b"421 4.4.2 test.example Timeout waiting for the message data; closing connection\r\n"
        break
    else:
        pytest.fail("the server never cut off a client trickling the data")
    assert await client.closed()
    assert recorder.messages == [(b"x\r\n", b"x\r\n")]
    await client.close()


# ---- the same as aiosmtpd -------------------------------------------------------------------

TOKENS = [
    b"\r\n",
    b"\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b".",
    b".",
    b"..",
    b"x",
    b"hello world",
    b"\r\n.\r",
    b"\r\n.",
    b"\n.\n",
    b"y" * 400,
    b"z" * 998,
]


async def test_the_same_outcome_as_aiosmtpd_for_random_data(serve: Serve) -> None:
    rng = random.Random(2024)
    ours_address, ours = await serve(limit=3000)
    reference_address, reference = await serve(Reference, limit=3000)
    ours_client = await connect(ours_address)
    reference_client = await connect(reference_address)
    for _ in range(150):
        data = b"".join(rng.choice(TOKENS) for _ in range(rng.randrange(0, 12)))
        if rng.random() < 0.05:
            data = b""
        stream = data + b"\r\n.\r\n" if data else rng.choice([b".\r\n", b"\r\n.\r\n"])
        if (b"\r\n" + stream).find(b"\r\n.\r\n") != len(stream) - 3:
            continue  # the data would end early, and the rest be commands
        cuts = sorted(rng.sample(range(1, len(stream)), min(len(stream) - 1, rng.randrange(0, 4))))
        pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
        ours_replies = await transaction(ours_client, pieces, pause=0.001)
        reference_replies = await transaction(reference_client, pieces, pause=0.001)
        assert ours_replies == reference_replies, stream
        assert ours.messages == reference.messages, stream
    assert len(ours.messages) > 50
    await ours_client.close()
    await reference_client.close()
