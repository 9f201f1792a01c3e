"""Submitting over HTTP (`POST /v1/send`, SMTPeter's fields) to a running `serve`: the answer
names each recipient's delivery; the sink gets one copy per recipient with its tracking
envelope (or the application's own with `trackbounces: false`), the DSN parameters asked for,
and the message as submitted; the API and deliveries.log record it."""

from __future__ import annotations

import time

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import BOUNCE_DOMAIN
from tests.trace import without_trace

# JSON clients write LF line endings; the message goes out with CRLF.
MIME = (
    "From: App <app@example.com>\n"
    "To: undisclosed-recipients:;\n"
    "Subject: Welcome, Zoë\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "Hello Zoë,\n"
    ".this line starts with a dot\n"
)
ON_THE_WIRE = MIME.replace("\n", "\r\n").encode("utf-8")


def test_send_with_options(make_server: ServerFactory) -> None:
    with Sink(dsn=True) as sink:
        server = make_server(workers=1, delivery__routes={"*": sink.route})
        maxdelivertime = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 3600))
        answer = server.send_http(
            {
                "recipients": ["alice@example.net", "bob@example.org"],
                "recipient": "carol@example.net",
                "mime": MIME,
                "tags": ["welcome", "campaign-7"],
                "maxdelivertime": maxdelivertime,
                "dsn": {"notify": ["FAILURE", "DELAY"], "ret": "HDRS", "envid": "env-42"},
            }
        )

        recipients = ["alice@example.net", "bob@example.org", "carol@example.net"]
        assert list(answer["recipients"]) == recipients
        ids = answer["recipients"]
        assert answer["deliveries"] == [{"id": ids[r], "recipient": r} for r in recipients]
        assert len({answer["id"], *ids.values()}) == 4

        sink.wait(3)
        views = server.wait_final(ids.values())

    assert sorted(sink.recipients()) == recipients
    for transaction in sink.transactions:
        (recipient,) = transaction.rcpt_to
        assert transaction.mail_from.endswith("@" + BOUNCE_DOMAIN)
        assert server.token_of(transaction.mail_from) == ids[recipient]
        assert without_trace(transaction.data, "HTTP") == ON_THE_WIRE
        # aiosmtpd (the sink) upper-cases the parameters it hands on: ENVID was env-42.
        assert sorted(transaction.mail_options) == [
            "BODY=8BITMIME",
            "ENVID=ENV-42",
            "RET=HDRS",
            f"SIZE={len(transaction.data)}",
        ]
        assert transaction.rcpt_options == ["NOTIFY=FAILURE,DELAY"]

    for recipient, delivery_id in ids.items():
        view = views[delivery_id]
        assert view["state"] == "delivered"
        assert view["message"] == answer["id"]
        assert view["recipient"] == recipient
        assert view["sender"] == "app@example.com"
        assert view["own_envelope"] is None
        assert view["tags"] == ["welcome", "campaign-7"]
        assert view["expires"] == maxdelivertime
        (attempt,) = view["attempts"]
        assert (attempt["state"], attempt["code"], attempt["status"], attempt["verdict"]) == (
            "eom",
            250,
            "2.0.0",
            "accepted",
        )
        assert attempt["remote"] == f"127.0.0.1[127.0.0.1]:{sink.port}"

    server.wait_logged("deliveries", ids.values())
    lines = {record["id"]: record for record in server.log("deliveries")}
    assert set(lines) == set(ids.values())
    for recipient, delivery_id in ids.items():
        assert lines[delivery_id]["recipient"] == recipient
        assert lines[delivery_id]["message"] == answer["id"]
        assert lines[delivery_id]["tags"] == ["welcome", "campaign-7"]
        assert lines[delivery_id]["envelope"] == views[delivery_id]["envelope"]
        assert (lines[delivery_id]["state"], lines[delivery_id]["code"]) == ("eom", 250)

    with server.api() as api:
        message = api.get(f"/v1/messages/{answer['id']}").json()
    assert {d["id"]: d["state"] for d in message["deliveries"]} == dict.fromkeys(ids.values(), "delivered")


def test_trackbounces_false_sends_the_applications_envelope(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    answer = server.send_http(
        {
            "recipients": ["alice@example.net", "bob@example.org"],
            "mime": MIME,
            "envelope": "bounces@app.example.com",
            "trackbounces": False,
        }
    )
    ids = answer["recipients"]
    sink.wait(2)
    views = server.wait_final(ids.values())

    assert sorted(sink.recipients()) == ["alice@example.net", "bob@example.org"]
    assert [t.mail_from for t in sink.transactions] == ["bounces@app.example.com"] * 2
    assert all(without_trace(t.data) == ON_THE_WIRE for t in sink.transactions)
    for delivery_id in ids.values():
        assert views[delivery_id]["state"] == "delivered"
        assert views[delivery_id]["envelope"] == "bounces@app.example.com"
        assert views[delivery_id]["own_envelope"] == "bounces@app.example.com"
    server.wait_logged("deliveries", ids.values())
    assert {r["envelope"] for r in server.log("deliveries")} == {"bounces@app.example.com"}


def test_bad_requests_are_problem_documents_and_store_nothing(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    with server.api() as api:
        not_json = api.post("/v1/send", content=b"{not json", headers={"Content-Type": "application/json"})
        no_recipients = api.post("/v1/send", json={"mime": MIME})
        bad_address = api.post("/v1/send", json={"recipients": ["not an address"], "mime": MIME})
        bare_cr = api.post(
            "/v1/send", json={"recipients": ["a@example.net"], "mime": "Subject: x\r\n\r\nhi\rthere\r\n"}
        )
    with server.api(token="rp_wrong") as api:
        wrong_token = api.post("/v1/send", json={"recipients": ["a@example.net"], "mime": MIME})

    for response, status in (
        (not_json, 400),
        (no_recipients, 400),
        (bad_address, 400),
        (bare_cr, 400),
        (wrong_token, 401),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == status
        assert problem["title"] and problem["detail"] and problem["type"]
    assert no_recipients.json()["field"] == "recipients"
    assert bad_address.json()["field"] == "recipients[0]"
    assert bare_cr.json()["field"] == "mime"
    assert server.queue() == {"queued": 0, "deferred": 0, "delivered": 0, "failed": 0}


def test_a_line_over_998_octets_is_refused_as_over_smtp(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    long_line = "x" * 1200
    with server.smtp() as client:
        client.mail("app@example.com")
        client.rcpt("long@example.net")
        code, reply = client.data(b"Subject: long\r\n\r\n" + long_line.encode() + b"\r\n")
    assert (code, reply[:25]) == (500, b"5.5.2 Line too long; RFC ")
    with server.api() as api:
        response = api.post(
            "/v1/send", json={"recipient": "long@example.net", "mime": f"Subject: long\n\n{long_line}\n"}
        )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "mime"
