"""SMTP dialogues no well-behaved client writes, on real servers over loopback: STARTTLS
misused, AUTH answers too long, senders the inbound server cannot keep. Each gets one clear
reply with an enhanced status code (or, for a broken TLS handshake, a closed connection), the
server logs no error for the client's mistake, and it goes on serving: the same connection
where the protocol allows, and other clients always.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import smtplib
import ssl

import pytest

from returnpath.config import Settings
from returnpath.smtp.replies import (
    S235_AUTH_SUCCESS,
    S250_SENDER_OK,
    S500_AUTH_LINE_TOO_LONG,
    S503_TLS_ACTIVE,
)
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.smtp.conftest import MIME
from tests.smtp.test_inbound import DSN

from .conftest import Address, RawClient, Server, smtp_from

S220_READY = "220 Ready to start TLS"


async def return_mail(client: RawClient, sender: str, recipient: str) -> str:
    """Send DSN to the inbound server from `sender` to `recipient`; the id it was received as.
    The client hangs up after."""
    assert await client.command(f"MAIL FROM:{sender}") == S250_SENDER_OK
    assert (await client.command(f"RCPT TO:<{recipient}>")).startswith("250")
    assert (await client.command("DATA")).startswith("354")
    await client.send(DSN + b".\r\n")
    received = await client.reply()
    await client.close()
    assert received.startswith("250 2.0.0 OK received as ")
    return received.rsplit(" ", 1)[1]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the servers logged at ERROR or above (a traceback for a client's mistake is one)."""
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]


