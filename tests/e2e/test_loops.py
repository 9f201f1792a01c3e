"""Feedback loops end to end: loops registered over the API of a running `returnpath serve`,
outcomes of real deliveries and of mail coming back to the inbound port, and a real receiver
(tests/webhooks/receiver.py) that verifies every request with the `standardwebhooks` package
and drops duplicates by `webhook-id`, as an application would."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from returnpath import config
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, wait_for
from tests.e2e.test_bounces import ARF, AUTOREPLY, DSN, envelope_seen_by
from tests.webhooks.receiver import Arrival, Drop, Receiver, Reply, Slow, ThreadedReceiver

LOOP_SETTINGS: dict[str, Any] = {
    "webhooks__allow_private_targets": True,  # the receiver is on 127.0.0.1
    "webhooks__timeout": config.Duration(1),
    "webhooks__retry_first": config.Duration(0.2),
    "webhooks__retry_max_interval": config.Duration(0.5),
    "webhooks__poll_interval": config.Duration(0.1),
    "delivery__poll_interval": config.Duration(0.1),
}
MESSAGE = "From: app@example.com\nSubject: hello\n\nhi\n"


@pytest.fixture(scope="module")
def hooks() -> Iterator[Receiver]:
    with ThreadedReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def server(make_module_server: ServerFactory, module_sink: Sink) -> Server:
    return make_module_server(delivery__routes={"*": module_sink.route}, **LOOP_SETTINGS)


# ---- the API, as an application calls it -------------------------------------------------------


def call(server: Server, method: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token or server.credentials['api_token']}"}
    return httpx.request(method, f"{server.http_url}{path}", headers=headers, timeout=10, **kwargs)


def add_loop(
    server: Server,
    hooks: Receiver,
    path: str,
    events: list[str],
    fmt: str = "form",
    token: str | None = None,
    *behaviours: Any,
) -> dict[str, Any]:
    """Register a loop posting to the receiver's `path`; the receiver verifies with its secret."""
    url = f"{hooks.base_url}{path}"
    reply = call(server, "POST", "/v1/feedback-loops", token, json={"url": url, "events": events, "format": fmt})
    assert reply.status_code == 201, reply.text
    loop: dict[str, Any] = reply.json()
    hooks.endpoint(path, loop["secret"], *behaviours)
    return loop


def send(server: Server, recipient: str, token: str | None = None, **options: Any) -> str:
    reply = call(server, "POST", "/v1/send", token, json={"recipient": recipient, "mime": MESSAGE, **options})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["recipients"][recipient])


def posted(hooks: Receiver, path: str, delivery_id: str, kind: str, timeout: float = 20) -> Arrival:
    """The one event of `kind` about the delivery that reached `path` (after de-duplication)."""

    def find() -> list[Arrival]:
        return [a for a in hooks.unique(path).values() if a.fields["id"] == delivery_id and a.fields["type"] == kind]

    [arrival] = wait_for(find, timeout, what=f"a {kind} post for {delivery_id} at {path}")
    return arrival


def give_back(server: Server, mail_from: str, rcpt_to: str, text: str, **fields: str) -> None:
    host, port = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    raw = text.format(**fields).replace("\n", "\r\n").encode()
    with smtplib.SMTP(host, port) as client:
        client.sendmail(mail_from, [rcpt_to], raw)


def second_account(server: Server) -> dict[str, str]:
    result = server.cli("accounts", "add", f"other{len(server.cli('accounts', 'list').stdout.splitlines())}")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


# ---- what is posted ------------------------------------------------------------------------------


