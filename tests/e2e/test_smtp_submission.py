"""Submitting over SMTP to a running `serve`, on its default two workers: each recipient gets
a delivery named in the 250 reply, reaches the sink with its own tracking envelope sender and
the message as submitted (our option headers removed), and is recorded as delivered."""

from __future__ import annotations

import ssl

import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN
from tests.trace import without_trace

RECIPIENTS = ["alice@example.net", "bob@example.org", "carol@example.net"]

# The header as the application wrote it; folded lines, a line starting with a dot (which
# SMTP stuffs and unstuffs), 8-bit UTF-8 in the body, and no final line ending after the
# option header block.
HEADER_BEFORE = (
    b"From: App <app@example.com>\r\n"
    b"To: alice@example.net, bob@example.org, carol@example.net\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= and a long subject that is\r\n"
    b"\tfolded onto a second line\r\n"
)
OPTION_HEADERS = b"X-Returnpath-Tags: welcome, onboarding\r\nX-Returnpath-Dsn: notify=FAILURE,DELAY;\r\n ret=HDRS\r\n"
HEADER_AFTER = (
    b"Message-ID: <e2e-1@example.com>\r\n"
    b"X-Mailer: e2e\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
)
BODY = (
    b"\r\nHello,\r\n"
    b".a line that starts with a dot\r\n"
    b"..and one with two\r\n"
    b"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln\r\n"
    b"X-Returnpath-Tags: in the body, so not an option\r\n"
)
SUBMITTED = HEADER_BEFORE + OPTION_HEADERS + HEADER_AFTER + BODY
DELIVERED = HEADER_BEFORE + HEADER_AFTER + BODY


@pytest.mark.parametrize("starttls", [False, True], ids=["cleartext-loopback", "starttls"])
def test_each_recipient_is_delivered_with_its_own_tracking_envelope(
    make_server: ServerFactory, sink: Sink, starttls: bool
) -> None:
    server = make_server(delivery__routes={"*": sink.route})

    with server.smtp(starttls=starttls) as client:
        assert isinstance(client.sock, ssl.SSLSocket) is starttls  # really encrypted, or really not
        ids = server.submit_smtp("app@example.com", RECIPIENTS, SUBMITTED, client=client)

    assert len(set(ids.values())) == len(RECIPIENTS)
    sink.wait(len(RECIPIENTS))
    views = server.wait_final(ids.values())

    # One transaction per recipient, each with its own envelope sender naming its delivery.
    assert sorted(t.rcpt_to[0] for t in sink.transactions) == sorted(RECIPIENTS)
    for transaction in sink.transactions:
        (recipient,) = transaction.rcpt_to
        local, _, domain = transaction.mail_from.rpartition("@")
        assert domain == BOUNCE_DOMAIN
        assert local.startswith("b")
        assert server.token_of(transaction.mail_from) == ids[recipient]
        # Below our Received line (RFC 3848: authenticated, and over TLS or not), as submitted.
        assert without_trace(transaction.data, "ESMTPSA" if starttls else "ESMTPA") == DELIVERED

    # The API: delivered, at the first attempt, with the sink's reply.
    for recipient, delivery_id in ids.items():
        view = views[delivery_id]
        sent = next(t for t in sink.transactions if t.rcpt_to == [recipient])
        assert view["state"] == "delivered"
        assert view["recipient"] == recipient
        assert view["sender"] == "app@example.com"
        assert view["envelope"] == sent.mail_from
        assert view["tags"] == ["welcome", "onboarding"]
        assert view["attempt_count"] == 1
        (attempt,) = view["attempts"]
        assert attempt["attempt"] == 1
        assert attempt["remote"] == f"127.0.0.1[127.0.0.1]:{sink.port}"
        assert attempt["state"] == "eom"
        assert attempt["code"] == 250
        assert attempt["status"] == "2.0.0"
        assert attempt["description"].startswith("2.0.0 OK queued as")
        assert attempt["verdict"] == "accepted"
        assert [e["event"] for e in view["events"]] == ["delivery"]

    # deliveries.log: one line per delivery, with the tags; nothing failed.
    server.wait_logged("deliveries", ids.values())
    lines = {record["id"]: record for record in server.log("deliveries")}
    assert set(lines) == set(ids.values())
    for recipient, delivery_id in ids.items():
        line = lines[delivery_id]
        assert line["event"] == "delivery"
        assert line["recipient"] == recipient
        assert line["envelope"] == views[delivery_id]["envelope"]
        assert line["tags"] == ["welcome", "onboarding"]
        assert line["attempt"] == 1
        assert line["state"] == "eom"
        assert line["code"] == 250
        assert line["status"] == "2.0.0"
        assert line["remote"] == f"127.0.0.1[127.0.0.1]:{sink.port}"
    assert server.log("failures") == []


def test_one_connection_carries_many_messages(make_server: ServerFactory, sink: Sink) -> None:
    """An application that keeps its connection open: every message gets its own deliveries."""
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    message = b"From: app@example.com\r\nSubject: one of many\r\n\r\nhello\r\n"
    ids: dict[str, str] = {}
    with server.smtp() as client:
        for n in range(20):
            ids.update(server.submit_smtp("app@example.com", [f"user{n}@example.net"], message, client=client))
    views = server.wait_final(ids.values())
    assert {view["state"] for view in views.values()} == {"delivered"}
    assert sorted(sink.recipients()) == sorted(ids)
    assert {server.token_of(t.mail_from) for t in sink.transactions} == set(ids.values())
    assert all(without_trace(t.data) == message for t in sink.transactions)


def test_envelope_options_as_headers(make_server: ServerFactory, sink: Sink) -> None:
    """`X-Returnpath-Trackbounces: false` sends with the application's envelope: the MAIL FROM
    it gave, or `X-Returnpath-Envelope`; the null sender stays null. With tracking (the
    default), even a null sender gets a tracking envelope."""
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    body = b"From: app@example.com\r\nSubject: envelope\r\n\r\nhello\r\n"
    cases = [  # MAIL FROM, option headers, recipient, MAIL FROM the sink should see (None: tracking)
        ("app@example.com", b"X-Returnpath-Trackbounces: false\r\n", "own@example.net", "app@example.com"),
        (
            "app@example.com",
            b"X-Returnpath-Trackbounces: no\r\nX-Returnpath-Envelope: bounces@app.example.com\r\n",
            "given@example.net",
            "bounces@app.example.com",
        ),
        ("", b"X-Returnpath-Trackbounces: false\r\n", "null@example.net", "<>"),
        ("", b"", "tracked@example.net", None),
    ]
    ids: dict[str, str] = {}
    with server.smtp() as client:
        for mail_from, headers, recipient, _ in cases:
            ids.update(server.submit_smtp(mail_from, [recipient], headers + body, client=client))
    views = server.wait_final(ids.values())

    for _, _, recipient, seen in cases:
        (transaction,) = [t for t in sink.transactions if t.rcpt_to == [recipient]]
        assert without_trace(transaction.data) == body
        if seen is None:
            assert server.token_of(transaction.mail_from) == ids[recipient]
        else:
            assert transaction.mail_from == seen  # aiosmtpd shows the null sender as "<>"
        assert views[ids[recipient]]["state"] == "delivered"
        assert views[ids[recipient]]["envelope"] == transaction.mail_from.replace("<>", "")
