"""Flooding the inbound port: returned mail is kept up to `[smtp.inbound] max_stored_returns`
and never takes the disk's last `reserve_free_space`; beyond either, senders hear 452 4.3.1 and
nothing is stored, while applications go on submitting. `[retention] returned_mail` makes room
again, and `returnpath returned` then says the message was purged."""

from __future__ import annotations

import re
import smtplib

from returnpath import config
from tests.delivery import sinks
from tests.delivery.sinks import Sink
from tests.e2e import conftest as e2e
from tests.e2e.harness import BOUNCE_DOMAIN, Server, wait_for
from tests.e2e.test_bounces import send

make_server, sink = e2e.make_server, sinks.sink  # a real `serve` per test; an SMTP sink
POSTMASTER = f"postmaster@{BOUNCE_DOMAIN}"
NO_ROOM = (452, "4.3.1 Insufficient system storage for returned mail; try again later")


def returned_mail(n: int, size: int = 0) -> bytes:
    """A returned message of its own; padded with body lines to about `size` bytes."""
    head = f"From: MAILER-DAEMON@mx.example.net\r\nTo: {POSTMASTER}\r\nSubject: returned {n}\r\n\r\n"
    body = "Your message could not be delivered.\r\n"
    while len(head) + len(body) < size:
        body += "x" * 70 + "\r\n"
    return (head + body).encode()


def offer(server: Server, raw: bytes) -> tuple[str, int, str]:
    """Send one message to postmaster@ of the bounce domain; the step it ended at and the reply."""
    host, port = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    with smtplib.SMTP(host, port, timeout=30) as client:
        client.ehlo("mx.example.net")
        code, text = client.mail("")
        assert code == 250, text
        code, text = client.rcpt(POSTMASTER)
        if code != 250:
            return "rcpt", code, text.decode()
        code, text = client.data(raw)
        return "data", code, text.decode()


def received_id(reply: tuple[str, int, str]) -> str:
    step, code, text = reply
    match = re.fullmatch(r"2\.0\.0 OK received as ([0-9a-z]{26})", text)
    assert (step, code) == ("data", 250) and match, reply
    return match[1]


def test_returned_mail_past_its_limit_is_refused_and_submission_goes_on(
    make_server: e2e.ServerFactory, sink: Sink
) -> None:
    size = len(returned_mail(1))
    server = make_server(
        workers=1, delivery__routes={"*": sink.route}, smtp__inbound__max_stored_returns=config.Size(2 * size)
    )
    first = received_id(offer(server, returned_mail(1)))
    kept = server.cli("returned", first)
    assert kept.returncode == 0 and len(kept.stdout.encode()) == size  # what counts: the bytes kept
    # Half the room is left: a message larger than that is refused after its data, and not kept.
    assert offer(server, returned_mail(2, size=3 * size // 2)) == ("data", *NO_ROOM)
    received_id(offer(server, returned_mail(3)))  # fits exactly: the refused one took nothing
    # Full: refused at RCPT, before any data is sent.
    assert offer(server, returned_mail(4)) == ("rcpt", *NO_ROOM)
    assert offer(server, returned_mail(5)) == ("rcpt", *NO_ROOM)
    # Applications are not held back by what strangers send to the bounce domain.
    delivery_id = send(server, "someone@example.net")
    assert server.wait_final([delivery_id])[delivery_id]["state"] == "delivered"


def test_returned_mail_leaves_the_disk_reserve_to_submissions(make_server: e2e.ServerFactory, sink: Sink) -> None:
    # A reserve larger than any disk: the database's disk is always "nearly full".
    server = make_server(
        workers=1, delivery__routes={"*": sink.route}, smtp__inbound__reserve_free_space=config.Size(2**62)
    )
    assert offer(server, returned_mail(1)) == ("rcpt", *NO_ROOM)
    delivery_id = send(server, "someone@example.net")
    assert server.wait_final([delivery_id])[delivery_id]["state"] == "delivered"
    assert sink.recipients() == ["someone@example.net"]


def test_returned_mail_past_retention_is_purged_and_says_so(make_server: e2e.ServerFactory) -> None:
    server = make_server(workers=1, retention__returned_mail=config.Keep(1))
    return_id = received_id(offer(server, returned_mail(1)))
    wait_for(lambda: any(b["return"] == return_id for b in server.log("bounces")), what="the bounce to be processed")
    assert server.cli("returned", return_id).returncode == 0
    server.stop()
    server.start()  # the supervisor purges at start, then every ten minutes

    def purged() -> bool:
        result = server.cli("returned", return_id)
        return result.returncode == 1 and "purged" in result.stderr

    wait_for(purged, what="the returned message to be purged")
    result = server.cli("returned", return_id)
    assert result.stdout == ""
    assert re.fullmatch(
        rf"returnpath: returned message {return_id} was purged on \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC, "
        r"after \[retention\] returned_mail\n",
        result.stderr.splitlines(keepends=True)[-1],
    ), result.stderr
    bounce = next(b for b in server.log("bounces") if b["return"] == return_id)
    assert bounce["kind"] == "other"  # the event of what came back stays