def test_a_refused_delivery_reaches_the_loops_that_want_failures_in_both_formats(
    server: Server, hooks: Receiver
) -> None:
    form = add_loop(server, hooks, "/refused/form", ["failure"])
    add_loop(server, hooks, "/refused/json", ["failure", "bounce"], "json")
    add_loop(server, hooks, "/refused/deliveries-only", ["delivery"])
    other = second_account(server)
    add_loop(server, hooks, "/refused/other-account", ["failure", "delivery"], "form", other["api_token"])

    delivery_id = send(server, "rcpt-550@example.net", tags=["welcome", "a b"])
    as_form = posted(hooks, "/refused/form", delivery_id, "failure")
    as_json = posted(hooks, "/refused/json", delivery_id, "failure")

    # SMTPeter's variables, then ours; PHP reads tags[] as an array and booleans as 1/0.
    fields = as_form.fields
    assert {
        k: fields[k]
        for k in (
            "type",
            "recipient",
            "action",
            "state",
            "code",
            "extended",
            "async",
            "reason",
            "hard",
            "command",
            "dsn",
            "tags",
            "id",
        )
    } == {
        "type": "failure",
        "recipient": "rcpt-550@example.net",
        "action": "failed",
        "state": "rcpt",
        "code": "550",
        "extended": "5.0.0",
        "async": "0",
        # The sink's "550 5.0.0 … refused at rcpt" says nothing a rule knows: classified as a DSN
        # saying the same would be (onhold, soft), not assumed to be a dead address.
        "reason": "onhold",
        "hard": "0",
        "command": "RCPT",
        "dsn": "0",
        "tags": ["welcome", "a b"],
        "id": delivery_id,
    }
    assert "550" in fields["description"] and fields["timestamp"].count(":") == 2 and fields["time"].isdigit()
    assert as_form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert as_form.headers["user-agent"].startswith("returnpath/")
    assert as_form.webhook_id.startswith("msg_")
    # The same names in JSON, with JSON's types.
    assert set(as_json.fields) == set(fields)
    assert as_json.fields["code"] == 550 and as_json.fields["async"] is False and as_json.fields["hard"] is False
    assert as_json.fields["tags"] == ["welcome", "a b"] and as_json.fields["event_id"] == int(fields["event_id"])
    assert as_json.headers["content-type"] == "application/json"

    # Only loops of the account that wants the kind; the other account's loop gets nothing of it.
    delivered = send(server, "someone@example.net")
    accepted = posted(hooks, "/refused/deliveries-only", delivered, "delivery").fields
    assert {k: accepted[k] for k in ("recipient", "code", "extended")} == {
        "recipient": "someone@example.net",
        "code": "250",
        "extended": "2.0.0",
    }
    assert "queued as" in accepted["description"]  # the remote server's acceptance
    assert "tags" not in accepted  # no tags: an empty list is left out of a form, as PHP does
    assert not [a for a in hooks.at("/refused/deliveries-only") if a.fields["id"] == delivery_id]
    assert not [a for a in hooks.at("/refused/other-account") if a.fields["id"] in (delivery_id, delivered)]
    assert not hooks.unverified

    # The API shows the loop's post as done, with its status.
    items = call(server, "GET", f"/v1/feedback-loops/{form['id']}/deliveries").json()["deliveries"]
    [item] = [i for i in items if i["webhook_id"] == as_form.webhook_id]
    assert item["state"] == "done" and item["attempts"] == 1 and item["last_status"] == 200
    assert item["type"] == "failure" and item["delivery"] == delivery_id


def test_a_deferral_during_smtp_is_posted_with_its_reason_and_command_as_a_failure_is(
    server: Server, hooks: Receiver
) -> None:
    # An application that mails a full mailbox learns why it waits in the words a failure
    # would use (reason, command), not empty fields; nothing is hard while it is retried.
    add_loop(server, hooks, "/deferred/json", ["deferred"], "json")
    delivery_id = send(server, "rcpt-452-4.2.2@example.net")
    deferred = posted(hooks, "/deferred/json", delivery_id, "deferred").fields
    assert {k: deferred[k] for k in ("action", "state", "code", "extended", "async", "reason", "hard", "command")} == {
        "action": "delayed",
        "state": "rcpt",
        "code": 452,
        "extended": "4.2.2",
        "async": False,
        "reason": "mailboxfull",
        "hard": False,
        "command": "RCPT",
    }
    [event] = [e for e in server.delivery(delivery_id)["events"] if e["event"] == "deferred"]
    assert (event["type"], event["reason"], event["command"], event["hard"]) == ("sync", "mailboxfull", "RCPT", False)


