"""Bad input to the submission server: each gets a clear reply with an enhanced status code,
and nothing of it is stored."""

from __future__ import annotations

import time

import pytest

from returnpath.config import Duration, Settings, Size
from returnpath.smtp.replies import (
    S235_AUTH_SUCCESS,
    S250_RECIPIENT_OK,
    S250_SENDER_OK,
    S421_TOO_MANY_AUTH_FAILURES,
    S451_STORE_FAILED,
    S452_TOO_MANY_RECIPIENTS,
    S501_BAD_BASE64,
    S501_BAD_PLAIN,
    S530_AUTH_REQUIRED,
    S535_AUTH_INVALID,
    S538_ENCRYPTION_REQUIRED,
    S552_MESSAGE_TOO_BIG,
    S552_SIZE_EXCEEDED,
)
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount

from .conftest import MIME, TEST_AUTH_DELAY, Address, RawClient, Start, b64, plain

S250_OK = "250 OK"
S354_DATA = "354 End data with <CR><LF>.<CR><LF>"
S550_BARE_LF = "550 5.6.0 the message contains a bare LF or CR; lines must end with CRLF"
S550_EMPTY = "550 5.6.0 the message is empty"


async def nothing_stored(store: SqliteStore) -> bool:
    return sum((await store.queue_summary()).values()) == 0


async def start_data(client: RawClient, recipients: tuple[str, ...] = ("someone@example.net",)) -> None:
    assert await client.command("MAIL FROM:<app@example.com>") == S250_SENDER_OK
    for recipient in recipients:
        assert await client.command(f"RCPT TO:<{recipient}>") == S250_RECIPIENT_OK
    assert await client.command("DATA") == S354_DATA


# ---- credentials ----------------------------------------------------------------------------


async def test_wrong_passwords_are_answered_ever_slower_then_the_connection_is_closed(
    client: RawClient, account: NewAccount, settings: Settings
) -> None:
    settings.smtp.submission.auth_failures_before_disconnect = 3
    await client.command("EHLO client.example.com")
    waits = []
    for _ in range(2):
        began = time.monotonic()
        assert await client.command(f"AUTH PLAIN {plain(account.account.smtp_username, 'wrong')}") == S535_AUTH_INVALID
        waits.append(time.monotonic() - began)
    assert waits[0] >= TEST_AUTH_DELAY and waits[1] >= 2 * TEST_AUTH_DELAY
    assert await client.command(f"AUTH PLAIN {plain('nobody', 'wrong')}") == S535_AUTH_INVALID
    assert await client.reply() == S421_TOO_MANY_AUTH_FAILURES
    assert await client.closed()


async def test_auth_login_with_a_wrong_password(client: RawClient, account: NewAccount) -> None:
    await client.command("EHLO client.example.com")
    await client.command(f"AUTH LOGIN {b64(account.account.smtp_username)}")
    assert await client.command(b64("wrong")) == S535_AUTH_INVALID
    assert await client.command("MAIL FROM:<app@example.com>") == S530_AUTH_REQUIRED


async def test_another_authorization_identity_is_refused(client: RawClient, account: NewAccount) -> None:
    await client.command("EHLO client.example.com")
    blob = b64(f"admin\0{account.account.smtp_username}\0{account.smtp_password}")
    assert await client.command(f"AUTH PLAIN {blob}") == S535_AUTH_INVALID


@pytest.mark.parametrize(
    "command, reply",
    [
        ("AUTH PLAIN not-base64!", S501_BAD_BASE64),
        ("AUTH PLAIN =", S501_BAD_PLAIN),  # "=" is an empty initial response (RFC 4954 section 4)
        ("AUTH LOGIN =", "334 " + b64("Password:")),  # an empty username, then the password asked for
        (f"AUTH PLAIN {b64('only-one-part')}", S501_BAD_PLAIN),
        ("AUTH CRAM-MD5", "504 5.5.4 Unrecognized authentication type"),
    ],
)
async def test_malformed_auth(client: RawClient, command: str, reply: str) -> None:
    await client.command("EHLO client.example.com")
    assert await client.command(command) == reply


async def test_an_aborted_auth_is_no_failure(client: RawClient, account: NewAccount) -> None:
    await client.command("EHLO client.example.com")
    assert await client.command("AUTH LOGIN") == "334 " + b64("Username:")
    assert await client.command("*") == "501 5.7.0 Auth aborted"
    assert await client.login(account) == S235_AUTH_SUCCESS


async def test_auth_over_cleartext_when_the_settings_forbid_it(
    client: RawClient, account: NewAccount, settings: Settings
) -> None:
    settings.smtp.submission.auth_over_cleartext = "never"
    reply = await client.command("EHLO client.example.com")
    assert "STARTTLS" in reply and "AUTH" not in reply
    assert (
        await client.command(f"AUTH PLAIN {plain(account.account.smtp_username, account.smtp_password)}")
        == S538_ENCRYPTION_REQUIRED
    )
    assert await client.command("MAIL FROM:<app@example.com>") == S530_AUTH_REQUIRED


