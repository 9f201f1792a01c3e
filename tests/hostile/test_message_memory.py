"""Many large messages at once: a worker holds no more message data than `message_memory`.

A real `serve` with one worker (so that every client reaches the same process), a small
message_memory and size limits just below it. One client holds most of it with a message it
has not finished sending; a second message over SMTP, and one over HTTP, are then refused
with 452 4.3.1 and 503, and taken once the first is in; none of it is lost or doubled.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
import time
from pathlib import Path

import pytest

from returnpath.config import Size
from tests.delivery.sinks import Sink, sink  # noqa: F401 - fixture
from tests.e2e.conftest import ServerFactory, make_server  # noqa: F401 - fixture
from tests.e2e.harness import Server, wait_for
from tests.smtp.conftest import RawClient

MEMORY = 256 * 1024
LIMIT = 200 * 1024  # largest message and HTTP body: message_memory must be at least this
HELD = 180 * 1024  # what the unfinished message holds: less than LIMIT, more than MEMORY - 100 KB
OTHER = 100 * 1024  # the size of the messages that come meanwhile


def message(subject: str, size: int) -> bytes:
    head = f"From: app@example.com\r\nTo: user@example.net\r\nSubject: {subject}\r\n\r\n".encode()
    line = b"x" * 78 + b"\r\n"
    return head + line * ((size - len(head)) // len(line))


def unread(server_port: int, client: socket.socket) -> int | None:
    """Bytes the server has not yet read of what `client` sent (the receive queue of the
    server's end of the connection, /proc/net/tcp); None while it is not listed."""
    host, port = client.getsockname()[:2]
    local = f"{_hex_ip(host)}:{server_port:04X}"
    remote = f"{_hex_ip(host)}:{port:04X}"
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[2] == remote:
            return int(fields[4].split(":")[1], 16)
    return None


def _hex_ip(host: str) -> str:
    return f"{struct.unpack('<I', socket.inet_aton(host))[0]:08X}"


async def open_data(server: Server) -> RawClient:
    """A logged-in submission connection that has had its 354."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.submission_port)
    client = RawClient(reader, writer)
    await client.reply()
    creds = server.credentials
    plain = base64.b64encode(f"\0{creds['smtp_username']}\0{creds['smtp_password']}".encode()).decode()
    for command, code in (
        ("EHLO client.test", 250),
        (f"AUTH PLAIN {plain}", 235),
        ("MAIL FROM:<app@example.com>", 250),
        ("RCPT TO:<user@example.net>", 250),
        ("DATA", 354),
    ):
        reply = await client.command(command)
        assert reply.startswith(str(code)), (command, reply)
    return client


def small(make_server: ServerFactory, sink: Sink) -> Server:  # noqa: F811
    """A `serve` of one worker with a small message_memory and size limits just below it."""
    return make_server(
        workers=1,
        message_memory=Size(MEMORY),
        smtp__submission__max_message_size=Size(LIMIT),
        http__max_body_size=Size(LIMIT),
        delivery__routes={"*": sink.route},
    )


async def hold_most(server: Server, subject: str) -> RawClient:
    """A connection that has sent HELD bytes of a message, not its end, all read by the server."""
    client = await open_data(server)
    client.writer.write(message(subject, HELD))
    await client.writer.drain()
    sock = client.writer.get_extra_info("socket")
    wait_for(lambda: unread(server.submission_port, sock) == 0, what="the server to read the message so far")
    return client


async def test_messages_past_message_memory_wait_for_the_sender_to_try_again(
    make_server: ServerFactory,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    server = small(make_server, sink)
    first = await hold_most(server, "first")

    # Over SMTP: the whole message is read, then refused for now; the connection goes on.
    second = await open_data(server)
    second.writer.write(message("second", OTHER) + b".\r\n")
    reply = await second.reply()
    assert reply.startswith("452 4.3.1 "), reply
    assert "try again later" in reply
    assert (await second.command("NOOP")).startswith("250")

    # A client that says the size first (RFC 1870) is told before it sends the message.
    reply = await second.command(f"MAIL FROM:<app@example.com> SIZE={OTHER}")
    assert reply.startswith("452 4.3.1 "), reply
    assert (await second.command("RSET")).startswith("250")

    # Over HTTP: 503, a problem that says why, and when to come back.
    payload = {
        "recipients": ["user@example.net"],
        "from": "app@example.com",
        "subject": "third",
        "text": "y" * OTHER,
    }
    with server.api() as api:
        refused = await asyncio.to_thread(api.post, "/v1/send", json=payload)
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith(":too-much-mail")
    assert refused.headers["retry-after"].isdigit()

    # The first message ends, is taken; then the others are, sent again.
    first.writer.write(b".\r\n")
    assert (await first.reply()).startswith("250 ")
    second.writer.write(b"MAIL FROM:<app@example.com>\r\n")
    assert (await second.reply()).startswith("250")
    assert (await second.command("RCPT TO:<user@example.net>")).startswith("250")
    assert (await second.command("DATA")).startswith("354")
    second.writer.write(message("second", OTHER) + b".\r\n")
    assert (await second.reply()).startswith("250 ")
    with server.api() as api:
        taken = await asyncio.to_thread(api.post, "/v1/send", json=payload)
    assert taken.status_code == 200, taken.text
    for client in (first, second):
        client.writer.close()

    wait_for(lambda: len(sink.transactions) >= 3, what="the three messages at the sink")
    time.sleep(0.5)  # (a fourth, were one refused message kept after all, would come meanwhile)
    subjects = sorted(
        line.split(b": ", 1)[1].decode()
        for t in sink.transactions
        for line in t.data.split(b"\r\n")
        if line.startswith(b"Subject: ")
    )
    assert subjects == ["first", "second", "third"]
    assert "message_memory" in server.stderr()  # the operator is told why mail was refused


async def test_a_client_that_hangs_up_mid_data_gives_its_share_back(
    make_server: ServerFactory,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    """A share never given back would shrink message_memory for good, until every message is
    refused: a client that hangs up halfway through its data, again and again, frees all it held."""
    server = small(make_server, sink)
    for _ in range(3):
        quitter = await hold_most(server, "gone")
        quitter.writer.transport.abort()  # a reset, mid-data
    # A message larger than what is free while a share is held still gets in: nothing was kept.
    client = await open_data(server)
    client.writer.write(message("after", HELD) + b".\r\n")
    assert (await client.reply()).startswith("250 ")
    client.writer.close()
    wait_for(lambda: len(sink.transactions) >= 1, what="the message at the sink")
    assert [b"Subject: after" in t.data for t in sink.transactions] == [True]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"message_memory": Size(1024 * 1024)}, "message_memory (1048576 bytes) must be at least"),
        ({"message_memory": Size(30 * 1024 * 1024)}, "http.max_body_size"),
    ],
)
def test_a_message_memory_below_the_largest_message_is_refused(
    make_server: ServerFactory,  # noqa: F811
    changes: dict[str, Size],
    says: str,
) -> None:
    server = make_server(start=False, **changes)
    result = server.cli("queue")
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr
