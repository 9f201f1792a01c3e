"""Bad input at a running `serve`: each gets a clear refusal, nothing of it is stored or sent,
and what was accepted before is untouched (still delivered, counted once).

The SMTP submission server's own tests (tests/smtp/test_bad_input.py) go through every reply;
here the point is the whole relay: a refused or smuggled message never reaches a remote.
"""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Iterator

import pytest

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server

MAX_SIZE = 4000
MAX_RECIPIENTS = 3
MIME = b"From: app@example.com\r\nSubject: fine\r\n\r\nhello\r\n"


class RawSMTP:
    """A blocking SMTP client that sends exactly the bytes it is given (smtplib would fix
    line endings and dot-stuff, which is what a smuggling attempt must avoid)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        assert self.reply().startswith("220 ")

    def reply(self) -> str:
        lines = []
        while True:
            line = self.file.readline().decode().rstrip("\r\n")
            assert line, "connection closed"
            lines.append(line)
            if line[3:4] != "-":
                return "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def auth_plain(self, username: str, password: str) -> str:
        self.command("EHLO client.example.com")
        return self.command("AUTH PLAIN " + base64.b64encode(f"\0{username}\0{password}".encode()).decode())

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture(scope="module")
def server(make_module_server: ServerFactory, module_sink: Sink) -> Server:
    return make_module_server(
        workers=1,
        delivery__routes={"*": module_sink.route},
        smtp__submission__max_message_size=config.Size(MAX_SIZE),
        smtp__inbound__max_message_size=config.Size(MAX_SIZE),  # never more than submission's
        smtp__submission__max_recipients=MAX_RECIPIENTS,
    )


@pytest.fixture(scope="module")
def accepted(server: Server) -> dict[str, str]:
    """A message accepted before any bad input, and delivered."""
    ids = server.submit_smtp("app@example.com", ["kept@example.net"], MIME)
    server.wait_final(ids.values())
    return ids


@pytest.fixture(autouse=True)
def nothing_changes(server: Server, module_sink: Sink, accepted: dict[str, str]) -> Iterator[None]:
    """After each bad input, the store holds the one accepted delivery, delivered, and the sink
    got nothing else."""
    yield
    time.sleep(0.3)  # time enough for anything wrongly stored to be attempted
    assert server.queue() == {"queued": 0, "deferred": 0, "delivered": 1, "failed": 0}
    assert module_sink.recipients() == list(accepted)


@pytest.fixture
def raw(server: Server) -> Iterator[RawSMTP]:
    client = RawSMTP(server.submission_port)
    yield client
    client.close()


@pytest.fixture
def authenticated(raw: RawSMTP, server: Server) -> RawSMTP:
    reply = raw.auth_plain(server.credentials["smtp_username"], server.credentials["smtp_password"])
    assert reply == "235 2.7.0 Authentication successful"
    return raw


def test_wrong_password(raw: RawSMTP, server: Server) -> None:
    assert (
        raw.auth_plain(server.credentials["smtp_username"], "wrong") == "535 5.7.8 Authentication credentials invalid"
    )
    assert raw.command("MAIL FROM:<app@example.com>") == "530 5.7.0 Authentication required"


def test_no_auth_is_no_relay(raw: RawSMTP) -> None:
    raw.command("EHLO client.example.com")
    assert raw.command("MAIL FROM:<app@example.com>") == "530 5.7.0 Authentication required"


def test_bad_addresses(authenticated: RawSMTP) -> None:
    raw = authenticated
    assert raw.command("MAIL FROM:<app@localhost>") == "553 5.1.3 sender 'app@localhost' has an invalid domain"
    assert raw.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Sender OK"
    assert (
        raw.command("RCPT TO:<someone@exa_mple.net>")
        == "553 5.1.3 recipient 'someone@exa_mple.net' has an invalid domain"
    )
    assert raw.command("DATA") == "503 5.5.1 Error: need RCPT command"


def test_too_many_recipients(authenticated: RawSMTP) -> None:
    raw = authenticated
    raw.command("MAIL FROM:<app@example.com>")
    for n in range(MAX_RECIPIENTS):
        assert raw.command(f"RCPT TO:<r{n}@example.net>") == "250 2.1.5 Recipient OK"
    assert raw.command("RCPT TO:<one-too-many@example.net>") == "452 4.5.3 Too many recipients"
    assert raw.command("RSET").startswith("250")


def test_over_the_size_limit(authenticated: RawSMTP) -> None:
    raw = authenticated
    assert (
        raw.command(f"MAIL FROM:<app@example.com> SIZE={MAX_SIZE + 1}")
        == "552 5.3.4 Message size exceeds fixed maximum message size"
    )
    raw.command("MAIL FROM:<app@example.com>")
    raw.command("RCPT TO:<big@example.net>")
    assert raw.command("DATA").startswith("354")
    raw.send(MIME + (b"x" * 70 + b"\r\n") * (MAX_SIZE // 70) + b".\r\n")
    assert raw.reply() == "552 5.3.4 Message too big"


def test_smtp_smuggling_is_refused_not_split(authenticated: RawSMTP) -> None:
    raw = authenticated
    raw.command("MAIL FROM:<app@example.com>")
    raw.command("RCPT TO:<smuggler@example.net>")
    assert raw.command("DATA").startswith("354")
    raw.send(
        MIME + b"\n.\n"
        b"MAIL FROM:<ceo@example.com>\r\n"
        b"RCPT TO:<victim@example.org>\r\n"
        b"DATA\r\n"
        b"From: ceo@example.com\r\n\r\nPay the invoice.\r\n"
        b".\r\n"
    )
    assert raw.reply() == "550 5.6.0 the message contains a bare LF or CR; lines must end with CRLF"
    assert raw.command("NOOP").startswith("250")  # one reply: nothing was read as commands


def test_a_client_that_disconnects_mid_data(authenticated: RawSMTP) -> None:
    raw = authenticated
    raw.command("MAIL FROM:<app@example.com>")
    raw.command("RCPT TO:<half@example.net>")
    assert raw.command("DATA").startswith("354")
    raw.send(MIME)  # no end of data
    raw.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"recipients": ["a@example.net"], "mime": "Subject: x\\n\\nhi"', None),  # not JSON
        (b'{"mime": "Subject: x\\n\\nhi\\n"}', "recipients"),
        (b'{"recipients": ["a@example.net"]}', "mime"),
        (b'{"recipients": ["a@example.net"], "mime": "Subject: \\ud800\\n\\nhi\\n"}', "mime"),  # not UTF-8
        (b'{"recipients": ["a@example.net"], "mime": "Subject: x\\n\\nhi\\n", "tags": [1, 2]}', "tags"),
    ],
    ids=["not-json", "no-recipients", "no-mime", "mime-not-utf8", "bad-tags"],
)
def test_bad_http_requests(server: Server, body: bytes, field: str | None) -> None:
    with server.api() as api:
        response = api.post("/v1/send", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == 400 and problem["detail"]
    assert problem.get("field") == field