async def test_auth_twice(client: RawClient, account: NewAccount) -> None:
    await client.login(account)
    await client.command("MAIL FROM:<app@example.com>")
    assert await client.command("AUTH PLAIN " + plain("x", "y")) == "503 5.5.1 Already authenticated"


# ---- the envelope ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command, reply",
    [
        ("MAIL FROM:<app@localhost>", "553 5.1.3 sender 'app@localhost' has an invalid domain"),
        ("MAIL FROM:<a..b@example.com>", "553 5.1.3 sender 'a..b@example.com' has an invalid local part"),
        ("MAIL FROM:<nodomain>", "553 5.1.3 sender 'nodomain' is not of the form local@domain"),
        ("MAIL FROM:<@>", "553 5.1.3 Error: malformed address"),
        ("MAIL FROM:app@example.com SIZE=big", "501 5.5.4 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"),
        ("MAIL app@example.com", "501 5.5.4 Syntax: MAIL FROM: <address> [SP <mail-parameters>]"),
    ],
)
async def test_bad_senders(client: RawClient, account: NewAccount, command: str, reply: str) -> None:
    await client.login(account)
    assert await client.command(command) == reply


@pytest.mark.parametrize(
    "command, reply",
    [
        ("RCPT TO:<someone@example>", "553 5.1.3 recipient 'someone@example' has an invalid domain"),
        (
            "RCPT TO:<" + "x" * 65 + "@example.net>",
            "553 5.1.3 recipient '" + "x" * 65 + "@example.net' has a local part longer than 64 octets",
        ),
        ("RCPT TO:<someone@exa_mple.net>", "553 5.1.3 recipient 'someone@exa_mple.net' has an invalid domain"),
        ("RCPT TO:<>", "553 5.1.3 recipient '<>' is not of the form local@domain"),
        (
            "RCPT TO:<someone@[192.0.2.1]>",
            "553 5.1.3 recipient 'someone@[192.0.2.1]' is an address literal: returnpath delivers to a domain's "
            "mail servers; write the recipient's domain",
        ),
        ("RCPT TO:<someone@[300.1.1.1]>", "553 5.1.3 recipient 'someone@[300.1.1.1]' has an invalid address literal"),
        ("RCPT TO:someone@example.net NOTIFY=NEVER", "555 5.5.4 RCPT TO parameters not recognized or not implemented"),
    ],
)
async def test_bad_recipients(client: RawClient, account: NewAccount, command: str, reply: str) -> None:
    await client.login(account)
    await client.command("MAIL FROM:<app@example.com>")
    assert await client.command(command) == reply


async def test_too_many_recipients(
    client: RawClient, account: NewAccount, settings: Settings, store: SqliteStore
) -> None:
    settings.smtp.submission.max_recipients = 2
    await client.login(account)
    await start_data(client, ("a@example.net", "b@example.net"))  # the two that fit are accepted
    await client.send(MIME + b".\r\n")
    assert (await client.reply()).startswith("250-2.0.0 <a@example.net>")
    await client.command("MAIL FROM:<app@example.com>")
    for recipient in ("a@example.net", "b@example.net"):
        assert await client.command(f"RCPT TO:<{recipient}>") == S250_RECIPIENT_OK
    assert await client.command("RCPT TO:<c@example.net>") == S452_TOO_MANY_RECIPIENTS


# ---- the size -------------------------------------------------------------------------------


async def test_a_declared_size_over_the_limit_is_refused_at_mail(
    start: Start, settings: Settings, account: NewAccount
) -> None:
    settings.smtp.submission.max_message_size = Size(1000)
    client = await RawClient.connect(await start())
    assert "250-SIZE 1000" in (await client.command("EHLO client.example.com")).split("\n")
    await client.login(account)
    assert await client.command("MAIL FROM:<app@example.com> SIZE=1001") == S552_SIZE_EXCEEDED
    assert await client.command("MAIL FROM:<app@example.com> SIZE=1000") == S250_SENDER_OK
    await client.close()


async def test_data_over_the_limit_is_refused_and_not_stored(
    start: Start, settings: Settings, account: NewAccount, store: SqliteStore
) -> None:
    settings.smtp.submission.max_message_size = Size(1000)
    client = await RawClient.connect(await start())
    await client.login(account)
    await start_data(client)
    await client.send(MIME + (b"x" * 70 + b"\r\n") * 15 + b".\r\n")
    assert await client.reply() == S552_MESSAGE_TOO_BIG
    assert await client.command("NOOP") == S250_OK  # the session goes on
    assert await nothing_stored(store)
    await client.close()


# ---- the data -------------------------------------------------------------------------------