def test_a_dsn_on_the_inbound_port_posts_the_bounce_and_the_failure(
    server: Server, module_sink: Sink, hooks: Receiver
) -> None:
    add_loop(server, hooks, "/dsn/bounces", ["bounce"], "json")
    add_loop(server, hooks, "/dsn/failures", ["failure"])
    delivery_id = send(server, "gone@example.net", tags=["news"])
    envelope = envelope_seen_by(module_sink, "gone@example.net")
    give_back(server, "", envelope, DSN, envelope=envelope, recipient="gone@example.net")

    bounce = posted(hooks, "/dsn/bounces", delivery_id, "bounce").fields
    assert {k: bounce[k] for k in ("recipient", "kind", "mailfrom", "rcptto", "envelope", "tags")} == {
        "recipient": "gone@example.net",
        "kind": "dsn",
        "mailfrom": "",
        "rcptto": envelope,
        "envelope": "",
        "tags": ["news"],
    }
    assert "Status: 5.1.1" in bounce["mime"] and bounce["mime"].startswith("From: MAILER-DAEMON@mx.example.net")

    failure = posted(hooks, "/dsn/failures", delivery_id, "failure").fields
    assert {k: failure[k] for k in ("state", "async", "hard", "dsn", "reason", "code", "extended", "action")} == {
        "state": "bounce",
        "async": "1",
        "hard": "1",
        "dsn": "1",
        "reason": "userunknown",
        "code": "550",
        "extended": "5.1.1",
        "action": "failed",
    }
    assert "User unknown" in failure["description"]


# Exim's delay warning (its default warn_message_file text): no DSN, but a delay all the same.
EXIM_DELAY = """\
From: Mail Delivery System <Mailer-Daemon@mail.example.net>
To: {envelope}
Subject: Warning: message 1abcDE-0001xY-Ab delayed 24 hours
Auto-Submitted: auto-replied

This message was created automatically by mail delivery software.
A message that you sent has not yet been delivered to one or more of its
recipients after more than 24 hours on the queue on mail.example.net.

The message identifier is:     1abcDE-0001xY-Ab
The subject of the message is: hello

The address to which the message has not yet been delivered is:

  {recipient}
    Delay reason: SMTP error from remote mail server after RCPT TO:<{recipient}>:
    452 4.2.2 Mailbox full

No action is required on your part. Delivery attempts will continue for
some time, and this warning may be repeated at intervals if the message
remains undelivered. Eventually the mail delivery software will give up,
and when that happens, the message will be returned to you.
"""


def test_a_delay_notice_that_is_no_dsn_is_posted_as_a_deferral_marked_not_dsn(
    server: Server, module_sink: Sink, hooks: Receiver
) -> None:
    # As a recognised non-standard failure is a failure (dsn 0), a recognised non-standard
    # delay is a deferral: the application hears of it on its deferred loop, not only as a bounce.
    add_loop(server, hooks, "/delay/all", ["bounce", "deferred", "failure"], "json")
    delivery_id = send(server, "slow@example.net")
    envelope = envelope_seen_by(module_sink, "slow@example.net")
    give_back(server, "", envelope, EXIM_DELAY, envelope=envelope, recipient="slow@example.net")

    deferred = posted(hooks, "/delay/all", delivery_id, "deferred").fields
    assert {k: deferred[k] for k in ("action", "state", "async", "dsn", "reason", "hard", "code", "extended")} == {
        "action": "delayed",
        "state": "bounce",
        "async": True,
        "dsn": False,
        "reason": "mailboxfull",
        "hard": False,
        "code": 452,
        "extended": "4.2.2",
    }
    assert posted(hooks, "/delay/all", delivery_id, "bounce").fields["kind"] == "bounce"
    assert server.delivery(delivery_id)["state"] == "delivered"  # a delay fails nothing
    assert not [a for a in hooks.at("/delay/all") if a.fields["id"] == delivery_id and a.fields["type"] == "failure"]


