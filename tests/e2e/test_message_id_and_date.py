"""A message that left out Message-ID or Date (Gmail refuses such mail) gets them from
returnpath, as relays add them, through every door: `Message-ID: <message id@hostname>` and
the time of submission, on top of the header below the Received line. A message that has
them keeps its own, and no other byte changes."""

from __future__ import annotations

import email.utils
import time

import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server
from tests.trace import RECEIVED

BARE = b"From: App <app@example.com>\r\nTo: x@example.net\r\nSubject: no id, no date\r\n\r\nhello\r\n"
OWN = (
    b"From: App <app@example.com>\r\n"
    b"Date: Thu, 14 Jan 2027 10:00:00 +0100\r\n"
    b"Subject: both\r\n"
    b"message-id: <own-1@app.example>\r\n"
    b"\r\n"
    b"Date: in the body\r\n"
)


def submit(server: Server, door: str, recipient: str, message: bytes) -> str:
    """Submit `message` through `door`; returns the message id."""
    if door == "http":
        return str(server.send_http({"recipient": recipient, "mime": message.decode()})["id"])
    with server.smtp() as client:
        client.mail("app@example.com")
        client.rcpt(recipient)
        code, reply = client.data(message)
    assert code == 250, reply
    return reply.decode().split("queued as ", 1)[1].split()[0]  # "2.0.0 OK queued as ID delivery ID"


def received(sink: Sink, recipient: str) -> tuple[bytes, bytes]:
    """The Received line of what the sink got for `recipient`, and what follows it."""
    (transaction,) = [t for t in sink.transactions if t.rcpt_to == [recipient]]
    data = transaction.data
    match = RECEIVED.match(data)
    assert match, data[:300]
    return match.group(0), data[match.end() :]


@pytest.mark.parametrize("door", ["smtp", "http"])
def test_message_id_and_date_are_added_when_missing_and_kept_when_given(
    make_server: ServerFactory, sink: Sink, door: str
) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    before = time.time()
    message_id = submit(server, door, "bare@example.net", BARE)
    submit(server, door, "own@example.net", OWN)
    sink.wait(2)

    trace, rest = received(sink, "bare@example.net")
    head, date_line, original = rest.split(b"\r\n", 2)
    assert head == f"Message-ID: <{message_id}@{server.settings.hostname}>".encode()
    assert date_line.startswith(b"Date: ") and trace.endswith(date_line[len(b"Date: ") :] + b"\r\n")
    sent_at = email.utils.parsedate_to_datetime(date_line[len(b"Date: ") :].decode()).timestamp()
    assert int(before) <= sent_at <= time.time()
    assert original == BARE

    _, rest = received(sink, "own@example.net")
    assert rest == OWN
