"""`returnpath accounts` beside a running `serve`: sender domains, rotate, disable and enable,
remove — and what the running server makes of each at once, over SMTP and HTTP."""

from __future__ import annotations

import json
import smtplib
import subprocess
import time
from typing import Any

import pytest

from returnpath import config
from returnpath.usecases.relay import ACCOUNT_FRESH
from tests.delivery.sinks import Sink
from tests.e2e.conftest import ServerFactory
from tests.e2e.harness import Server, wait_for

MESSAGE = b"From: Shop <shop@example.com>\r\nTo: a@example.net\r\nSubject: order\r\n\r\nThanks.\r\n"
DISABLED = b"5.7.8 Authentication credentials invalid: the account is disabled"


@pytest.fixture(scope="module")
def server(make_module_server: ServerFactory, module_sink: Sink) -> Server:
    return make_module_server(
        workers=1,
        delivery__routes={"*": module_sink.route},
        delivery__retry__first=config.Duration(0.3),
        delivery__retry__factor=1.0,
    )


def ok(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def refused(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


def listed(server: Server) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in ok(server.cli("accounts", "list"))}


def login_refused(server: Server, credentials: dict[str, str]) -> tuple[int, bytes]:
    """The reply to a login that is refused."""
    with (
        smtplib.SMTP("127.0.0.1", server.submission_port, timeout=30) as client,
        pytest.raises(smtplib.SMTPAuthenticationError) as error,
    ):
        client.login(credentials["smtp_username"], credentials["smtp_password"])
    return error.value.smtp_code, error.value.smtp_error


def state(server: Server, delivery_id: str, account: str) -> str:
    shown = json.loads(server.cli("delivery", delivery_id, "--account", account).stdout)
    return shown["state"]  # type: ignore[no-any-return]


def deferred(server: Server, credentials: dict[str, str]) -> str:
    """Submit a message as the account, to the sink that defers it; its delivery id once its
    first attempt has been deferred."""
    with server.smtp(credentials=credentials) as client:
        accepted = server.submit_smtp("ops@example.com", ["a@example.net"], MESSAGE, client)
    delivery_id = accepted["a@example.net"]
    name = credentials["name"]
    wait_for(lambda: state(server, delivery_id, name) == "deferred", what="the first attempt to be deferred")
    return delivery_id


def test_sender_domains_are_kept_listed_and_enforced_at_mail_from(server: Server) -> None:
    [created] = ok(server.cli("accounts", "add", "shop", "--sender-domains", "Example.com, *.example.org"))
    assert listed(server)["shop"] == {
        "account": created["account"],
        "name": "shop",
        "smtp_username": "shop",
        "disabled": False,
        "sender_domains": ["example.com", "*.example.org"],
    }
    with server.smtp(credentials=created) as client:
        assert client.mail("shop@example.net") == (
            550,
            b"5.7.1 sender <shop@example.net> is not allowed for account 'shop': "
            b"it may send from example.com, *.example.org",
        )
        assert client.mail("shop@news.example.org")[0] == 250
    with server.api(created["api_token"]) as api:
        message = "From: shop@example.com\nSubject: hi\n\nhi\n"
        response = api.post(
            "/v1/send", json={"recipient": "a@example.net", "envelope": "b@example.net", "mime": message}
        )
    assert response.status_code == 403
    assert (response.json()["type"], response.json()["field"]) == (
        "urn:returnpath:problem:sender-not-allowed",
        "envelope",
    )

    # `returnpath send` goes through the same check.
    sent = server.cli(
        "send", "--account", "shop", "--from", "shop@example.net", "--to", "a@example.net", "-", input=MESSAGE
    )
    assert refused(sent) == (
        "returnpath: sender <shop@example.net> is not allowed for account 'shop': "
        "it may send from example.com, *.example.org"
    )

    [updated] = ok(server.cli("accounts", "update", "shop", "--sender-domains", ""))
    assert updated["sender_domains"] == []
    with server.smtp(credentials=created) as client:
        assert client.mail("shop@example.net")[0] == 250

    assert refused(server.cli("accounts", "update", "shop", "--sender-domains", "example")) == (
        "returnpath: sender domain 'example': write a domain such as example.com, or *.example.com for its subdomains"
    )
    assert refused(server.cli("accounts", "update", "shop")) == (
        "returnpath: accounts update needs --sender-domains (empty: any sender)"
    )


def test_rotate_prints_new_credentials_once_and_the_old_stop_working(server: Server) -> None:
    [old] = ok(server.cli("accounts", "add", "rotating"))
    [new] = ok(server.cli("accounts", "rotate", "rotating"))
    assert set(new) == {"account", "name", "api_token", "smtp_username", "smtp_password"}
    assert new["api_token"] != old["api_token"] and new["smtp_password"] != old["smtp_password"]
    assert login_refused(server, old)[0] == 535
    server.smtp(credentials=new).quit()
    with server.api(old["api_token"]) as api:
        assert api.get("/v1/events").status_code == 401
    with server.api(new["api_token"]) as api:
        assert api.get("/v1/events").status_code == 200

    [token_only] = ok(server.cli("accounts", "rotate", "rotating", "--token"))
    assert set(token_only) == {"account", "name", "api_token"}
    server.smtp(credentials=new).quit()  # the password stays
    assert refused(server.cli("accounts", "rotate", "nobody")) == "returnpath: no account named 'nobody'"


def test_rotate_ends_the_connections_logged_in_with_the_old_password(server: Server) -> None:
    # A password rotated because it leaked: a connection that logged in with it before must
    # not go on sending. At its next MAIL FROM (it reads its account again at most once every
    # ACCOUNT_FRESH) it hears 421 and is closed, so that a client connects again and logs in
    # with the password it has now.
    [old] = ok(server.cli("accounts", "add", "leaked"))
    before = server.smtp(credentials=old)
    ok(server.cli("accounts", "rotate", "leaked", "--token"))  # the password stays: goes on
    time.sleep(ACCOUNT_FRESH)
    assert before.mail("shop@example.com")[0] == 250
    before.rset()
    [new] = ok(server.cli("accounts", "rotate", "leaked", "--password"))
    time.sleep(ACCOUNT_FRESH)
    assert before.mail("shop@example.com") == (
        421,
        b"4.7.0 relay.example.test The SMTP password of this connection's login was changed; "
        b"log in again; closing connection",
    )
    with pytest.raises(smtplib.SMTPServerDisconnected):
        before.noop()
    with server.smtp(credentials=new) as client:
        assert client.mail("shop@example.com")[0] == 250


def test_a_disabled_account_cannot_submit_but_its_queued_mail_goes_out(server: Server, module_sink: Sink) -> None:
    [created] = ok(server.cli("accounts", "add", "paused"))
    module_sink.refuse("rcpt", "451 4.3.0 Try again later")
    try:
        delivery_id = deferred(server, created)
        # Pending deliveries hold a removal back.
        assert refused(server.cli("accounts", "remove", "paused")) == (
            "returnpath: account 'paused' has 1 queued or deferred deliveries; "
            "remove it when they are done, or with --force to drop them"
        )
        [disabled] = ok(server.cli("accounts", "disable", "paused"))
        assert disabled["disabled"] is True and listed(server)["paused"]["disabled"] is True
        assert login_refused(server, created) == (535, DISABLED)
        with server.api(created["api_token"]) as api:
            response = api.post("/v1/send", json={"recipient": "a@example.net", "mime": MESSAGE.decode()})
        assert (response.status_code, response.json()["type"]) == (403, "urn:returnpath:problem:account-disabled")
    finally:
        module_sink.accept()
    # What it queued before is still delivered, and its events still recorded and logged.
    server.wait_logged("deliveries", [delivery_id])
    assert state(server, delivery_id, "paused") == "delivered"

    [enabled] = ok(server.cli("accounts", "enable", "paused"))
    assert enabled["disabled"] is False
    server.smtp(credentials=created).quit()

    # Nothing pending now: removed without --force, with its deliveries; the name is free again.
    assert ok(server.cli("accounts", "remove", "paused")) == [
        {"removed": created["account"], "name": "paused", "deliveries": 1}
    ]
    assert "paused" not in listed(server)
    assert login_refused(server, created)[0] == 535
    ok(server.cli("accounts", "add", "paused"))


def test_remove_force_drops_what_was_pending(server: Server, module_sink: Sink) -> None:
    [created] = ok(server.cli("accounts", "add", "doomed"))
    module_sink.refuse("rcpt", "451 4.3.0 Try again later")
    try:
        delivery_id = deferred(server, created)
        assert ok(server.cli("accounts", "remove", "doomed", "--force")) == [
            {"removed": created["account"], "name": "doomed", "deliveries": 1}
        ]
    finally:
        module_sink.accept()
    assert (
        refused(server.cli("delivery", delivery_id, "--account", "doomed")) == "returnpath: no account named 'doomed'"
    )
    wait_for(lambda: server.queue()["deferred"] == 0, what="nothing deferred")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["disable"], "accounts disable needs a NAME"),
        (["remove"], "accounts remove needs a NAME"),
        (["enable", "nobody"], "no account named 'nobody'"),
        (["add", "x", "--force"], "--force goes with accounts remove"),
        (["disable", "default", "--token"], "--token and --password go with accounts rotate"),
        (
            ["rotate", "default", "--sender-domains", "example.com"],
            "--sender-domains goes with accounts add or accounts update",
        ),
    ],
)
def test_bad_account_commands_say_what_is_wrong(server: Server, args: list[str], message: str) -> None:
    assert refused(server.cli("accounts", *args)) == f"returnpath: {message}"
