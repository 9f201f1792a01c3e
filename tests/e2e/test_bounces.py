"""Returned mail end to end: a message goes out through returnpath, something comes back to its
tracking envelope address on the inbound port, and the events and log lines follow."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator

import httpx
import pytest

from returnpath import config
from returnpath.core import tokens
from tests.delivery.sinks import Sink
from tests.e2e.harness import Server, wait_for

DSN = """\
From: MAILER-DAEMON@mx.example.net
To: {envelope}
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mailstore.example.net
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--B
Content-Type: text/rfc822-headers

From: app@example.com
To: {recipient}
Subject: hello

--B--
"""

AUTOREPLY = """\
From: {recipient}
To: {envelope}
Subject: Out of Office: hello
Auto-Submitted: auto-replied

I am on holiday until Monday.
"""

# A notice that names no recipient anywhere: the returned copy keeps no To, the text no address.
# Only the tracking address it reached says whom the mail was for.
NAMELESS = """\
From: MAILER-DAEMON@mail.example.net
To: {envelope}
Subject: failure notice

Hi. This is the qmail-send program at mail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

Sorry, no mailbox here by that name. (#5.1.1)

--- Below this line is a copy of the message.

From: app@example.com
Subject: hello

hi
"""
# The same from a server no detector knows: the generic layer reads it by its shape.
NAMELESS_GENERIC = """\
From: Mail Delivery System <MAILER-DAEMON@mx1.example.org>
To: {envelope}
Subject: Undeliverable: hello

Your message could not be delivered to one or more recipients.

The mail server of the recipient answered:
552 5.2.2 Mailbox full, try again later

----- Original message headers -----
From: app@example.com
Subject: hello
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, module_sink: Sink) -> Iterator[Server]:
    srv = Server(
        tmp_path_factory.mktemp("bounces") / "data",
        workers=1,
        delivery__routes={"*": module_sink.route},
        delivery__poll_interval=config.Duration(0.1),
    )
    srv.start()
    yield srv
    srv.stop()


def send(server: Server, recipient: str, **options: object) -> str:
    reply = httpx.post(
        f"{server.http_url}/v1/send",
        headers={"Authorization": f"Bearer {server.credentials['api_token']}"},
        json={"recipient": recipient, "mime": "From: app@example.com\nSubject: hello\n\nhi\n", **options},
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["recipients"][recipient])


def envelope_seen_by(module_sink: Sink, recipient: str) -> str:
    transaction = wait_for(
        lambda: next((t for t in module_sink.transactions if t.rcpt_to == [recipient]), None),
        what=f"the sink to receive mail for {recipient}",
    )
    return str(transaction.mail_from)


def give_back(server: Server, envelope: str, text: str, **fields: str) -> str:
    host, port = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    raw = text.format(envelope=envelope, **fields).replace("\n", "\r\n").encode()
    with smtplib.SMTP(host, port) as client:
        client.sendmail("", [envelope], raw)
    return raw.decode()


def events(server: Server, delivery_id: str) -> list[dict[str, object]]:
    reply = httpx.get(
        f"{server.http_url}/v1/deliveries/{delivery_id}",
        headers={"Authorization": f"Bearer {server.credentials['api_token']}"},
    )
    return list(reply.json()["events"])


def test_a_dsn_fails_the_delivery_asynchronously(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "gone@example.net", tags=["news"])
    envelope = envelope_seen_by(module_sink, "gone@example.net")
    assert tokens.decode(server.settings.secret_bytes, envelope.split("@")[0]) == delivery_id
    give_back(server, envelope, DSN, recipient="gone@example.net")
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        what="the async failure in failures.log",
    )
    assert {
        k: failure[k] for k in ("type", "state", "status", "code", "reason", "hard", "dsn", "recipient", "tags")
    } == {
        "type": "async",
        "state": "bounce",
        "status": "5.1.1",
        "code": 550,
        "reason": "userunknown",
        "hard": True,
        "dsn": True,
        "recipient": "gone@example.net",
        "tags": ["news"],
    }
    assert "User unknown" in str(failure["description"])
    bounce = next(b for b in server.log("bounces") if b["id"] == delivery_id)
    assert bounce["kind"] == "dsn" and bounce["mailfrom"] == "" and bounce["rcptto"] == [envelope]
    # `raw` is the command that prints the returned message as it arrived: run it as written.
    assert bounce["raw"] == f"returnpath returned {bounce['return']}"
    kept = server.cli(*str(bounce["raw"]).split()[1:])
    assert kept.returncode == 0 and "Status: 5.1.1" in kept.stdout
    kinds = [e["event"] for e in events(server, delivery_id)]
    assert kinds == ["delivery", "bounce", "failure"]
    state = httpx.get(
        f"{server.http_url}/v1/deliveries/{delivery_id}",
        headers={"Authorization": f"Bearer {server.credentials['api_token']}"},
    ).json()["state"]
    assert state == "failed"


