"""Temporary failures: 4xx replies, refused connections and servers that hang are `deferred`,
retried on the schedule (here 0.3 s, factor 1), delivered once the remote accepts, and failed
with the last reply and `expired: true` when the retry window closes.

Deferrals are events (in the API), not log lines; the delivery or the failure that ends a
delivery is the one line it gets.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, free_port, wait_for

RETRY = config.Duration(0.3)
MESSAGE = "From: app@example.com\nSubject: retried\n\nhello\n"


def start(make_server: ServerFactory, routes: dict[str, str], **changes: Any) -> Server:
    return make_server(
        workers=1, delivery__routes=routes, delivery__retry__first=RETRY, delivery__retry__factor=1.0, **changes
    )


def send(server: Server, recipient: str, **options: Any) -> str:
    answer = server.send_http({"recipient": recipient, "mime": MESSAGE, "tags": ["retry"], **options})
    return str(answer["recipients"][recipient])


def deferrals(server: Server, delivery_id: str, count: int) -> dict[str, Any]:
    """Wait until the delivery was deferred `count` times; returns its view."""
    return wait_for(
        lambda: (view := server.delivery(delivery_id))["attempt_count"] >= count and view, what=f"{count} attempts"
    )  # type: ignore[no-any-return]


def check_deferred(
    view: dict[str, Any], step: str, code: int | None, status: str, description: str, remote: str
) -> None:
    """Every attempt but the last was this temporary failure, each with its deferred event."""
    *earlier, _ = view["attempts"]
    assert earlier
    for number, attempt in enumerate(earlier, 1):
        assert attempt["attempt"] == number
        assert (
            attempt["state"],
            attempt["code"],
            attempt["status"],
            attempt["description"],
            attempt["remote"],
            attempt["verdict"],
        ) == (step, code, status, description, remote, "temporary")
    deferred = [event for event in view["events"] if event["event"] == "deferred"]
    assert [event["attempt"] for event in deferred] == list(range(1, len(earlier) + 1))
    for event in deferred:
        assert (event["state"], event["code"], event["status"], event["description"]) == (
            step,
            code,
            status,
            description,
        )
        assert event["tags"] == ["retry"]
        # The schedule: each retry is due 0.3 s after the attempt before it, and no later than
        # the close of the retry window.
        assert event["retry_at"] == pytest.approx(min(event["timestamp"] + RETRY, view["expires_timestamp"]), abs=0.002)


@pytest.mark.parametrize(
    ("step", "reply"),
    [
        ("rcpt", "451 4.3.0 Try again later"),
        ("eom", "452 4.2.2 Mailbox full, try later"),
        ("data", "421 4.3.2 Going down, try later"),
    ],
)
def test_a_4xx_reply_is_retried_until_accepted(make_server: ServerFactory, sink: Sink, step: str, reply: str) -> None:
    server = start(make_server, {"*": sink.route})
    sink.refuse(step, reply)
    delivery_id = send(server, "patient@example.net")

    waiting = deferrals(server, delivery_id, 2)
    assert waiting["state"] == "deferred"
    assert waiting["next_attempt"] is not None
    sink.accept()
    view = server.wait_final([delivery_id])[delivery_id]

    code, status, text = reply.split(" ", 2)
    remote = f"127.0.0.1[127.0.0.1]:{sink.port}"
    assert view["state"] == "delivered"
    assert view["attempt_count"] == len(view["attempts"]) >= 3
    check_deferred(view, step, int(code), status, f"{status} {text}", remote)
    last = view["attempts"][-1]
    assert (last["state"], last["code"], last["verdict"]) == ("eom", 250, "accepted")
    assert [e["event"] for e in view["events"]] == ["deferred"] * (len(view["attempts"]) - 1) + ["delivery"]

    assert sink.recipients() == ["patient@example.net"]  # delivered once
    server.wait_logged("deliveries", [delivery_id])
    (line,) = server.log_of("deliveries", delivery_id)
    assert line["attempt"] == view["attempt_count"]
    assert server.log("failures") == []


def test_a_refused_connection_is_retried_until_the_server_is_up(make_server: ServerFactory) -> None:
    port = free_port()  # nothing listens there yet
    server = start(make_server, {"*": f"127.0.0.1:{port}"})
    delivery_id = send(server, "later@example.net")

    waiting = deferrals(server, delivery_id, 2)
    assert waiting["state"] == "deferred"
    with Sink(port=port) as sink:
        view = server.wait_final([delivery_id])[delivery_id]
        assert sink.recipients() == ["later@example.net"]

    remote = f"127.0.0.1[127.0.0.1]:{port}"
    assert view["state"] == "delivered"
    check_deferred(view, "connect", None, "4.4.1", f"connect to {remote}: Connection refused", remote)
    assert view["attempts"][-1]["state"] == "eom"


def test_a_server_that_hangs_times_out_and_is_deferred(make_server: ServerFactory, sink: Sink) -> None:
    server = start(make_server, {"*": sink.route}, delivery__timeouts__rcpt=config.Duration(0.5))
    sink.hang("rcpt")
    delivery_id = send(server, "slow@example.net")

    deferrals(server, delivery_id, 1)
    sink.accept()
    view = server.wait_final([delivery_id])[delivery_id]

    remote = f"127.0.0.1[127.0.0.1]:{sink.port}"
    assert view["state"] == "delivered"
    check_deferred(view, "rcpt", None, "4.4.2", f"conversation with {remote} timed out while sending RCPT TO", remote)


def test_the_retry_window_closing_fails_with_the_last_reply(make_server: ServerFactory) -> None:
    port = free_port()
    server = start(make_server, {"*": f"127.0.0.1:{port}"}, delivery__retry__lifetime=config.Duration(1.5))
    delivery_id = send(server, "never@example.net")

    view = server.wait_final([delivery_id])[delivery_id]
    server.wait_logged("failures", [delivery_id])

    remote = f"127.0.0.1[127.0.0.1]:{port}"
    description = f"connect to {remote}: Connection refused"
    assert view["state"] == "failed"
    assert view["attempt_count"] >= 2
    check_deferred(view, "connect", None, "4.4.1", description, remote)
    (line,) = server.log_of("failures", delivery_id)
    assert line["expired"] is True
    assert line["type"] == "sync"
    assert line["attempt"] == view["attempt_count"]
    assert (line["state"], line["code"], line["status"], line["description"], line["remote"]) == (
        "connect",
        None,
        "4.4.1",
        description,
        remote,
    )
    assert line["tags"] == ["retry"]
    assert view["events"][-1] == line
    assert server.log("deliveries") == []


def test_maxdelivertime_closes_the_window(make_server: ServerFactory, sink: Sink) -> None:
    server = start(make_server, {"*": sink.route})
    sink.refuse("rcpt", "450 4.2.0 Greylisted, come back later")
    # Whole seconds: the window closes between one and two seconds from now.
    maxdelivertime = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 2))
    delivery_id = send(server, "greylisted@example.net", maxdelivertime=maxdelivertime)

    view = server.wait_final([delivery_id])[delivery_id]
    server.wait_logged("failures", [delivery_id])

    assert view["state"] == "failed"
    assert view["expires"] == maxdelivertime
    check_deferred(view, "rcpt", 450, "4.2.0", "4.2.0 Greylisted, come back later", f"127.0.0.1[127.0.0.1]:{sink.port}")
    (line,) = server.log_of("failures", delivery_id)
    assert line["expired"] is True
    assert (line["state"], line["code"], line["status"], line["description"]) == (
        "rcpt",
        450,
        "4.2.0",
        "4.2.0 Greylisted, come back later",
    )
    assert line["attempt"] == view["attempt_count"]
    assert sink.recipients() == []


def test_a_maxdelivertime_in_the_past_is_refused_at_submission(make_server: ServerFactory, sink: Sink) -> None:
    """It would fail unattempted; the application hears of its mistake instead."""
    server = start(make_server, {"*": sink.route})
    past = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 60))
    with server.api() as api:
        response = api.post(
            "/v1/send", json={"recipient": "too-late@example.net", "mime": MESSAGE, "maxdelivertime": past}
        )
    assert response.status_code == 400 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["type"], problem["field"]) == ("urn:returnpath:problem:invalid-option", "maxdelivertime")
    assert problem["detail"] == f"maxdelivertime {past!r} (UTC) is not in the future"
    header = f"X-Returnpath-Maxdelivertime: {past}\r\n".encode()
    with server.smtp() as client:
        client.mail("app@example.com")
        client.rcpt("too-late@example.net")
        code, reply = client.data(header + MESSAGE.replace("\n", "\r\n").encode())
    assert (code, reply.decode()) == (501, f"5.5.4 maxdelivertime {past!r} (UTC) is not in the future")
    assert server.queue()["queued"] == 0 and sink.connections == 0