async def test_starttls_inside_tls_is_refused_and_the_session_goes_on(
    submission: Address, account: NewAccount, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    def dialogue() -> tuple[int, bytes, dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP(submission.host, submission.port, timeout=10) as smtp:
            smtp.starttls(context=ssl._create_unverified_context())
            smtp.ehlo("client.example.com")
            code, text = smtp.docmd("STARTTLS")  # again, inside TLS
            smtp.login(account.account.smtp_username, account.smtp_password)
            return code, text, smtp.sendmail("app@example.com", ["someone@example.net"], MIME)

    code, text, refused = await asyncio.to_thread(dialogue)
    assert f"{code} {text.decode()}" == S503_TLS_ACTIVE
    assert refused == {} and (await store.queue_summary()).get("queued") == 1
    assert errors(caplog) == []


async def test_plain_text_after_starttls_closes_the_connection_without_a_server_error(
    smtp: Server, caplog: pytest.LogCaptureFixture
) -> None:
    address = await smtp.once()
    client = await smtp_from(address)
    await client.command("EHLO client.example.com")
    assert await client.command("STARTTLS") == S220_READY
    await client.send(b"EHLO this is no TLS handshake\r\n")
    assert await client.closed()
    await client.close()
    assert errors(caplog) == []
    other = await smtp_from(address)  # the server goes on serving
    assert (await other.command("EHLO client.example.com")).startswith("250-")
    await other.close()


@pytest.mark.parametrize("pieces", [1, 4], ids=["at-once", "in-pieces"])
async def test_an_auth_answer_over_the_line_limit_gets_one_reply(
    submission: Address, account: NewAccount, caplog: pytest.LogCaptureFixture, pieces: int
) -> None:
    client = await RawClient.connect(submission)
    await client.command("EHLO client.example.com")
    assert await client.command("AUTH PLAIN") == "334 "
    answer = base64.b64encode(b"\0" + account.account.smtp_username.encode() + b"\0" + b"x" * 6000) + b"\r\n"
    step = -(-len(answer) // pieces)
    for start in range(0, len(answer), step):
        await client.send(answer[start : start + step])
    assert await client.reply() == S500_AUTH_LINE_TOO_LONG
    # The next reply answers the next command: nothing of the long line was read as one.
    assert await client.command("NOOP") == "250 OK"
    await client.close()
    assert errors(caplog) == []


async def test_after_a_too_long_auth_answer_the_client_can_still_log_in(
    submission: Address, account: NewAccount
) -> None:
    client = await RawClient.connect(submission)
    await client.command("EHLO client.example.com")
    assert await client.command("AUTH LOGIN") == "334 " + base64.b64encode(b"Username:").decode()
    assert await client.command("A" * 3000) == S500_AUTH_LINE_TOO_LONG
    assert await client.login(account) == S235_AUTH_SUCCESS
    assert await client.command("MAIL FROM:<app@example.com>") == S250_SENDER_OK
    await client.close()


@pytest.mark.parametrize(
    "sender, reply",
    [
        (b"<jos\xe9@example.net>", "553 5.1.7 the sender address is not valid UTF-8"),  # Latin-1
        (b"<a\x00b@example.net>", "553 5.1.7 the sender address contains control characters"),
        (b"<a\x1bb@example.net>", "553 5.1.7 the sender address contains control characters"),
    ],
    ids=["latin-1", "nul", "escape"],
)
async def test_an_inbound_sender_that_cannot_be_kept_is_refused_at_mail(
    inbound: Address,
    store: SqliteStore,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    sender: bytes,
    reply: str,
) -> None:
    """Before: 250 at MAIL FROM, then 451 4.3.0 at the end of DATA (the store cannot write the
    sender), which the sending server retries for days; the returned mail was never kept."""
    client = await RawClient.connect(inbound)
    await client.command("EHLO mx.example.net")
    await client.send(b"MAIL FROM:" + sender + b"\r\n")
    assert await client.reply() == reply
    # The same connection goes on: the returned mail with the null sender is kept.
    returned = await store.returned(await return_mail(client, "<>", f"postmaster@{settings.bounce_domain}"))
    assert returned is not None and returned.raw == DSN and returned.mailfrom == ""
    assert errors(caplog) == []


async def test_a_valid_utf8_inbound_sender_is_kept_as_sent(
    inbound: Address, store: SqliteStore, settings: Settings
) -> None:
    client = await RawClient.connect(inbound)
    await client.command("EHLO mx.example.net")
    returned = await store.returned(await return_mail(client, "<josé@exämple.net>", f"abuse@{settings.bounce_domain}"))
    assert returned is not None and returned.mailfrom == "josé@exämple.net"


# Refusals aiosmtpd writes itself, first before EHLO and then after it: each now names its
# reason with an enhanced status code, as every refusal of ours does.
BEFORE_EHLO = [
    ("MAIL FROM:<app@example.com>", "503 5.5.1 Error: send HELO first"),
    ("EHLO", "501 5.5.4 Syntax: EHLO hostname"),
    ("FOO bar", '500 5.5.2 Error: command "FOO" not recognized'),
    ("", "500 5.5.2 Error: bad syntax"),
    ("EXPN staff", "502 5.5.1 EXPN not implemented"),
    ("EHLO " + "x" * 600, "500 5.5.2 Command line too long"),
]
AFTER_EHLO = [
    ("RCPT TO:<someone@example.net>", "503 5.5.1 Error: need MAIL command"),
    ("RSET now", "501 5.5.4 Syntax: RSET"),
    ("STARTTLS now", "501 5.5.4 Syntax: STARTTLS"),
    ("MAIL FROM:<> BODY=BINARYMIME", "501 5.5.4 Error: BODY can only be one of 7BIT, 8BITMIME"),
]


async def test_the_refusals_aiosmtpd_writes_carry_enhanced_status_codes(smtp: Server) -> None:
    client = await smtp_from(await smtp.once())
    replies = [(command, await client.command(command)) for command, _ in BEFORE_EHLO]
    assert (await client.command("EHLO client.example.com")).startswith("250-")
    replies += [(command, await client.command(command)) for command, _ in AFTER_EHLO]
    assert await client.command("NOOP") == "250 OK"
    await client.close()
    assert replies == BEFORE_EHLO + AFTER_EHLO


async def test_control_characters_of_a_command_reach_neither_the_reply_nor_the_log(
    smtp: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: aiosmtpd echoed the ESC and CR in its reply, and logged them as they came: an
    ANSI sequence in a command line cleared the screen of whoever read the log."""
    client = await smtp_from(await smtp.once())
    await client.send(b"FOO\x1b[2J\rBAR\r\n")
    assert await client.reply() == '500 5.5.2 Error: command "FOO [2J BAR" not recognized'
    assert await client.command("NOOP") == "250 OK"
    await client.close()
    logged = [record.getMessage() for record in caplog.records if record.name == "mail.log"]
    assert any("unrecognised: FOO\\x1b[2J\\x0dBAR" in line for line in logged), logged
    assert not [line for line in logged if any(c < " " for c in line)]


def envelope(smtp: Server, account: NewAccount, settings: Settings) -> tuple[list[str], bytes, str]:
    """The commands before DATA on `smtp`'s port, the data to send, and how its 250 begins."""
    if smtp.name == "submission":
        credentials = f"\0{account.account.smtp_username}\0{account.smtp_password}"
        login = "AUTH PLAIN " + base64.b64encode(credentials.encode()).decode()
        return [login, "MAIL FROM:<app@example.com>", "RCPT TO:<someone@example.net>"], MIME, "250 2.0.0 OK queued as "
    commands = ["MAIL FROM:<>", f"RCPT TO:<postmaster@{settings.bounce_domain}>"]
    return commands, DSN, "250 2.0.0 OK received as "


async def test_a_session_sent_whole_then_half_closed_is_answered_to_the_end(
    smtp: Server, account: NewAccount, settings: Settings, store: SqliteStore
) -> None:
    """A client that pipelines a whole session and then shuts down its sending side (as
    `printf ... | nc -N` does) still reads. Before: aiosmtpd dropped every command after the EOF,
    the message with them; the client read the replies to EHLO and no more."""
    commands, data, accepted = envelope(smtp, account, settings)
    client = await smtp_from(await smtp.once())
    session = "\r\n".join(["EHLO client.example.com", *commands, "DATA"]).encode() + b"\r\n" + data + b".\r\nQUIT\r\n"
    await client.send(session)
    client.writer.write_eof()
    replies = [await client.reply() for _ in range(len(commands) + 4)]
    assert await client.closed()
    await client.close()
    assert replies[0].startswith("250-") and all(r.startswith(("235 ", "250 ")) for r in replies[1:-3])
    assert replies[-3] == "354 End data with <CR><LF>.<CR><LF>"
    assert replies[-2].startswith(accepted) and replies[-1] == "221 Bye"
    if smtp.name == "submission":
        assert (await store.queue_summary()).get("queued") == 1
    else:
        returned = await store.returned(replies[-2].rsplit(" ", 1)[1])
        assert returned is not None and returned.raw == DSN


async def test_a_half_close_mid_data_stores_nothing_and_closes(
    smtp: Server, account: NewAccount, settings: Settings, store: SqliteStore
) -> None:
    commands, data, _ = envelope(smtp, account, settings)
    client = await smtp_from(await smtp.once())
    await client.command("EHLO client.example.com")
    for command in commands:
        assert (await client.command(command)).startswith(("235 ", "250 "))
    assert (await client.command("DATA")).startswith("354 ")
    await client.send(data[:30])
    client.writer.write_eof()
    assert await client.closed()  # at once, not at the data deadline
    await client.close()
    assert await store.claim_returns("w", 2e9, 2e9 + 60, 10) == []
    assert sum((await store.queue_summary()).values()) == 0


async def test_commands_sent_behind_starttls_in_plain_text_are_dropped(smtp: Server) -> None:
    """What came in plain text after STARTTLS must not be run inside TLS, where it would pass
    for what the client says over the protected channel (CVE-2011-0411, RFC 3207 section 4.2)."""
    client = await smtp_from(await smtp.once())
    await client.command("EHLO client.example.com")
    await client.send(b"STARTTLS\r\nEHLO injected.example.com\r\nMAIL FROM:<injected@example.com>\r\n")
    assert await client.reply() == S220_READY
    await client.writer.start_tls(ssl._create_unverified_context())
    assert await client.command("NOOP") == "250 OK"  # the first reply inside TLS is the NOOP's
    assert await client.command("MAIL FROM:<app@example.com>") == "503 5.5.1 Error: send HELO first"
    await client.close()
