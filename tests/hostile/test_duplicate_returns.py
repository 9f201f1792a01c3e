"""The same returned message, again: a DSN sent twice, and a copy of it to postmaster@ that
quotes the tracking address. A delivery fails once, so the application hears of one failure
(one line in failures.log, one post to its failure loop); what comes later is a bounce event."""

from __future__ import annotations

import smtplib

from returnpath import config
from tests.delivery import sinks
from tests.delivery.sinks import Sink
from tests.e2e import conftest as e2e
from tests.e2e.harness import BOUNCE_DOMAIN, wait_for
from tests.e2e.test_bounces import DSN, envelope_seen_by, events, give_back, send

make_server, sink = e2e.make_server, sinks.sink  # a real `serve` per test; an SMTP sink


def test_a_delivery_fails_once_however_often_it_is_reported(make_server: e2e.ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route}, webhooks__allow_private_targets=True)
    with server.api() as api:  # a loop whose posts wait (nothing listens there): they are counted, not sent
        created = api.post("/v1/feedback-loops", json={"url": "http://127.0.0.1:9/rp", "events": ["failure", "bounce"]})
    assert created.status_code == 201, created.text
    loop_id = created.json()["id"]
    delivery_id = send(server, "gone@example.net")
    envelope = envelope_seen_by(sink, "gone@example.net")
    dsn = give_back(server, envelope, DSN, recipient="gone@example.net")
    wait_for(lambda: any(e["event"] == "failure" for e in events(server, delivery_id)), what="the failure")
    give_back(server, envelope, DSN, recipient="gone@example.net")  # the remote server sends it again
    host, port = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    with smtplib.SMTP(host, port) as client:  # and a copy to postmaster@, quoting our envelope
        client.sendmail("", [f"postmaster@{BOUNCE_DOMAIN}"], dsn.encode())

    def recorded() -> list[str] | None:
        kinds = [str(e["event"]) for e in events(server, delivery_id)]
        return kinds if kinds.count("bounce") == 3 else None

    assert wait_for(recorded, what="three bounce events") == ["delivery", "bounce", "failure", "bounce", "bounce"]
    server.wait_logged("bounces", [delivery_id])
    wait_for(lambda: len(server.log_of("bounces", delivery_id)) == 3, what="three lines in bounces.log")
    assert len(server.log_of("failures", delivery_id)) == 1
    with server.api() as api:
        posts = api.get(f"/v1/feedback-loops/{loop_id}/deliveries", params={"limit": 100}).json()
    assert sorted(p["type"] for p in posts["deliveries"]) == ["bounce", "bounce", "bounce", "failure"]
    assert server.delivery(delivery_id)["state"] == "failed"
