"""Remote servers that refuse with 5xx at each step of the dialogue: the delivery fails at once
(one attempt), `failures.log` gets one line saying where and with which reply, and
`deliveries.log` nothing.

One server for the module. Refusals of the whole session (greeting, EHLO, MAIL) come from
sinks of their own, each the route of a domain; refusals of one recipient (RCPT, DATA, end of
data) from the default sink, by the recipient's local part.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN, Server

# A refusal of the whole session: domain, step, the sink's reply.
SESSION_REFUSALS = {
    "connect": ("greeting.test", "554 5.3.2 No SMTP service here"),
    "ehlo": ("ehlo.test", "550 5.7.1 Your name is not welcome"),
    "mail": ("mail.test", "553 5.7.1 Sender address rejected"),
}
TAGS = ["refusals", "e2e"]
MESSAGE = "From: app@example.com\nSubject: refused\n\nhello\n"


@pytest.fixture(scope="module")
def sinks() -> Iterator[dict[str, Sink]]:
    with Sink() as default, Sink() as greeting, Sink() as ehlo, Sink() as mail:
        found = {"*": default, "connect": greeting, "ehlo": ehlo, "mail": mail}
        for step, (_, reply) in SESSION_REFUSALS.items():
            found[step].refuse(step, reply)
        yield found


@pytest.fixture(scope="module")
def server(make_module_server: ServerFactory, sinks: dict[str, Sink]) -> Server:
    routes = {"*": sinks["*"].route}
    routes.update({domain: sinks[step].route for step, (domain, _) in SESSION_REFUSALS.items()})
    return make_module_server(workers=1, delivery__routes=routes)


def expected(step: str, sinks: dict[str, Sink]) -> tuple[str, int, str, str, Sink]:
    """recipient, code, status, description, sink for a refusal at `step`."""
    if step in SESSION_REFUSALS:
        domain, reply = SESSION_REFUSALS[step]
        number, text = reply.split(" ", 1)
        return f"someone@{domain}", int(number), text.split()[0], text, sinks[step]
    recipient = {"rcpt": "rcpt-550@example.net", "data": "data-554@example.net", "eom": "eom-554-5.6.0@example.net"}[
        step
    ]
    code, status = {"rcpt": (550, "5.0.0"), "data": (554, "5.0.0"), "eom": (554, "5.6.0")}[step]
    return recipient, code, status, f"{status} {step} refused for {recipient} by the sink", sinks["*"]


def check_failure(
    server: Server,
    delivery_id: str,
    recipient: str,
    line: dict[str, Any],
    *,
    step: str,
    code: int,
    status: str,
    description: str,
    sink: Sink,
) -> None:
    assert line["event"] == "failure"
    assert line["type"] == "sync"
    assert line["id"] == delivery_id
    assert line["recipient"] == recipient
    assert line["envelope"].endswith("@" + BOUNCE_DOMAIN)
    assert server.token_of(line["envelope"]) == delivery_id
    assert line["attempt"] == 1
    assert line["state"] == step
    assert line["code"] == code
    assert line["status"] == status
    assert line["description"] == description
    assert line["remote"] == f"127.0.0.1[127.0.0.1]:{sink.port}"
    assert line["tags"] == TAGS
    assert "expired" not in line
    assert set(line) >= {"time", "timestamp", "message", "event_id"}


@pytest.mark.parametrize("step", ["connect", "ehlo", "mail", "rcpt", "data", "eom"])
def test_a_5xx_refusal_fails_the_delivery_at_once(server: Server, sinks: dict[str, Sink], step: str) -> None:
    recipient, code, status, description, sink = expected(step, sinks)
    answer = server.send_http({"recipient": recipient, "mime": MESSAGE, "tags": TAGS})
    delivery_id = answer["recipients"][recipient]

    view = server.wait_final([delivery_id])[delivery_id]
    server.wait_logged("failures", [delivery_id])

    assert view["state"] == "failed"
    assert view["attempt_count"] == 1
    assert view["next_attempt"] is None
    (attempt,) = view["attempts"]
    assert (attempt["state"], attempt["code"], attempt["status"], attempt["description"], attempt["verdict"]) == (
        step,
        code,
        status,
        description,
        "permanent",
    )
    assert [event["event"] for event in view["events"]] == ["failure"]

    (line,) = server.log_of("failures", delivery_id)
    check_failure(
        server, delivery_id, recipient, line, step=step, code=code, status=status, description=description, sink=sink
    )
    assert view["events"][0] == line  # the API shows the event as the log line
    assert server.log_of("deliveries", delivery_id) == []
    assert recipient not in sink.recipients()


def test_one_message_several_fates(server: Server, sinks: dict[str, Sink]) -> None:
    """Each recipient's copy is its own delivery: refusals of some do not touch the others."""
    recipients = [
        "fine@example.net",
        "rcpt-550@example.net",
        "eom-554-5.6.0@example.net",
        "someone@mail.test",
        "also-fine@example.org",
    ]
    answer = server.send_http({"recipients": recipients, "mime": MESSAGE, "tags": TAGS})
    ids = answer["recipients"]
    views = server.wait_final(ids.values())
    server.wait_logged("failures", [ids[r] for r in recipients[1:4]])
    server.wait_logged("deliveries", [ids["fine@example.net"], ids["also-fine@example.org"]])

    states = {recipient: views[ids[recipient]]["state"] for recipient in recipients}
    assert states == {
        "fine@example.net": "delivered",
        "rcpt-550@example.net": "failed",
        "eom-554-5.6.0@example.net": "failed",
        "someone@mail.test": "failed",
        "also-fine@example.org": "delivered",
    }
    failed = {line["recipient"]: line["state"] for line in server.log("failures") if line["message"] == answer["id"]}
    assert failed == {"rcpt-550@example.net": "rcpt", "eom-554-5.6.0@example.net": "eom", "someone@mail.test": "mail"}
    delivered = {line["recipient"] for line in server.log("deliveries") if line["message"] == answer["id"]}
    assert delivered == {"fine@example.net", "also-fine@example.org"}
    assert {"fine@example.net", "also-fine@example.org"} <= set(sinks["*"].recipients())