def test_an_autoreply_is_posted_as_a_bounce_of_kind_autoreply_and_nothing_else(
    server: Server, module_sink: Sink, hooks: Receiver
) -> None:
    add_loop(server, hooks, "/autoreply/all", ["bounce", "failure", "deferred"])
    delivery_id = send(server, "holiday@example.net")
    envelope = envelope_seen_by(module_sink, "holiday@example.net")
    give_back(server, "holiday@example.net", envelope, AUTOREPLY, envelope=envelope, recipient="holiday@example.net")
    bounce = posted(hooks, "/autoreply/all", delivery_id, "bounce").fields
    assert bounce["kind"] == "autoreply" and "I am on holiday" in bounce["mime"]
    assert bounce["mailfrom"] == "holiday@example.net"
    assert [a.fields["type"] for a in hooks.at("/autoreply/all") if a.fields["id"] == delivery_id] == ["bounce"]


def test_a_complaint_is_posted_as_abuse_with_the_report(server: Server, module_sink: Sink, hooks: Receiver) -> None:
    add_loop(server, hooks, "/abuse", ["abuse"], "json")
    delivery_id = send(server, "complainer@example.net")
    envelope = envelope_seen_by(module_sink, "complainer@example.net")
    give_back(
        server,
        "feedback@isp.example.org",
        f"abuse@{server.settings.bounce_domain}",
        ARF,
        envelope=envelope,
        recipient="complainer@example.net",
    )
    abuse = posted(hooks, "/abuse", delivery_id, "abuse").fields
    assert abuse["emailfrom"] == "complainer@example.net" and abuse["feedbacktype"] == "abuse"
    assert "message/feedback-report" in abuse["mime"] and abuse["recipient"] == "complainer@example.net"


# ---- a receiver that fails -----------------------------------------------------------------------


def test_each_event_arrives_exactly_once_through_errors_timeouts_and_drops(server: Server, hooks: Receiver) -> None:
    """500, 429 with Retry-After, an answer slower than the timeout, a dropped connection: then
    it answers. Every event arrives; after de-duplication by webhook-id each exactly once; every
    request is an attempt the API shows."""
    loop = add_loop(
        server,
        hooks,
        "/flaky",
        ["failure"],
        "form",
        None,
        Reply(500),
        Reply(429, (("Retry-After", "1"),)),
        Slow(2.5),
        Drop(),
        Reply(503),
    )
    sent = [send(server, f"rcpt-550-5.1.{n}@example.net") for n in range(6)]
    for delivery_id in sent:
        posted(hooks, "/flaky", delivery_id, "failure", timeout=30)

    def recorded() -> list[dict[str, Any]] | None:
        items = call(server, "GET", f"/v1/feedback-loops/{loop['id']}/deliveries").json()["deliveries"]
        return items if all(i["state"] == "done" for i in items) else None

    items = wait_for(recorded, what="every post recorded as done")
    assert len(items) == 6 and {i["last_status"] for i in items} == {200}

    arrivals = [a for a in hooks.at("/flaky") if a.fields["id"] in sent]
    assert sorted(a.answered for a in arrivals if a.answered != "200") == ["429", "500", "503", "drop", "slow"]
    by_event = {a.webhook_id: a.fields["id"] for a in arrivals}
    assert sorted(by_event.values()) == sorted(sent)  # one webhook-id per event, the same on every retry
    # Every attempt reached the receiver (the slow answer came after the poster gave up on it).
    assert sum(i["attempts"] for i in items) == len(arrivals)


