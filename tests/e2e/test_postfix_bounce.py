"""A real Postfix writes the bounce: returnpath delivers to it, Postfix accepts the message,
then finds the recipient does not exist and sends its own DSN to the tracking envelope
address, which its transport map routes to returnpath's inbound port."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench.postfix import free_port, postfix_available, private_postfix

from returnpath import config
from tests.e2e.harness import BOUNCE_DOMAIN, Server, wait_for

pytestmark = [pytest.mark.postfix, pytest.mark.skipif(postfix_available() is not None, reason=str(postfix_available()))]


@pytest.fixture
def relay_and_postfix(tmp_path: Path) -> Iterator[Server]:
    postfix_port = free_port()
    server = Server(
        tmp_path / "data",
        workers=1,
        delivery__routes={"*": f"127.0.0.1:{postfix_port}"},
        delivery__poll_interval=config.Duration(0.1),
    )
    inbound = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    with private_postfix(postfix_port, None, local_domains=["example.test"], transports={BOUNCE_DOMAIN: inbound}):
        server.start()
        try:
            yield server
        finally:
            server.stop()


def test_postfix_dsn_becomes_an_async_failure_of_the_right_delivery(relay_and_postfix: Server) -> None:
    server = relay_and_postfix
    message = server.data / "hello.eml"
    message.write_text("From: app@example.com\nTo: no-such-user@example.test\nSubject: hello\n\nhi\n")
    sent = server.cli(
        "send", "--from", "app@example.com", "--to", "no-such-user@example.test", "--tag", "postfix", str(message)
    )
    assert sent.returncode == 0, sent.stderr
    delivery_id = json.loads(sent.stdout)["recipients"]["no-such-user@example.test"]
    delivered = wait_for(
        lambda: next((d for d in server.log("deliveries") if d["id"] == delivery_id), None),
        timeout=30,
        what="Postfix to accept the message",
    )
    assert delivered["code"] == 250
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        timeout=60,
        what="Postfix's DSN to become a failure",
    )
    assert {k: failure[k] for k in ("type", "state", "status", "reason", "hard", "dsn", "recipient", "tags")} == {
        "type": "async",
        "state": "bounce",
        "status": "5.1.1",
        "reason": "userunknown",
        "hard": True,
        "dsn": True,
        "recipient": "no-such-user@example.test",
        "tags": ["postfix"],
    }
    bounce = next(b for b in server.log("bounces") if b["id"] == delivery_id)
    assert bounce["kind"] == "dsn" and bounce["mailfrom"] == ""
    assert bounce["rcptto"][0].lower().startswith("b" + delivery_id)