async def test_smtp_smuggling_is_refused_and_the_second_message_never_stored(
    client: RawClient, account: NewAccount, store: SqliteStore
) -> None:
    """The attack of December 2023: a `<LF>.<LF>` that a lax server reads as the end of the
    data, followed by the commands of a second message in the same data."""
    await client.login(account)
    await start_data(client)
    await client.send(
        MIME + b"\n.\n"
        b"MAIL FROM:<ceo@example.com>\r\n"
        b"RCPT TO:<victim@example.org>\r\n"
        b"DATA\r\n"
        b"From: ceo@example.com\r\n\r\nPay the invoice.\r\n"
        b".\r\n"
    )
    assert await client.reply() == S550_BARE_LF
    assert await client.command("NOOP") == S250_OK  # one reply: nothing was read as commands
    assert await nothing_stored(store)


# Every other ending of the smuggling research, on both ports: tests/hostile/test_smuggling.py.


async def test_an_empty_message_is_refused(client: RawClient, account: NewAccount) -> None:
    await client.login(account)
    await start_data(client)
    await client.send(b".\r\n")
    assert await client.reply() == S550_EMPTY


@pytest.mark.parametrize(
    "header, reply",
    [
        (
            b"X-Returnpath-Maxdelivertime: tomorrow",
            "501 5.5.4 maxdelivertime 'tomorrow' is not 'YYYY-MM-DD hh:mm:ss' (UTC)",
        ),
        (
            b"X-Returnpath-Maxdelivertime: 2020-01-01 00:00:00",
            "501 5.5.4 maxdelivertime '2020-01-01 00:00:00' (UTC) is not in the future",
        ),
        (b"X-Returnpath-Trackbounces: maybe", "501 5.5.4 trackbounces must be true or false, not 'maybe'"),
        (
            b"X-Returnpath-Dsn: notify=SOMETIMES",
            "501 5.5.4 dsn.notify takes NEVER alone, or any of SUCCESS, FAILURE, DELAY",
        ),
        (
            b"X-Returnpath-Tag: oops",
            "501 5.5.4 unknown option header X-Returnpath-Tag; known: X-Returnpath-Tags, "
            "X-Returnpath-Trackbounces, X-Returnpath-Envelope, X-Returnpath-Maxdelivertime, "
            "X-Returnpath-Dsn",
        ),
        (
            b"X-Returnpath-Envelope: not an address",
            "553 5.1.3 envelope 'not an address' is not of the form local@domain",
        ),
    ],
)
async def test_bad_option_headers(
    client: RawClient, account: NewAccount, store: SqliteStore, header: bytes, reply: str
) -> None:
    await client.login(account)
    await start_data(client)
    await client.send(header + b"\r\n" + MIME + b".\r\n")
    assert await client.reply() == reply
    assert await nothing_stored(store)


@pytest.mark.parametrize(
    ("header", "reply"),
    [
        (b"Subject: no sender\r\n", "550 5.6.0 the message has no From: field; RFC 5322 section 3.6 requires one"),
        (
            b"From: a@example.com\r\nFrom: b@example.com\r\n",
            "550 5.6.0 the message has 2 From: fields; RFC 5322 section 3.6 allows one",
        ),
        (b"From: root\r\n", "550 5.6.0 the From: field names no address (local-part@domain): 'root'"),
    ],
)
async def test_a_message_without_one_from_naming_an_address_is_refused(
    client: RawClient, account: NewAccount, store: SqliteStore, header: bytes, reply: str
) -> None:
    await client.login(account)
    await start_data(client)
    await client.send(header + b"\r\nbody\r\n.\r\n")
    assert await client.reply() == reply
    assert await nothing_stored(store)


async def test_a_line_over_998_octets_is_refused(client: RawClient, account: NewAccount) -> None:
    await client.login(account)
    await start_data(client)
    await client.send(MIME + b"x" * 1200 + b"\r\n.\r\n")
    assert (await client.reply()).startswith("500 5.5.2 Line too long")


# ---- the connection and the store -----------------------------------------------------------


async def test_a_client_that_disconnects_mid_data_stores_nothing(
    server: Address, account: NewAccount, store: SqliteStore
) -> None:
    client = await RawClient.connect(server)
    await client.login(account)
    await start_data(client)
    await client.send(MIME)  # no final dot
    await client.hang_up()
    assert await nothing_stored(store)


async def test_a_store_outage_is_a_temporary_failure_and_stores_nothing(
    client: RawClient, account: NewAccount, store: SqliteStore
) -> None:
    await client.login(account)
    await start_data(client)
    await store.close()  # the database goes away between DATA and the end of the data
    await client.send(MIME + b".\r\n")
    assert await client.reply() == S451_STORE_FAILED
    await store.open()
    assert await nothing_stored(store)


async def test_an_idle_client_is_disconnected(start: Start, settings: Settings) -> None:
    settings.smtp.submission.command_timeout = Duration(0.3)
    client = await RawClient.connect(await start())
    await client.command("EHLO client.example.com")
    assert (
        await client.reply()
        == f"421 4.4.2 {settings.hostname} Timeout waiting for the command line; closing connection"
    )
    assert await client.closed()
    await client.close()