def test_a_dead_post_is_listed_and_replayed(server: Server, hooks: Receiver) -> None:
    """A 4xx other than 408/429 is tried a few times and kept as dead, with its status and
    error; replaying it posts it again."""
    loop = add_loop(server, hooks, "/gone", ["failure"], "form", None, *[Reply(410, body=b"no such hook")] * 3)
    delivery_id = send(server, "rcpt-550@example.org")

    def dead() -> list[dict[str, Any]]:
        return list(call(server, "GET", f"/v1/feedback-loops/{loop['id']}/deliveries?state=dead").json()["deliveries"])

    [item] = wait_for(dead, what="the post to be dead")
    assert item["last_status"] == 410 and "no such hook" in item["last_error"] and item["attempts"] == 3

    assert call(server, "POST", f"/v1/feedback-loops/{loop['id']}/deliveries/{item['id']}/replay").status_code == 202
    posted(hooks, "/gone", delivery_id, "failure")


def test_a_paused_loop_keeps_its_events_until_it_is_resumed(server: Server, hooks: Receiver) -> None:
    loop = add_loop(server, hooks, "/paused", ["failure"])
    assert call(server, "PATCH", f"/v1/feedback-loops/{loop['id']}", json={"active": False}).json()["active"] is False
    delivery_id = send(server, "rcpt-550@example.com")
    wait_for(
        lambda: call(server, "GET", f"/v1/feedback-loops/{loop['id']}/deliveries").json()["deliveries"],
        what="the event to wait in the outbox",
    )
    assert not hooks.at("/paused")
    call(server, "PATCH", f"/v1/feedback-loops/{loop['id']}", json={"active": True})
    posted(hooks, "/paused", delivery_id, "failure")


def test_a_slow_endpoint_does_not_hold_back_another_loop(server: Server, hooks: Receiver) -> None:
    """A receiver that takes longer than the timeout to answer keeps failing; the loop next to
    it gets every event meanwhile, while the slow one still has posts waiting."""
    slow = add_loop(server, hooks, "/isolation/slow", ["failure"], "form", None, *[Slow(1.5)] * 100)
    add_loop(server, hooks, "/isolation/healthy", ["failure"])
    sent = [send(server, f"rcpt-550-5.1.{n}@isolation.example") for n in range(30)]
    for delivery_id in sent:
        posted(hooks, "/isolation/healthy", delivery_id, "failure")
    items = call(server, "GET", f"/v1/feedback-loops/{slow['id']}/deliveries").json()["deliveries"]
    assert [i for i in items if i["state"] != "done"], "the slow endpoint got all its posts through: nothing to test"


# ---- a crash while posting -----------------------------------------------------------------------


def test_nothing_is_lost_when_the_server_is_killed_while_posting(make_server: ServerFactory, module_sink: Sink) -> None:
    """SIGKILL while posts are in flight (the receiver answers slowly), restart: every event
    arrives, at least once."""
    with ThreadedReceiver() as receiver:
        # Answers slow enough that the posts cannot keep up with the 40 sends, however fast
        # the claims and however loaded the machine: with 0.4 s, the posts of a relay whose
        # dispatcher claims beside the writer had all arrived once on CI before the first
        # look (4 test processes on 2 cores), and there was nothing left to kill them in.
        settings = {**LOOP_SETTINGS, "webhooks__timeout": config.Duration(5)}
        server = make_server(delivery__routes={"*": module_sink.route}, **settings)
        add_loop(server, receiver, "/crash", ["failure"], "form", None, *[Slow(2.0)] * 200)
        sent = [send(server, f"rcpt-550-5.1.{n}@crash.example") for n in range(40)]
        wait_for(lambda: len(receiver.at("/crash")) >= 8, what="posts to be under way")
        server.kill()
        arrived_before = {a.fields["id"] for a in receiver.unique("/crash").values()}
        assert len(arrived_before) < len(sent), "the kill came too late to test anything"
        server.start()
        wait_for(
            lambda: {a.fields["id"] for a in receiver.unique("/crash").values()} >= set(sent),
            timeout=60,
            what="every event to arrive after the restart",
        )