def test_an_autoreply_is_only_a_bounce(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "holiday@example.net")
    envelope = envelope_seen_by(module_sink, "holiday@example.net")
    give_back(server, envelope, AUTOREPLY, recipient="holiday@example.net")
    bounce = wait_for(
        lambda: next((b for b in server.log("bounces") if b["id"] == delivery_id), None), what="the bounce line"
    )
    assert bounce["kind"] == "autoreply"
    assert not [f for f in server.log("failures") if f["id"] == delivery_id]
    assert [e["event"] for e in events(server, delivery_id)] == ["delivery", "bounce"]


@pytest.mark.parametrize(
    ("recipient", "notice", "said", "status", "reason", "hard"),
    [
        ("nameless@example.net", NAMELESS, "no mailbox here", "5.1.1", "userunknown", True),
        ("nameless-full@example.net", NAMELESS_GENERIC, "Mailbox full", "5.2.2", "mailboxfull", False),
    ],
    ids=["qmail", "generic"],
)
def test_a_notice_naming_nobody_fails_the_delivery_it_reached(
    server: Server, module_sink: Sink, recipient: str, notice: str, said: str, status: str, reason: str, hard: bool
) -> None:
    delivery_id = send(server, recipient)
    envelope = envelope_seen_by(module_sink, recipient)
    give_back(server, envelope, AUTOREPLY, recipient=recipient)
    wait_for(
        lambda: any(b["id"] == delivery_id and b["kind"] == "autoreply" for b in server.log("bounces")),
        what="the auto-reply's bounce line",
    )
    assert not [f for f in server.log("failures") if f["id"] == delivery_id]  # an auto-reply stays one
    give_back(server, envelope, notice)
    failure = wait_for(
        lambda: next((f for f in server.log("failures") if f["id"] == delivery_id), None),
        what="the async failure of the notice that names nobody",
    )
    assert {k: failure[k] for k in ("type", "recipient", "status", "reason", "hard")} == {
        "type": "async",
        "recipient": recipient,
        "status": status,
        "reason": reason,
        "hard": hard,
    }
    assert "named nowhere" in str(failure["rule"]) and said in str(failure["description"])
    assert "reported_recipient" not in failure
    assert [e["event"] for e in events(server, delivery_id)] == ["delivery", "bounce", "bounce", "failure"]


def test_returned_mail_is_forwarded_to_the_applications_own_envelope(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "gone2@example.net", envelope="bounces@app.example")
    envelope = envelope_seen_by(module_sink, "gone2@example.net")
    assert envelope != "bounces@app.example"  # tracking stays on: our envelope goes out
    raw = give_back(server, envelope, DSN, recipient="gone2@example.net")
    forwarded = wait_for(
        lambda: next((t for t in module_sink.transactions if t.rcpt_to == ["bounces@app.example"]), None),
        what="the forwarded copy",
    )
    assert forwarded.mail_from in ("", "<>")  # the null sender (the sink writes it "<>"): no bounce of a bounce
    assert forwarded.data.replace(b"\r\n", b"\n").rstrip(b"\n") == raw.encode().replace(b"\r\n", b"\n").rstrip(b"\n")
    wait_for(
        lambda: any(f["id"] == delivery_id and f["type"] == "async" for f in server.log("failures")),
        what="the async failure, logged as well",
    )


def test_logs_bounces_reads_the_bounce_log(server: Server, module_sink: Sink) -> None:
    # Its own returned message (not what the module's tests before it left in the server).
    delivery_id = send(server, "read-the-log@example.net")
    give_back(
        server,
        envelope_seen_by(module_sink, "read-the-log@example.net"),
        AUTOREPLY,
        recipient="read-the-log@example.net",
    )
    wait_for(lambda: [b for b in server.log("bounces") if b["id"] == delivery_id], what="its bounce line")
    result = server.cli("logs", "bounces", "--json")
    assert result.returncode == 0 and '"event": "bounce"' in result.stdout


# The fields of a failures.log line that the README names ("What gets recorded").
FAILURE_LINE = {"id", "recipient", "envelope", "time", "attempt", "state", "code", "status", "description"}
FAILURE_LINE |= {"remote", "tags", "type", "reason", "hard", "command", "rule"}


def test_a_failure_line_has_the_same_fields_refused_during_smtp_or_reported_later(
    server: Server, module_sink: Sink
) -> None:
    refused = send(server, "rcpt-550-5.1.1@example.net")
    reported = send(server, "gone-later@example.net")
    envelope = envelope_seen_by(module_sink, "gone-later@example.net")
    give_back(server, envelope, DSN, recipient="gone-later@example.net")

    def line(delivery_id: str) -> dict[str, object] | None:
        return next((f for f in server.log("failures") if f["id"] == delivery_id), None)

    sync = wait_for(lambda: line(refused), what="the failure refused at RCPT")
    later = wait_for(lambda: line(reported), what="the failure reported by a DSN")
    assert set(sync) >= FAILURE_LINE and set(later) >= FAILURE_LINE
    assert (sync["type"], sync["attempt"]) == ("sync", 1)
    # The report is about the copy the remote accepted: the delivery's one attempt.
    assert (later["type"], later["attempt"]) == ("async", 1)


