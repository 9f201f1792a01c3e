"""POST /v1/send: what is accepted is stored exactly, with its options."""

from __future__ import annotations

import calendar
import time

import httpx

from returnpath.core import tokens
from returnpath.core.model import DsnOptions
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.trace import without_trace

from .conftest import MESSAGE


async def test_send_to_recipients_stores_the_message_byte_exact(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    response = await client.post("/v1/send", json={"recipients": ["x@example.net", "y@example.org"], "mime": MESSAGE})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["recipients"]) == {"x@example.net", "y@example.org"}
    assert body["deliveries"] == [
        {"id": body["recipients"][r], "recipient": r} for r in ("x@example.net", "y@example.org")
    ]
    views = await store.message_deliveries(account.account.id, body["id"])
    assert {v.id: v.recipient for v in views} == {d: r for r, d in body["recipients"].items()}
    assert all(v.mail_from == "app@example.com" and v.envelope is None for v in views)
    assert without_trace(await store.mime(body["id"]) or b"", "HTTP") == MESSAGE.replace("\n", "\r\n").encode()


async def test_each_delivery_gets_its_own_tracking_envelope(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    body = (
        await client.post("/v1/send", json={"recipients": ["a@example.net", "b@example.net"], "mime": MESSAGE})
    ).json()
    views = await store.message_deliveries(account.account.id, body["id"])
    senders = {v.envelope_sender for v in views}
    assert len(senders) == 2 and all(s.endswith("@bounces.example.test") for s in senders)
    assert all(
        tokens.envelope_address(b"test-secret-0123456789abcdef", v.id, "bounces.example.test") == v.envelope_sender
        for v in views
    )


async def test_send_to_a_single_recipient_and_both_fields(client: httpx.AsyncClient) -> None:
    one = (await client.post("/v1/send", json={"recipient": "x@example.net", "mime": MESSAGE})).json()
    assert list(one["recipients"]) == ["x@example.net"]
    both = (
        await client.post(
            "/v1/send", json={"recipients": ["x@example.net"], "recipient": "y@example.net", "mime": MESSAGE}
        )
    ).json()
    assert list(both["recipients"]) == ["x@example.net", "y@example.net"]
    # SMTPeter's clients also give `recipients` one address as a string.
    string = await client.post("/v1/send", json={"recipients": "z@example.net", "mime": MESSAGE})
    assert string.status_code == 200, string.text
    assert list(string.json()["recipients"]) == ["z@example.net"]


async def test_presentation_fields_are_ignored_and_empty_attachments_are_no_attachments(
    client: httpx.AsyncClient, store: SqliteStore
) -> None:
    """trackclicks, trackopens, inlinecss and preview change nothing returnpath sends (it
    rewrites no message): accepted, the message stored as given; so are attachments and images
    that hold nothing."""
    fields = {
        "trackclicks": True,
        "trackopens": True,
        "inlinecss": True,
        "preview": "p",
        "attachments": [],
        "images": [],
    }
    response = await client.post("/v1/send", json={"recipient": "x@example.net", "mime": MESSAGE, **fields})
    assert response.status_code == 200, response.text
    stored = without_trace(await store.mime(response.json()["id"]) or b"", "HTTP")
    assert stored == MESSAGE.replace("\n", "\r\n").encode()


async def test_crlf_and_utf8_are_kept(client: httpx.AsyncClient, store: SqliteStore) -> None:
    mime = "From: app@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße 👋\nmixed\r\n"
    body = (await client.post("/v1/send", json={"recipient": "x@example.net", "mime": mime})).json()
    assert (
        without_trace(await store.mime(body["id"]) or b"")
        == "From: app@example.com\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nGrüße 👋\r\nmixed\r\n".encode()
    )


async def test_options_are_stored(client: httpx.AsyncClient, store: SqliteStore, account: NewAccount) -> None:
    deadline = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 3600))
    response = await client.post(
        "/v1/send",
        json={
            "recipients": ["x@example.net"],
            "mime": MESSAGE,
            "envelope": "bounces@app.example.com",
            "trackbounces": False,
            "tags": ["welcome", "batch-7"],
            "maxdelivertime": deadline,
            "dsn": {"notify": ["FAILURE", "DELAY"], "ret": "HDRS", "envid": "abc123"},
            "trackclicks": True,
            "inlinecss": True,
            "subject": "ignored: mime is given",
        },
    )
    assert response.status_code == 200, response.text
    [view] = await store.message_deliveries(account.account.id, response.json()["id"])
    assert view.tags == ("welcome", "batch-7")
    assert view.envelope == "bounces@app.example.com" == view.envelope_sender == view.mail_from
    assert view.expires_at == calendar.timegm(time.strptime(deadline, "%Y-%m-%d %H:%M:%S"))
    [job] = await store.claim("test", time.time(), time.time() + 60, 10)
    assert job.dsn == DsnOptions(notify=("FAILURE", "DELAY"), ret="HDRS", envid="abc123")
    assert job.tags == ("welcome", "batch-7")


async def test_a_message_built_from_fields(client: httpx.AsyncClient, store: SqliteStore, account: NewAccount) -> None:
    response = await client.post(
        "/v1/send",
        json={
            "recipient": "x@example.net",
            "from": "Ünïcode App <app@example.com>",
            "to": ["x@example.net"],
            "subject": "Grüße",
            "text": "hello\nworld",
            "html": "<p>hello</p>",
            "trackopens": True,
        },
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["id"]
    mime = await store.mime(message_id)
    assert mime is not None and b"\n" not in mime.replace(b"\r\n", b"")
    assert mime.isascii()
    assert b"Subject: =?utf-8?" in mime and b"multipart/alternative" in mime and b"<p>hello</p>" in mime
    # The Message-ID and Date every message that lacks them gets, as one sent as mime: the
    # Message-ID names the message id the answer gave, so the two can be matched.
    assert mime.count(b"Message-ID: ") == 1 and f"Message-ID: <{message_id}@".encode() in mime
    assert mime.count(b"Date: ") == 1
    [view] = await store.message_deliveries(account.account.id, message_id)
    assert view.mail_from == "app@example.com"


async def test_access_token_as_query_parameter(anonymous: httpx.AsyncClient, account: NewAccount) -> None:
    response = await anonymous.post(
        "/v1/send", params={"access_token": account.api_token}, json={"recipient": "x@example.net", "mime": MESSAGE}
    )
    assert response.status_code == 200, response.text
