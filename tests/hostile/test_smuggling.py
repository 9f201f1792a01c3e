"""SMTP smuggling (the research of December 2023, CVE-2023-51764/51765/51766): every end of
data that some server reads as the end and another does not, on both of our SMTP ports.

Behind each ending come the commands of a second message. We must read none of it as
commands (one reply to the whole data, and the session goes on), refuse the data (a bare LF
or CR, or a NUL, is in it), and store nothing. The last vector is the outbound one: data with
`<CRLF>.<CR><CR><LF>` that we would relay to a server reading `<CRLF>.<CR>` as the end; it is
refused at both doors (SMTP and HTTP), so it never leaves.
"""

from __future__ import annotations

import httpx
import pytest

from returnpath.config import Settings
from returnpath.core.intake import check_data
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from tests.http.conftest import assert_problem
from tests.smtp.conftest import MIME
from tests.smtp.test_inbound import DSN, tracking_address

from .conftest import Address, smtp_from

S250_OK = "250 OK"
S354_DATA = "354 End data with <CR><LF>.<CR><LF>"
S550_BARE_LF = "550 5.6.0 the message contains a bare LF or CR; lines must end with CRLF"
S550_NUL = "550 5.6.0 the message contains a NUL octet, which no line of a message may (RFC 5322 section 3.5)"

SMUGGLED = (
    b"MAIL FROM:<ceo@example.com>\r\n"
    b"RCPT TO:<victim@example.org>\r\n"
    b"DATA\r\n"
    b"From: ceo@example.com\r\n\r\nPay the invoice.\r\n"
)

# The ending after the first message's last line, as each vector writes it.
VECTORS = {
    "LF.LF": (b"\n.\n", S550_BARE_LF),
    "LF.CR": (b"\n.\r", S550_BARE_LF),
    "CR.LF": (b"\r.\n", S550_BARE_LF),
    "CR.CR": (b"\r.\r", S550_BARE_LF),
    "LF.CRLF": (b"\n.\r\n", S550_BARE_LF),
    "CR.CRLF": (b"\r.\r\n", S550_BARE_LF),
    "CRLF NUL.CRLF": (b"\r\n\x00.\r\n", S550_NUL),
    "CRLF.CR CRLF (outbound)": (b"\r\n.\r\r\n", S550_BARE_LF),
}


def smuggling(first: bytes, ending: bytes) -> bytes:
    """The first message (without its last CRLF), the ending, the second message, the real end."""
    return first.removesuffix(b"\r\n") + ending + SMUGGLED + b".\r\n"


async def returns_stored(store: SqliteStore) -> int:
    return len(await store.claim_returns("test", 2e9, 2e9 + 60, 100))


@pytest.mark.parametrize("vector", VECTORS)
async def test_submission(submission: Address, account: NewAccount, store: SqliteStore, vector: str) -> None:
    ending, refusal = VECTORS[vector]
    client = await smtp_from(submission)
    await client.login(account)
    assert await client.command("MAIL FROM:<app@example.com>") == "250 2.1.0 Sender OK"
    assert await client.command("RCPT TO:<someone@example.net>") == "250 2.1.5 Recipient OK"
    assert await client.command("DATA") == S354_DATA
    await client.send(smuggling(MIME, ending))
    assert await client.reply() == refusal
    assert await client.command("NOOP") == S250_OK  # one reply: nothing was read as commands
    assert sum((await store.queue_summary()).values()) == 0
    await client.close()


@pytest.mark.parametrize("vector", VECTORS)
async def test_inbound(inbound: Address, store: SqliteStore, settings: Settings, vector: str) -> None:
    ending, refusal = VECTORS[vector]
    _, address = tracking_address(settings)
    client = await smtp_from(inbound)
    assert (await client.command("EHLO mx.example.net")).startswith("250")
    assert await client.command("MAIL FROM:<>") == "250 2.1.0 Sender OK"
    assert await client.command(f"RCPT TO:<{address}>") == "250 2.1.5 Recipient OK"
    assert await client.command("DATA") == S354_DATA
    await client.send(smuggling(DSN, ending))
    assert await client.reply() == refusal
    assert await client.command("NOOP") == S250_OK
    assert await returns_stored(store) == 0
    await client.close()


@pytest.mark.parametrize("vector", VECTORS)
async def test_http(base_url: str, account: NewAccount, store: SqliteStore, vector: str) -> None:
    """The same data given to the API as `mime`. The API takes LF line ends (JSON text often
    has them) and makes them CRLF, so the LF-only vectors become a line holding a dot, which
    the outbound client dot-stuffs like any other; everything with a CR or NUL out of place
    is refused. Either way only CRLF lines are stored, the only thing we ever relay."""
    ending, refusal = VECTORS[vector]
    mime = smuggling(MIME, ending).removesuffix(b".\r\n")
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {account.api_token}"}) as http:
        response = await http.post("/v1/send", json={"recipients": ["someone@example.net"], "mime": mime.decode()})
    if vector not in ("LF.LF", "LF.CRLF"):  # LF made CRLF, what is left still has a bare CR or a NUL
        problem = assert_problem(response, 400, "invalid-message", "mime")
        assert problem["detail"] == refusal.removeprefix("550 5.6.0 ")
        assert sum((await store.queue_summary()).values()) == 0
        return
    assert response.status_code == 200, response.text
    stored = await store.mime(response.json()["id"])
    assert stored is not None
    check_data(stored)  # CRLF lines only: no bare LF, CR or NUL
    assert stored.endswith(b"\r\n.\r\n" + SMUGGLED)  # the second message is text of the first


async def test_the_real_end_after_a_crlf_still_works_on_both_ports(
    submission: Address, inbound: Address, account: NewAccount, store: SqliteStore, settings: Settings
) -> None:
    """The control: the same dialogue with nothing smuggled is accepted on each port."""
    client = await smtp_from(submission)
    await client.login(account)
    await client.command("MAIL FROM:<app@example.com>")
    await client.command("RCPT TO:<someone@example.net>")
    await client.command("DATA")
    await client.send(MIME + b".\r\n")
    assert (await client.reply()).startswith("250 2.0.0 OK queued as ")
    await client.close()
    _, address = tracking_address(settings)
    client = await smtp_from(inbound)
    await client.command("EHLO mx.example.net")
    await client.command("MAIL FROM:<>")
    await client.command(f"RCPT TO:<{address}>")
    await client.command("DATA")
    await client.send(DSN + b".\r\n")
    assert (await client.reply()).startswith("250 2.0.0 OK received as ")
    await client.close()
    assert await returns_stored(store) == 1