def test_logs_bounces_says_what_came_back(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "away@example.net")
    envelope = envelope_seen_by(module_sink, "away@example.net")
    give_back(server, envelope, AUTOREPLY, recipient="away@example.net")
    # A report to postmaster@ that quotes no tracking address names no delivery.
    postmaster = f"postmaster@{server.settings.bounce_domain}"
    give_back(server, postmaster, DSN, recipient="someone-else@example.net")
    wait_for(lambda: [b for b in server.log("bounces") if b["id"] == delivery_id], what="the autoreply's line")
    wait_for(lambda: [b for b in server.log("bounces") if b["rcptto"] == [postmaster]], what="the report's line")

    result = server.cli("logs", "bounces")
    assert result.returncode == 0, result.stderr
    assert f"  bounce  {delivery_id}  away@example.net  autoreply" in result.stdout
    assert f"  bounce  -  to {postmaster}  dsn\n" in result.stdout
    assert "None" not in result.stdout


def test_events_api_lists_bounces_and_failures(server: Server, module_sink: Sink) -> None:
    # Its own failures, one refused during SMTP and one reported later, so that the test does not
    # depend on what the module's tests before it left in the server (run alone, or out of order).
    refused = send(server, "rcpt-550-5.1.1@example.net")
    reported = send(server, "gone-for-the-api@example.net")
    give_back(
        server,
        envelope_seen_by(module_sink, "gone-for-the-api@example.net"),
        DSN,
        recipient="gone-for-the-api@example.net",
    )
    wait_for(lambda: {refused, reported} <= {f["id"] for f in server.log("failures")}, what="both failure lines")
    reply = httpx.get(
        f"{server.http_url}/v1/events",
        params={"type": "failure"},
        headers={"Authorization": f"Bearer {server.credentials['api_token']}"},
    )
    assert reply.status_code == 200
    assert {e["event"] for e in reply.json()["events"]} == {"failure"}
    assert any(e.get("type") == "async" for e in reply.json()["events"])


ARF = """\
From: feedback@isp.example.org
To: abuse@bounces.example.test
Subject: Complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F"

--F
Content-Type: text/plain

This is an email abuse report.

--F
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: isp-fbl/1.0
Version: 1
Original-Rcpt-To: {recipient}

--F
Content-Type: message/rfc822

Return-Path: <{envelope}>
From: app@example.com
To: {recipient}
Subject: hello

hi
--F--
"""


def test_a_complaint_to_abuse_is_linked_through_the_quoted_return_path(server: Server, module_sink: Sink) -> None:
    delivery_id = send(server, "complainer@example.net")
    envelope = envelope_seen_by(module_sink, "complainer@example.net")
    host, port = config.parse_hostport(server.settings.smtp.inbound.listen, "")
    raw = ARF.format(envelope=envelope, recipient="complainer@example.net").replace("\n", "\r\n").encode()
    with smtplib.SMTP(host, port) as client:
        client.sendmail("feedback@isp.example.org", [f"abuse@{server.settings.bounce_domain}"], raw)
    wait_for(lambda: any(e["event"] == "abuse" for e in events(server, delivery_id)), what="the abuse event")
    abuse = next(e for e in events(server, delivery_id) if e["event"] == "abuse")
    assert abuse["emailfrom"] == "complainer@example.net" and abuse["feedbacktype"] == "abuse"
    assert not [f for f in server.log("failures") if f["id"] == delivery_id]


def test_returned_events_name_the_envelope_the_delivery_was_sent_with(server: Server, module_sink: Sink) -> None:
    """`envelope` is the MAIL FROM of the delivery in every event, as in the delivery event and
    a failure refused during our own dialogue: an application that looks a bounce up by it, or
    compares it with the delivery's, finds the same address (it was the application's own
    envelope, or null, in returned mail's events). The application's own is `own_envelope`."""
    delivery_id = send(server, "gone3@example.net", envelope="bounces@app.example")
    envelope = envelope_seen_by(module_sink, "gone3@example.net")
    give_back(server, envelope, DSN, recipient="gone3@example.net")
    wait_for(
        lambda: any(f["id"] == delivery_id and f["type"] == "async" for f in server.log("failures")),
        what="the async failure",
    )
    seen = {e["event"]: e for e in events(server, delivery_id)}
    assert set(seen) == {"delivery", "bounce", "failure"}
    assert {kind: e["envelope"] for kind, e in seen.items()} == dict.fromkeys(seen, envelope)
    assert seen["bounce"]["own_envelope"] == seen["failure"]["own_envelope"] == "bounces@app.example"
    failure = next(f for f in server.log("failures") if f["id"] == delivery_id)
    assert failure["envelope"] == envelope
