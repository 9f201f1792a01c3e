"""Accounts are apart: a second account, added with `returnpath accounts add` while `serve`
runs, sends with its own credentials and cannot see the first account's mail (404, exactly as
for an id that does not exist), nor the other way round."""

from __future__ import annotations

import json
import smtplib

import httpx
import pytest

from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory

MIME = "From: app@example.com\nSubject: private\n\nfor one account only\n"


def test_accounts_see_only_their_own_mail(make_server: ServerFactory, sink: Sink) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    added = server.cli("accounts", "add", "other")
    assert added.returncode == 0, added.stderr
    other = json.loads(added.stdout)

    # The first account sends over HTTP, the new one over SMTP with its own credentials.
    first = server.send_http({"recipient": "first@example.net", "mime": MIME})
    first_delivery = first["recipients"]["first@example.net"]
    with server.smtp(credentials=other) as client:
        second = server.submit_smtp(
            "other@example.com", ["second@example.net"], MIME.replace("\n", "\r\n").encode(), client=client
        )
    second_delivery = second["second@example.net"]
    server.wait_final([first_delivery])
    sink.wait(2)

    with server.api() as mine, server.api(token=other["api_token"]) as theirs:
        assert theirs.get(f"/v1/deliveries/{second_delivery}").json()["state"] == "delivered"
        assert mine.get(f"/v1/deliveries/{first_delivery}").json()["state"] == "delivered"

        # Someone else's id is answered exactly like an id that does not exist.
        for api, path, what, wanted in (
            (theirs, "deliveries", "delivery", first_delivery),
            (theirs, "messages", "message", first["id"]),
            (mine, "deliveries", "delivery", second_delivery),
            (mine, "deliveries", "delivery", "0" * 26),
        ):
            response = api.get(f"/v1/{path}/{wanted}")
            assert response.status_code == 404
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["type"] == "urn:returnpath:problem:not-found"
            assert problem["detail"] == f"no {what} {wanted!r} in this account"

        mine_events = {e["id"] for e in mine.get("/v1/events").json()["events"]}
        theirs_events = {e["id"] for e in theirs.get("/v1/events").json()["events"]}
    assert mine_events == {first_delivery}
    assert theirs_events == {second_delivery}

    # Both copies went out, each with its own tracking envelope.
    assert {server.token_of(t.mail_from) for t in sink.transactions} == {first_delivery, second_delivery}

    # The command line takes the account too.
    as_other = server.cli("delivery", first_delivery, "--account", "other")
    assert as_other.returncode == 1
    assert "no delivery" in as_other.stderr
    assert json.loads(server.cli("delivery", second_delivery, "--account", "other").stdout)["id"] == second_delivery


def test_credentials_of_one_account_do_not_open_another(make_server: ServerFactory) -> None:
    server = make_server(workers=1)
    other = json.loads(server.cli("accounts", "add", "other").stdout)

    client = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=30)
    try:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            client.login(other["smtp_username"], server.credentials["smtp_password"])
        assert (refused.value.smtp_code, refused.value.smtp_error) == (535, b"5.7.8 Authentication credentials invalid")
        # Without AUTH, nothing is relayed.
        assert client.mail("app@example.com") == (530, b"5.7.0 Authentication required")
    finally:
        client.close()

    with httpx.Client(base_url=server.http_url) as anonymous:
        response = anonymous.get("/v1/events", headers={"Authorization": "Bearer rp_not_a_token"})
    assert response.status_code == 401
    assert response.json()["type"] == "urn:returnpath:problem:unauthorized"
