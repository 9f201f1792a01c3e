"""Submitting mail over SMTP: the dialogue, what the store holds after the 250, the options."""

from __future__ import annotations

import asyncio
import calendar
import re
import smtplib
import ssl
import time

import aiosmtplib

from returnpath.config import Settings
from returnpath.core import tokens
from returnpath.core.model import DeliveryState, DsnOptions
from returnpath.smtp.replies import (
    S235_AUTH_SUCCESS,
    S250_RECIPIENT_OK,
    S250_SENDER_OK,
    S530_AUTH_REQUIRED,
    S538_ENCRYPTION_REQUIRED,
    S553_NON_ASCII_ADDRESS,
)
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.trace import without_trace

from .conftest import MIME, Address, RawClient, Start, b64, plain

S220_GREETING = "220 relay.example.test ESMTP returnpath"
S250_OK = "250 OK"
S334_USERNAME = "334 " + b64("Username:")
S334_PASSWORD = "334 " + b64("Password:")
S354_DATA = "354 End data with <CR><LF>.<CR><LF>"
QUEUED_ONE = re.compile(r"^250 2\.0\.0 OK queued as (?P<message>\w{26}) delivery (?P<delivery>\w{26})$")
QUEUED_LINE = re.compile(r"^250-2\.0\.0 <(?P<recipient>[^>]+)> delivery (?P<delivery>\w{26})$")
QUEUED_LAST = re.compile(r"^250 2\.0\.0 OK queued as (?P<message>\w{26})$")


def ehlo_keywords(reply: str) -> list[str]:
    return [line[4:] for line in reply.split("\n")[1:]]


