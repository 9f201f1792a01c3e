"""Accounts in the store after creation: credentials replaced, disabled, sender domains, removal
with what it owns; and the failed-login counts the SMTP throttle keeps (core/throttle.py).
Part of the conformance suite: runs against each backend in conftest.BACKENDS."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from returnpath.core import ids
from returnpath.core.events import EventKind
from returnpath.core.feedback import Format, Loop
from returnpath.core.model import Account, Attempt, Verdict
from returnpath.core.ports import Store
from returnpath.core.retry import RetryPolicy, settle
from returnpath.core.throttle import KNOWN_FOR, MAX_USERNAME, AuthLimits
from returnpath.errors import InputError

from .conftest import MakeStore, count_rows
from .test_store import NOW, _account, _outcome, _submit

LIMITS = AuthLimits(per_address=3, per_username=5, window=600)


# ---- accounts --------------------------------------------------------------------------------


async def test_a_new_account_is_enabled_and_may_use_any_sender(backend: Store) -> None:
    account = await _account(backend)
    assert (account.disabled, account.sender_domains) == (False, ())
    assert await backend.account(account.id) == account
    assert await backend.account("nope") is None


async def test_new_credentials_replace_the_old_at_once(backend: Store) -> None:
    account = await _account(backend)
    assert await backend.update_account(account.id, api_token_hash="token-2", smtp_password_hash="hash-2") == account
    assert await backend.account_by_token("token-app") is None
    assert await backend.account_by_token("token-2") == account
    assert await backend.account_by_username("app") == (account, "hash-2")
    # One alone leaves the other as it is.
    await backend.update_account(account.id, smtp_password_hash="hash-3")
    assert await backend.account_by_token("token-2") == account


async def test_disabled_and_sender_domains_are_kept_and_read_everywhere(backend: Store) -> None:
    account = await _account(backend)
    changed = await backend.update_account(account.id, disabled=True, sender_domains=["example.com", "*.example.org"])
    expected = Account(account.id, "app", "app", True, ("example.com", "*.example.org"))
    assert changed == expected
    assert await backend.account(account.id) == expected
    assert await backend.account_by_token("token-app") == expected
    assert await backend.account_by_username("app") == (expected, "hash")
    assert await backend.accounts() == [expected]
    # Each change leaves the rest alone; an empty list is "any sender" again.
    assert await backend.update_account(account.id, disabled=False) == Account(
        account.id, "app", "app", False, ("example.com", "*.example.org")
    )
    assert await backend.update_account(account.id, sender_domains=[]) == account
    assert await backend.update_account("nope", disabled=True) is None


async def test_remove_refuses_while_deliveries_are_pending_unless_forced(backend: Store) -> None:
    account = await _account(backend)
    other = await _account(backend, "other")
    _, [delivery] = await _submit(backend, account, ["x@example.net"])
    _, [kept] = await _submit(backend, other, ["y@example.net"])
    with pytest.raises(InputError, match=r"account 'app' has 1 queued or deferred deliveries"):
        await backend.remove_account(account.id)
    assert await backend.account(account.id) == account
    assert await backend.delivery(account.id, delivery.id) is not None

    assert await backend.remove_account(account.id, force=True) == 1
    assert await backend.account(account.id) is None
    assert await backend.account_by_token("token-app") is None
    assert await backend.delivery(account.id, delivery.id) is None
    assert await backend.claim("w1", NOW, NOW + 60, 10) != []  # the other account's
    assert await backend.delivery(other.id, kept.id) is not None
    assert await backend.remove_account(account.id) is None
    # Its name may be used again.
    await backend.create_account(Account(ids.new_id(NOW), "app", "app"), "token-new", "hash", NOW)


async def test_remove_takes_messages_attempts_events_and_loops_with_it(backend: Store) -> None:
    account = await _account(backend)
    other = await _account(backend, "other")
    loop = Loop(
        ids.new_id(NOW), account.id, "https://hooks.example.com/", frozenset(EventKind), "whsec_eA==", Format.FORM
    )
    await backend.create_loop(loop, NOW)
    await _submit(backend, account, ["x@example.net"])
    await _submit(backend, other, ["y@example.net"])
    for job in await backend.claim("w1", NOW, NOW + 60, 10):
        outcome = _outcome(Verdict.ACCEPTED, 250)
        attempt = Attempt(1, NOW + 1, outcome.remote, outcome.step, 250, outcome.status, outcome.text, outcome.verdict)
        await backend.settle(job, attempt, settle(job, outcome, NOW + 1, RetryPolicy()))
    assert await backend.remove_account(account.id) == 1  # nothing pending: no force needed

    # What is left is the other account's.
    tables = ("messages", "deliveries", "attempts", "events", "loops", "posts")
    assert await count_rows(backend, tables) == {
        "messages": 1,
        "deliveries": 1,
        "attempts": 1,
        "events": 1,
        "loops": 0,
        "posts": 0,
    }
    assert [stored.event.account_id for stored in await backend.events()] == [other.id]


# ---- failed logins ---------------------------------------------------------------------------


async def fail(backend: Store, address: str, username: str, now: float = NOW) -> None:
    """One attempt reserved and checked, and wrong."""
    assert await backend.reserve_auth(address, username, now, LIMITS) is None
    await backend.fail_auth(address, username, now, LIMITS)


async def refusal(backend: Store, address: str, username: str, now: float, limits: AuthLimits) -> str | None:
    """The refusal by failures that a login from `address` as `username` is given first."""
    refused, _ = await backend.auth_lookup(address, username, username, now, limits)
    return refused


async def test_a_login_reads_its_refusal_and_its_account_at_once(backend: Store) -> None:
    account = await _account(backend)
    assert await backend.auth_lookup("192.0.2.1", "app", "app", NOW, LIMITS) == (None, (account, "hash"))
    assert await backend.auth_lookup("192.0.2.1", "nobody", "nobody", NOW, LIMITS) == (None, None)
    # The username as counted and the account's are given apart: a long one is counted under
    # its first throttle.MAX_USERNAME characters, and looked up whole.
    long = await _account(backend, "long" * 100)
    counted = long.smtp_username[:MAX_USERNAME]
    assert await backend.auth_lookup("192.0.2.9", counted, long.smtp_username, NOW, LIMITS) == (None, (long, "hash"))
    assert await backend.auth_lookup("192.0.2.9", counted, counted, NOW, LIMITS) == (None, None)
    for _ in range(LIMITS.per_address):
        await fail(backend, "192.0.2.1", "app")
    # Refused by the address's failures, whether or not the username is an account's.
    assert await backend.auth_lookup("192.0.2.1", "app", "app", NOW, LIMITS) == ("address", (account, "hash"))
    assert await backend.auth_lookup("192.0.2.1", "nobody", "nobody", NOW, LIMITS) == ("address", None)
    # The account as it is now: a new password's hash, disabled.
    await backend.update_account(account.id, smtp_password_hash="hash-2", disabled=True)
    refused, found = await backend.auth_lookup("192.0.2.2", "app", "app", NOW, LIMITS)
    assert (refused, found) == (None, (replace(account, disabled=True), "hash-2"))


async def test_failed_attempts_count_until_the_limit_and_then_are_refused(backend: Store) -> None:
    for _ in range(LIMITS.per_address):
        await fail(backend, "192.0.2.1", "app")
    assert await refusal(backend, "192.0.2.1", "app", NOW, LIMITS) == "address"
    assert await backend.reserve_auth("192.0.2.1", "app", NOW, LIMITS) == "address"
    assert await backend.reserve_auth("192.0.2.1", "other", NOW, LIMITS) == "address"  # any username
    # Another address may go on, for the same username, up to the username's limit.
    assert await refusal(backend, "192.0.2.2", "app", NOW, LIMITS) is None
    for _ in range(LIMITS.per_username - LIMITS.per_address):
        await fail(backend, "192.0.2.2", "app")
    assert await backend.reserve_auth("192.0.2.3", "app", NOW, LIMITS) == "username"
    # The refused attempts were not counted: "other" has none.
    assert await refusal(backend, "192.0.2.9", "other", NOW, LIMITS) is None


async def test_attempts_in_flight_count_with_the_failures_and_are_refused_as_at_once(backend: Store) -> None:
    await fail(backend, "192.0.2.1", "app")
    for _ in range(LIMITS.per_address - 1):
        assert await backend.reserve_auth("192.0.2.1", "app", NOW, LIMITS) is None
    # Failures and checks in flight make the limit: no more checks now, and not for failures.
    assert await backend.reserve_auth("192.0.2.1", "other", NOW, LIMITS) == "at once"
    assert await refusal(backend, "192.0.2.1", "app", NOW, LIMITS) is None  # by failures: not held
    # One in flight turns out right: its place is free again, and it was no failure.
    await backend.release_auth("192.0.2.1", "app", NOW)
    assert await backend.reserve_auth("192.0.2.1", "third", NOW, LIMITS) is None
    assert await backend.reserve_auth("192.0.2.1", "third", NOW, LIMITS) == "at once"
    # Those in flight that fail become failures: then the address is held for its failures.
    for _ in range(LIMITS.per_address - 1):
        await backend.fail_auth("192.0.2.1", "app", NOW, LIMITS)
    assert await backend.reserve_auth("192.0.2.1", "app", NOW, LIMITS) == "address"


async def test_an_address_known_for_the_username_may_check_many_at_once(backend: Store) -> None:
    limits = AuthLimits(LIMITS.per_address, LIMITS.per_username, LIMITS.window, at_once=20)
    assert await backend.reserve_auth("192.0.2.7", "app", NOW, limits) is None
    await backend.release_auth("192.0.2.7", "app", NOW)
    for _ in range(limits.at_once):
        assert await backend.reserve_auth("192.0.2.7", "app", NOW, limits) is None
    assert await backend.reserve_auth("192.0.2.7", "app", NOW, limits) == "at once"
    # Not for another username, which it has not logged in as: there the limits hold as ever.
    assert await backend.reserve_auth("192.0.2.7", "other", NOW, limits) == "at once"
    # Its failures still stop it at the limit.
    for _ in range(limits.per_address):
        await backend.fail_auth("192.0.2.7", "app", NOW, limits)
    assert await backend.reserve_auth("192.0.2.7", "app", NOW, limits) == "address"


async def test_counts_end_with_the_window_that_began_with_the_first_failure(backend: Store) -> None:
    for _ in range(LIMITS.per_address):
        await fail(backend, "192.0.2.1", "app")
    assert await refusal(backend, "192.0.2.1", "app", NOW + LIMITS.window - 1, LIMITS) == "address"
    assert await refusal(backend, "192.0.2.1", "app", NOW + LIMITS.window, LIMITS) is None
    assert await backend.reserve_auth("192.0.2.1", "app", NOW + LIMITS.window, LIMITS) is None
    # A reservation never given back (its process died) also ends with its window.
    for _ in range(LIMITS.per_address - 1):
        assert await backend.reserve_auth("192.0.2.2", "app", NOW, LIMITS) is None
    assert await backend.reserve_auth("192.0.2.2", "app", NOW, LIMITS) is None
    assert await backend.reserve_auth("192.0.2.2", "app", NOW, LIMITS) == "at once"
    assert await backend.reserve_auth("192.0.2.2", "app", NOW + LIMITS.window, LIMITS) is None


async def test_a_success_uncounts_only_its_own_attempt_and_makes_the_address_known(backend: Store) -> None:
    for _ in range(LIMITS.per_address - 1):
        await fail(backend, "192.0.2.1", "other")
    await backend.reserve_auth("192.0.2.1", "app", NOW, LIMITS)
    await backend.release_auth("192.0.2.1", "app", NOW)
    # The failures as "other" still count: one more and the address is held.
    await fail(backend, "192.0.2.1", "app")
    assert await refusal(backend, "192.0.2.1", "app", NOW, LIMITS) == "address"

    # An address that logged in as "app" before is not held by the username's count.
    await backend.reserve_auth("192.0.2.7", "app", NOW - 10, LIMITS)
    await backend.release_auth("192.0.2.7", "app", NOW - 10)
    for n in range(LIMITS.per_username - 1):  # with the one from 192.0.2.1 above
        await fail(backend, f"198.51.100.{n}", "app")
    assert await refusal(backend, "203.0.113.1", "app", NOW, LIMITS) == "username"
    assert await refusal(backend, "192.0.2.7", "app", NOW, LIMITS) is None
    assert await refusal(backend, "192.0.2.7", "other", NOW, LIMITS) is None
    # ... for KNOWN_FOR after that login.
    long_window = AuthLimits(LIMITS.per_address, LIMITS.per_username, 2 * KNOWN_FOR)
    assert await refusal(backend, "192.0.2.7", "app", NOW - 11 + KNOWN_FOR, long_window) is None
    assert await refusal(backend, "192.0.2.7", "app", NOW - 10 + KNOWN_FOR, long_window) == "username"


async def test_logins_reserved_at_once_on_two_nodes_keep_the_limits_and_all_get_an_answer(
    make_store: MakeStore,
) -> None:
    """Two nodes (two stores on the same data) reserving password checks for crossing pairs of
    address and username at once: each reservation locks its address and its username, and a
    group commit holds several reservations' locks in one transaction, so two nodes' groups
    can wait for each other (PostgreSQL breaks the deadlock, and the writer runs each write of
    the broken group again alone). Every reservation still gets an answer, none an error,
    and no address or username gets more checks in flight than its limit."""
    nodes = [make_store(), make_store()]
    for node in nodes:
        await node.open()
    try:
        addresses = [f"192.0.2.{n}" for n in range(1, 7)]
        usernames = [f"user{n}" for n in range(6)]
        pairs = [(address, username) for address in addresses for username in usernames]
        asked = [(nodes[0], pair) for pair in pairs] + [(nodes[1], pair) for pair in reversed(pairs)]
        answers = await asyncio.gather(*(node.reserve_auth(*pair, NOW, LIMITS) for node, pair in asked))
    finally:
        for node in nodes:
            await node.close()
    assert set(answers) <= {None, "address", "username", "at once"}, answers
    granted = [pair for (_, pair), answer in zip(asked, answers, strict=True) if answer is None]
    assert granted  # the first reservation of each address at least
    for address in addresses:
        assert sum(1 for a, _ in granted if a == address) <= LIMITS.per_address, granted
    for username in usernames:
        assert sum(1 for _, u in granted if u == username) <= LIMITS.per_username, granted
