"""Anybody can send anything to a tracking address (it is in the Return-Path of every message an
application sends). Returned mail is forwarded only to an `envelope` the application asked for,
only when it is returned mail (a bounce, a DSN, an auto-reply: not spam, not a human reply),
only so many an hour per account, and what happens to a forwarded copy is never an event of the
application's message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.delivery import sinks
from tests.delivery.sinks import Sink
from tests.e2e import conftest as e2e
from tests.e2e.harness import Server, wait_for
from tests.e2e.test_bounces import AUTOREPLY, envelope_seen_by, events, give_back, send

make_server, make_module_server = e2e.make_server, e2e.make_module_server  # a real `serve`
sink, module_sink = sinks.sink, sinks.module_sink

SPAM = """\
From: "Best Watches" <offers@spam.example>
To: {envelope}
Subject: Luxury watches -90% for {recipient}

Click here: http://spam.example/
"""


@pytest.fixture(scope="module")
def server(make_module_server: e2e.ServerFactory, module_sink: Sink) -> Iterator[Server]:
    yield make_module_server(workers=1, delivery__routes={"*": module_sink.route})


def bounce_events(server: Server, delivery_id: str, count: int) -> list[dict[str, Any]]:
    """The delivery's bounce events, once there are `count` of them (each recorded in the same
    transaction as the forwarded copy it names, if any)."""
    return list(
        wait_for(
            lambda: len(found := [e for e in events(server, delivery_id) if e["event"] == "bounce"]) >= count and found,
            what=f"{count} bounce event(s) of {delivery_id}",
        )
    )


def test_mail_from_over_smtp_does_not_ask_for_forwarding(server: Server, module_sink: Sink) -> None:
    message = b"From: app@example.com\r\nSubject: hello\r\n\r\nhi\r\n"
    plain = server.submit_smtp("app@example.com", ["smtp-plain@example.net"], message)["smtp-plain@example.net"]
    asked = server.submit_smtp(
        "app@example.com", ["smtp-asked@example.net"], b"X-Returnpath-Envelope: app-bounces@example.com\r\n" + message
    )["smtp-asked@example.net"]
    for recipient in ("smtp-plain@example.net", "smtp-asked@example.net"):
        give_back(server, envelope_seen_by(module_sink, recipient), AUTOREPLY, recipient=recipient)
    [not_forwarded] = bounce_events(server, plain, 1)
    assert "forward" not in not_forwarded
    [forwarded] = bounce_events(server, asked, 1)  # the header is how to ask for it
    wait_for(lambda: "app-bounces@example.com" in module_sink.recipients(), what="the forwarded copy")
    assert "forward" in forwarded and "app@example.com" not in module_sink.recipients()


def test_only_returned_mail_is_forwarded(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "spammed@example.net", envelope="own-bounces@app.example")
    envelope = envelope_seen_by(module_sink, "spammed@example.net")
    give_back(server, envelope, SPAM, recipient="spammed@example.net")
    [spam] = bounce_events(server, delivery_id, 1)
    assert spam["kind"] == "other" and "forward" not in spam  # recorded, not relayed on
    give_back(server, envelope, AUTOREPLY, recipient="spammed@example.net")
    _, autoreply = bounce_events(server, delivery_id, 2)
    assert autoreply["kind"] == "autoreply" and autoreply["forward"]
    copy = wait_for(
        lambda: next((t for t in module_sink.transactions if t.rcpt_to == ["own-bounces@app.example"]), None),
        what="the forwarded auto-reply",
    )
    assert b"Out of Office" in copy.data and b"Luxury watches" not in b"".join(
        t.data for t in module_sink.transactions if t.rcpt_to == ["own-bounces@app.example"]
    )


def test_a_forwarded_copy_that_fails_is_no_failure_of_the_message(server: Server, module_sink: Sink) -> None:
    # The application's own envelope refuses mail (the sink refuses rcpt-550@ at RCPT).
    delivery_id = send(server, "away@example.net", envelope="rcpt-550@app.example")
    give_back(server, envelope_seen_by(module_sink, "away@example.net"), AUTOREPLY, recipient="away@example.net")
    [bounce] = bounce_events(server, delivery_id, 1)
    forward = str(bounce["forward"])
    copy = server.wait_final([forward])[forward]
    assert copy["state"] == "failed" and copy["attempts"][0]["code"] == 550  # kept on the copy itself
    assert copy["sender"] == "" and copy["own_envelope"] is None
    assert [e["event"] for e in events(server, delivery_id)] == ["delivery", "bounce"]
    with server.api() as api:
        failures = api.get("/v1/events", params={"type": "failure", "limit": 1000}).json()["events"]
    assert forward not in {e["id"] for e in failures}  # nor a failure in the account's loops and logs


def test_forwards_are_rationed_per_account(make_server: e2e.ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route}, smtp__inbound__max_forwards_per_hour=2)
    delivery_id = send(server, "flooded@example.net", envelope="own-bounces@app.example")
    envelope = envelope_seen_by(sink, "flooded@example.net")
    for _ in range(3):
        give_back(server, envelope, AUTOREPLY, recipient="flooded@example.net")
    bounces = bounce_events(server, delivery_id, 3)
    assert [bool(b.get("forward")) for b in bounces] == [True, True, False]
    other = send(server, "other@example.net", envelope="own-bounces@app.example")
    give_back(server, envelope_seen_by(sink, "other@example.net"), AUTOREPLY, recipient="other@example.net")
    [late] = bounce_events(server, other, 1)
    assert "forward" not in late  # the allowance is the account's, not the delivery's
    wait_for(lambda: sink.recipients().count("own-bounces@app.example") == 2, what="the two copies")