async def send(client: RawClient, mail_from: str, recipients: list[str], data: bytes) -> str:
    """A whole transaction after AUTH; returns the reply to the end of data."""
    assert await client.command(f"MAIL FROM:<{mail_from}>") == S250_SENDER_OK
    for recipient in recipients:
        assert await client.command(f"RCPT TO:<{recipient}>") == S250_RECIPIENT_OK
    assert await client.command("DATA") == S354_DATA
    await client.send(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    return await client.reply()


# ---- the dialogue ---------------------------------------------------------------------------


async def test_greeting_and_ehlo_name_the_host_and_advertise_the_extensions(
    client: RawClient, settings: Settings
) -> None:
    assert client.greeting == S220_GREETING
    reply = await client.command("EHLO client.example.com")
    assert reply.split("\n")[0] == "250-relay.example.test"
    assert ehlo_keywords(reply) == [
        f"SIZE {settings.smtp.submission.max_message_size}",
        "8BITMIME",
        "SMTPUTF8",
        "STARTTLS",
        "AUTH LOGIN PLAIN",
        "PIPELINING",
    ]


async def test_without_a_certificate_there_is_no_starttls(start: Start) -> None:
    client = await RawClient.connect(await start())
    assert "STARTTLS" not in ehlo_keywords(await client.command("EHLO client.example.com"))
    await client.close()


async def test_auth_plain_and_login_accept_the_account(client: RawClient, server: Address, account: NewAccount) -> None:
    await client.command("EHLO client.example.com")
    assert (
        await client.command(f"AUTH PLAIN {plain(account.account.smtp_username, account.smtp_password)}")
        == S235_AUTH_SUCCESS
    )
    other = await RawClient.connect(server)
    await other.command("EHLO client.example.com")
    assert await other.command("AUTH LOGIN") == S334_USERNAME
    assert await other.command(b64(account.account.smtp_username)) == S334_PASSWORD
    assert await other.command(b64(account.smtp_password)) == S235_AUTH_SUCCESS
    await other.close()


async def test_auth_plain_with_a_challenge(client: RawClient, account: NewAccount) -> None:
    await client.command("EHLO client.example.com")
    assert await client.command("AUTH PLAIN") == "334 "
    assert await client.command(plain(account.account.smtp_username, account.smtp_password)) == S235_AUTH_SUCCESS


async def test_a_message_is_committed_before_the_250_and_stored_byte_for_byte(
    client: RawClient, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    await client.login(account)
    reply = await send(client, "app@example.com", ["someone@example.net"], MIME)
    match = QUEUED_ONE.match(reply)
    assert match, reply
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert delivery.id == match["delivery"]
    assert (delivery.recipient, delivery.mail_from, delivery.state) == (
        "someone@example.net",
        "app@example.com",
        DeliveryState.QUEUED,
    )
    # The tracking envelope: a signed token for this very delivery, on the bounce domain.
    local, _, domain = delivery.envelope_sender.partition("@")
    assert domain == settings.bounce_domain
    assert tokens.decode(settings.secret_bytes, local) == delivery.id
    assert without_trace(await store.mime(match["message"]) or b"", "ESMTPA") == MIME


async def test_several_recipients_get_one_reply_line_each(
    client: RawClient, account: NewAccount, store: SqliteStore
) -> None:
    recipients = ["a@example.net", "b@example.org", "c@example.com"]
    await client.login(account)
    *lines, last = (await send(client, "app@example.com", recipients, MIME)).split("\n")
    ids = {}
    for line in lines:
        match = QUEUED_LINE.match(line)
        assert match, line
        ids[match["recipient"]] = match["delivery"]
    assert list(ids) == recipients
    message = QUEUED_LAST.match(last)
    assert message, last
    stored = await store.message_deliveries(account.account.id, message["message"])
    assert {d.recipient: d.id for d in stored} == ids


async def test_option_headers_are_read_and_removed(
    client: RawClient, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    deadline = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 86400))
    data = (
        b"X-Returnpath-Tags: newsletter, week 12\r\n"
        b"X-Returnpath-Trackbounces: false\r\n"
        b"X-Returnpath-Envelope: bounces@app.example.com\r\n"
        b"X-Returnpath-Maxdelivertime: " + deadline.encode() + b"\r\n"
        b"X-Returnpath-Dsn: notify=FAILURE,DELAY; ret=HDRS; envid=abc123\r\n" + MIME
    )
    await client.login(account)
    match = QUEUED_ONE.match(await send(client, "app@example.com", ["someone@example.net"], data))
    assert match
    assert without_trace(await store.mime(match["message"]) or b"") == MIME
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert delivery.tags == ("newsletter", "week 12")
    assert delivery.envelope == delivery.envelope_sender == "bounces@app.example.com"
    assert delivery.expires_at == calendar.timegm(time.strptime(deadline, "%Y-%m-%d %H:%M:%S"))
    [job] = await store.claim("test", time.time(), time.time() + 60, 10)
    assert job.dsn == DsnOptions(notify=("FAILURE", "DELAY"), ret="HDRS", envid="abc123")


async def test_mail_from_is_not_an_envelope_of_the_applications_own(
    client: RawClient, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    """Only X-Returnpath-Envelope asks for returned mail to be forwarded; MAIL FROM does not
    (it did once, and everything sent to a tracking address went on to the sender)."""
    await client.login(account)
    match = QUEUED_ONE.match(await send(client, "app@example.com", ["someone@example.net"], MIME))
    assert match
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert delivery.envelope is None
    assert delivery.envelope_sender.endswith("@" + settings.bounce_domain)


async def test_without_tracking_mail_from_is_the_envelope_sender(
    client: RawClient, account: NewAccount, store: SqliteStore
) -> None:
    await client.login(account)
    data = b"X-Returnpath-Trackbounces: no\r\n" + MIME
    match = QUEUED_ONE.match(await send(client, "app@example.com", ["someone@example.net"], data))
    assert match
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert (delivery.envelope, delivery.envelope_sender) == (None, "app@example.com")


async def test_the_null_sender_gives_no_envelope(
    client: RawClient, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    await client.login(account)
    match = QUEUED_ONE.match(await send(client, "", ["someone@example.net"], MIME))
    assert match
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert (delivery.mail_from, delivery.envelope) == ("", None)
    assert delivery.envelope_sender.endswith("@" + settings.bounce_domain)


async def test_commands_may_be_pipelined(client: RawClient, account: NewAccount) -> None:
    await client.login(account)
    await client.send(b"MAIL FROM:<app@example.com>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert [await client.reply() for _ in range(4)] == [S250_SENDER_OK, S250_RECIPIENT_OK, S250_RECIPIENT_OK, S354_DATA]
    await client.send(MIME + b".\r\n")
    assert QUEUED_LAST.match((await client.reply()).split("\n")[-1])


async def test_international_addresses_need_smtputf8(
    client: RawClient, account: NewAccount, store: SqliteStore
) -> None:
    await client.login(account)
    assert await client.command("MAIL FROM:<jörg@exämple.de>") == S553_NON_ASCII_ADDRESS.format("jörg@exämple.de")
    assert await client.command("MAIL FROM:<jörg@exämple.de> SMTPUTF8") == S250_SENDER_OK
    assert await client.command("RCPT TO:<zoë@example.net>") == S250_RECIPIENT_OK
    assert await client.command("DATA") == S354_DATA
    await client.send(MIME + b".\r\n")
    match = QUEUED_ONE.match(await client.reply())
    assert match
    [delivery] = await store.message_deliveries(account.account.id, match["message"])
    assert (delivery.mail_from, delivery.recipient) == ("jörg@exämple.de", "zoë@example.net")


# ---- TLS and real clients -------------------------------------------------------------------


async def test_starttls_with_smtplib(
    server: Address, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    settings.smtp.submission.auth_over_cleartext = "never"

    def submit() -> tuple[bool, str, str | None, dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
            smtp.ehlo("client.example.com")
            offered = smtp.has_extn("auth")
            code, text = smtp.docmd("AUTH", "PLAIN " + plain("x", "y"))
            smtp.starttls(context=ssl._create_unverified_context())
            smtp.ehlo("client.example.com")
            smtp.login(account.account.smtp_username, account.smtp_password)
            version = smtp.sock.version() if isinstance(smtp.sock, ssl.SSLSocket) else None
            return (
                offered,
                f"{code} {text.decode()}",
                version,
                smtp.sendmail("app@example.com", ["someone@example.net"], MIME),
            )

    offered, refusal, version, refused = await asyncio.to_thread(submit)
    assert (offered, refusal) == (False, S538_ENCRYPTION_REQUIRED)
    assert version is not None and version.startswith("TLS")
    assert refused == {}
    assert (await store.queue_summary()).get("queued") == 1


async def test_aiosmtplib_submits_to_several_recipients(
    server: Address, account: NewAccount, store: SqliteStore
) -> None:
    smtp = aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=True, validate_certs=False)
    async with smtp:
        await smtp.login(account.account.smtp_username, account.smtp_password)
        refused, message = await smtp.sendmail("app@example.com", ["a@example.net", "b@example.net"], MIME)
    assert refused == {}
    last = QUEUED_LAST.match("250 " + message.split("\n")[-1])
    assert last, message
    assert len(await store.message_deliveries(account.account.id, last["message"])) == 2


async def test_mail_without_auth_is_refused(client: RawClient) -> None:
    await client.command("EHLO client.example.com")
    assert await client.command("MAIL FROM:<app@example.com>") == S530_AUTH_REQUIRED
    assert await client.command("RCPT TO:<someone@example.net>") == "503 5.5.1 Error: need MAIL command"
    assert await client.command("NOOP") == S250_OK
