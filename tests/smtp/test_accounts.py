"""What the submission server does with an account's controls: rotated passwords, a disabled
account, sender domains, and failed logins counted over all connections (core/throttle.py).
Each test runs a real server over a real store, SQLite and a private PostgreSQL, and changes the
account as the CLI does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from returnpath.config import Settings
from returnpath.core.ports import Store
from returnpath.smtp.replies import (
    S235_AUTH_SUCCESS,
    S250_RECIPIENT_OK,
    S250_SENDER_OK,
    S454_AUTH_AT_ONCE,
    S454_AUTH_THROTTLED,
    S535_ACCOUNT_DISABLED,
    S535_AUTH_INVALID,
)
from returnpath.store.postgresql import PostgresStore
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import accounts
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import ACCOUNT_FRESH

from .conftest import MIME, Address, RawClient, plain

S354_DATA = "354 End data with <CR><LF>.<CR><LF>"
NOT_ALLOWED = "550 5.7.1 sender <{}> is not allowed for account 'app': it may send from example.com, *.example.org"

Connect = Callable[..., Awaitable[RawClient]]


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(settings: Settings, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The relay's store (tests/conftest.py's, on each backend): the counts of failed logins
    are the store's, and PostgreSQL reads them with the account in one statement."""
    s: Store = (
        SqliteStore(settings.sqlite_path)
        if request.param == "sqlite"
        else PostgresStore(request.getfixturevalue("pg_url"))
    )
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def connect(server: Address) -> AsyncIterator[Connect]:
    """`await connect("127.0.0.2")`: a connection from that loopback address (all of
    127.0.0.0/8 is this host), closed after the test."""
    opened: list[RawClient] = []

    async def open_from(source: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.open_connection(server.host, server.port, local_addr=(source, 0))
        client = RawClient(reader, writer)
        client.greeting = await client.reply()
        opened.append(client)
        await client.command("EHLO client.example.com")
        return client

    yield open_from
    for client in opened:
        await client.close()


async def auth(client: RawClient, username: str, password: str) -> str:
    return await client.command(f"AUTH PLAIN {plain(username, password)}")


# ---- credentials and disabling ---------------------------------------------------------------


async def test_a_rotated_password_stops_working_at_once(connect: Connect, account: NewAccount, store: Store) -> None:
    # A login first, so that the server has verified (and remembered) the old password.
    assert await auth(await connect(), "app", account.smtp_password) == S235_AUTH_SUCCESS
    rotated = await accounts.rotate_credentials(store, "app", token=False, password=True)
    assert set(rotated) == {"account", "name", "smtp_username", "smtp_password"}

    assert await auth(await connect(), "app", account.smtp_password) == S535_AUTH_INVALID
    assert await auth(await connect(), "app", rotated["smtp_password"]) == S235_AUTH_SUCCESS


async def test_a_disabled_account_cannot_log_in_nor_go_on_in_an_open_session(
    connect: Connect, account: NewAccount, store: Store
) -> None:
    session = await connect()
    assert await auth(session, "app", account.smtp_password) == S235_AUTH_SUCCESS
    await accounts.set_disabled(store, "app", True)

    assert await auth(await connect(), "app", account.smtp_password) == S535_ACCOUNT_DISABLED
    disabled = "550 5.7.1 the account 'app' is disabled"
    assert await soon(session, "MAIL FROM:<app@example.com>", disabled) == disabled
    # A wrong password is still only a wrong password: the account's state is not told.
    assert await auth(await connect(), "app", "wrong") == S535_AUTH_INVALID

    await accounts.set_disabled(store, "app", False)
    assert await soon(session, "MAIL FROM:<app@example.com>", S250_SENDER_OK) == S250_SENDER_OK


async def soon(client: RawClient, command: str, expected: str) -> str:
    """The reply to `command` once an open session sees a change to its account (within
    service.ACCOUNT_FRESH: the account is not read again for every message), or the last reply
    when that has not come in a few seconds more."""
    deadline = time.monotonic() + ACCOUNT_FRESH + 5
    while (reply := await client.command(command)) != expected and time.monotonic() < deadline:
        await client.command("RSET")
        await asyncio.sleep(0.05)
    return reply


# ---- sender domains --------------------------------------------------------------------------


async def test_mail_from_outside_the_sender_domains_is_refused_with_550_5_7_1(
    connect: Connect, account: NewAccount, store: Store
) -> None:
    await accounts.set_sender_domains(store, "app", ["example.com,*.example.org"])
    client = await connect()
    assert await auth(client, "app", account.smtp_password) == S235_AUTH_SUCCESS
    for refused in ("app@example.net", "app@mail.example.com", "app@example.org"):
        assert await client.command(f"MAIL FROM:<{refused}>") == NOT_ALLOWED.format(refused)
    assert await client.command("MAIL FROM:<>") == NOT_ALLOWED.format("").replace(
        "sender <>", "sender the null sender <>"
    )
    for allowed in ("app@example.com", "app@EXAMPLE.COM", "app@mail.example.org"):
        assert await client.command(f"MAIL FROM:<{allowed}>") == S250_SENDER_OK
        assert await client.command("RSET") == "250 OK"

    # An envelope of its own, given in a header, is held to the same domains.
    assert await client.command("MAIL FROM:<app@example.com>") == S250_SENDER_OK
    assert await client.command("RCPT TO:<someone@example.net>") == S250_RECIPIENT_OK
    assert await client.command("DATA") == S354_DATA
    await client.send(b"X-Returnpath-Envelope: bounces@example.net\r\n" + MIME.replace(b"\r\n.", b"\r\n..") + b".\r\n")
    assert await client.reply() == NOT_ALLOWED.format("bounces@example.net")
    assert set((await store.queue_summary()).values()) == {0}

    # Domains changed while a connection is open apply to its next message.
    await accounts.set_sender_domains(store, "app", [])
    assert await soon(client, "MAIL FROM:<app@example.net>", S250_SENDER_OK) == S250_SENDER_OK


# ---- failed logins over all connections --------------------------------------------------------


async def test_the_address_limit_holds_across_connections_and_a_success_does_not_reset_it(
    connect: Connect, account: NewAccount, settings: Settings, store: Store
) -> None:
    await accounts.create_account(store, "other", 0.0)
    settings.smtp.submission.auth_failures_per_address = 3
    assert await auth(await connect(), "other", "guess-1") == S535_AUTH_INVALID
    assert await auth(await connect(), "other", "guess-2") == S535_AUTH_INVALID
    assert await auth(await connect(), "app", account.smtp_password) == S235_AUTH_SUCCESS
    assert await auth(await connect(), "app", "typo") == S535_AUTH_INVALID  # the third failure
    # Held now, every username, the right password too: it is not even checked.
    assert await auth(await connect(), "app", account.smtp_password) == S454_AUTH_THROTTLED
    assert await auth(await connect(), "other", "guess-3") == S454_AUTH_THROTTLED
    # Another address is not.
    assert await auth(await connect("127.0.0.2"), "app", account.smtp_password) == S235_AUTH_SUCCESS


async def test_the_username_limit_holds_new_addresses_but_not_known_ones(
    connect: Connect, account: NewAccount, settings: Settings
) -> None:
    settings.smtp.submission.auth_failures_per_address = 0  # only the username's count here
    settings.smtp.submission.auth_failures_per_username = 3
    assert await auth(await connect("127.0.0.3"), "app", account.smtp_password) == S235_AUTH_SUCCESS
    for n in (4, 5, 6):
        assert await auth(await connect(f"127.0.0.{n}"), "app", f"guess-{n}") == S535_AUTH_INVALID
    assert await auth(await connect("127.0.0.7"), "app", account.smtp_password) == S454_AUTH_THROTTLED
    assert await auth(await connect("127.0.0.3"), "app", account.smtp_password) == S235_AUTH_SUCCESS


async def login_once(server: Address, source: str, username: str, password: str) -> str:
    """A connection of its own from `source`: EHLO, AUTH PLAIN, the reply; closed."""
    reader, writer = await asyncio.open_connection(server.host, server.port, local_addr=(source, 0))
    client = RawClient(reader, writer)
    try:
        client.greeting = await client.reply()
        await client.command("EHLO pool.example.com")
        return await auth(client, username, password)
    finally:
        await client.close()


@pytest.mark.parametrize("parallel", [50, 100])
async def test_a_pool_logging_in_at_once_from_a_new_address_and_again_once_known_is_not_refused(
    server: Address, account: NewAccount, settings: Settings, parallel: int
) -> None:
    # The defaults: 10 failures per address, 100 connections per address.
    assert settings.smtp.submission.auth_failures_per_address < parallel
    assert settings.smtp.submission.max_connections_per_address >= parallel
    for source in ("127.0.0.20", "127.0.0.20"):  # never logged in before; then known
        logins = [login_once(server, source, "app", account.smtp_password) for _ in range(parallel)]
        assert await asyncio.gather(*logins) == [S235_AUTH_SUCCESS] * parallel


async def test_a_known_address_may_log_in_as_many_usernames_at_once_a_new_one_as_many_as_its_limit(
    server: Address, settings: Settings, store: Store
) -> None:
    settings.smtp.submission.auth_failures_per_address = 3
    pool = [await accounts.create_account(store, f"app-{n}", 0.0) for n in range(12)]
    for each in pool:  # one login each first: the address is known for every username
        assert await login_once(server, "127.0.0.21", each.account.name, each.smtp_password) == S235_AUTH_SUCCESS
    logins = [login_once(server, "127.0.0.21", each.account.name, each.smtp_password) for each in pool]
    assert await asyncio.gather(*logins) == [S235_AUTH_SUCCESS] * len(pool)


async def test_a_refusal_for_checks_in_flight_does_not_claim_failures(
    connect: Connect, account: NewAccount, settings: Settings, store: Store
) -> None:
    settings.smtp.submission.auth_failures_per_address = 3
    limits = settings.smtp.submission.auth_limits()
    # Three checks reserved from 127.0.0.22 and not finished (say, by a worker that died).
    for _ in range(3):
        assert await store.reserve_auth("127.0.0.22", "other", time.time(), limits) is None
    assert await auth(await connect("127.0.0.22"), "app", account.smtp_password) == S454_AUTH_AT_ONCE
    assert await auth(await connect("127.0.0.23"), "app", account.smtp_password) == S235_AUTH_SUCCESS
