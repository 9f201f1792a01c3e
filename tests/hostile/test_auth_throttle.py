"""Password guessing with many parallel connections against a real `serve` of two worker
processes: the failed logins are counted per client address and per username in the store, so
the limits hold whichever worker a connection lands on, and past them no guess is checked.

Loopback has a whole /8, so connections "from other addresses" come from 127.0.0.2, .3, ...
"""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from returnpath import config
from tests.e2e.conftest import ServerFactory, make_server  # noqa: F401 - the fixture, for getfixturevalue
from tests.e2e.harness import Server
from tests.smtp.conftest import RawClient, plain

PER_ADDRESS = 5
PER_USERNAME = 8
PARALLEL = 50

S235 = "235 2.7.0 Authentication successful"
S535 = "535 5.7.8 Authentication credentials invalid"
S454 = "454 4.7.0 Too many failed authentication attempts; try again later"
# Refused while other guesses were still being checked: held all the same, but none had failed.
S454_AT_ONCE = "454 4.7.0 Too many authentication attempts at once; try again later"


def store_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """The `--store` of `init` for the backend: SQLite's default, or a fresh PostgreSQL database
    (asked for before make_server, so that it is dropped only after the server has stopped)."""
    return str(request.getfixturevalue("pg_url")) if backend == "postgresql" else None


def checked_and_held(replies: list[str]) -> tuple[int, int]:
    """How many guesses were checked (535) and how many refused unchecked (either 454)."""
    assert set(replies) <= {S535, S454, S454_AT_ONCE}, set(replies)
    return replies.count(S535), len(replies) - replies.count(S535)


async def login(server: Server, source: str, username: str, password: str) -> str:
    """One connection from `source`: EHLO, AUTH PLAIN; the reply to the AUTH."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.submission_port, local_addr=(source, 0))
    client = RawClient(reader, writer)
    try:
        client.greeting = await client.reply()
        await client.command("EHLO hostile.example")
        return await client.command(f"AUTH PLAIN {plain(username, password)}")
    finally:
        await client.close()


async def guesses(server: Server, source: str, username: str) -> list[str]:
    """PARALLEL wrong passwords for `username` at once, each on its own connection."""
    return await asyncio.gather(*(login(server, source, username, f"guess-{n}") for n in range(PARALLEL)))


def failed_auth_lines_per_worker(server: Server) -> dict[str, int]:
    found: dict[str, int] = {}
    for worker in re.findall(r" (w\d+) INFO returnpath\.smtp\.submission: failed AUTH", server.stderr()):
        found[worker] = found.get(worker, 0) + 1
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_parallel_guesses_stop_at_the_limits_over_all_connections_and_workers(
    request: pytest.FixtureRequest, backend: str
) -> None:
    store = store_url(request, backend)
    start: ServerFactory = request.getfixturevalue("make_server")
    server = start(
        store=store,
        workers=2,
        smtp__submission__auth_failures_per_address=PER_ADDRESS,
        smtp__submission__auth_failures_per_username=PER_USERNAME,
        smtp__submission__auth_failure_window=config.Duration(3600),
    )
    user, password = server.credentials["smtp_username"], server.credentials["smtp_password"]
    other = json.loads(server.cli("accounts", "add", "billing").stdout)
    # The application's own server has logged in before the attack.
    assert await login(server, "127.0.0.3", user, password) == S235

    # Fifty guesses at once from one address: only PER_ADDRESS of them are checked.
    replies = await guesses(server, "127.0.0.1", user)
    assert checked_and_held(replies) == (PER_ADDRESS, PARALLEL - PER_ADDRESS)
    # Fifty more from a second address: the username's limit lets only the rest of its count by.
    replies = await guesses(server, "127.0.0.2", user)
    checked = PER_USERNAME - PER_ADDRESS
    assert checked_and_held(replies) == (checked, PARALLEL - checked)
    print("failed AUTH replies per worker:", failed_auth_lines_per_worker(server))

    # The attacker's address is held for every username, the right password too: not checked.
    assert await login(server, "127.0.0.1", user, password) == S454
    assert await login(server, "127.0.0.1", "billing", other["smtp_password"]) == S454
    # A new address is held for the attacked username only ...
    assert await login(server, "127.0.0.4", user, password) == S454
    assert await login(server, "127.0.0.4", "billing", other["smtp_password"]) == S235
    # ... and an address that logged in as it before is not held at all.
    assert await login(server, "127.0.0.3", user, password) == S235


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_pool_logging_in_at_once_is_not_refused_whichever_worker_it_lands_on(
    request: pytest.FixtureRequest, backend: str
) -> None:
    """An application's connection pool starting up: a hundred connections at once, the same
    right credentials on each, from a server that never logged in before and then from it again
    (known by then), with the default limits (10 failures per address)."""
    store = store_url(request, backend)
    start: ServerFactory = request.getfixturevalue("make_server")
    server = start(store=store, workers=2)
    user, password = server.credentials["smtp_username"], server.credentials["smtp_password"]
    for _ in ("new", "known"):
        replies = await asyncio.gather(*(login(server, "127.0.0.5", user, password) for _ in range(100)))
        assert replies == [S235] * 100
