"""What the API does with an account's controls: a rotated token, a disabled account, sender
domains (the envelope sender: `envelope`, or the From address of `mime` or `from`)."""

from __future__ import annotations

import httpx
import pytest

from returnpath.store.sqlite import SqliteStore
from returnpath.usecases import accounts
from returnpath.usecases.accounts import NewAccount

from .conftest import MESSAGE, assert_problem

SEND = {"recipient": "x@example.net", "mime": MESSAGE}  # From: app@example.com


async def test_a_rotated_token_stops_working_at_once(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, store: SqliteStore
) -> None:
    assert (await client.get("/v1/events")).status_code == 200
    rotated = await accounts.rotate_credentials(store, "app", token=True, password=False)
    assert set(rotated) == {"account", "name", "api_token"}
    assert_problem(await client.get("/v1/events"), 401, "unauthorized")
    fresh = {"Authorization": f"Bearer {rotated['api_token']}"}
    assert (await anonymous.get("/v1/events", headers=fresh)).status_code == 200


async def test_a_disabled_account_is_403_and_sends_nothing(client: httpx.AsyncClient, store: SqliteStore) -> None:
    await accounts.set_disabled(store, "app", True)
    doc = assert_problem(await client.post("/v1/send", json=SEND), 403, "account-disabled")
    assert doc["detail"] == "the account 'app' is disabled"
    assert_problem(await client.get("/v1/events"), 403, "account-disabled")
    assert (await store.queue_summary())["queued"] == 0
    await accounts.set_disabled(store, "app", False)
    assert (await client.post("/v1/send", json=SEND)).status_code == 200


@pytest.mark.parametrize(
    ("payload", "field", "sender"),
    [
        (SEND, "mime", "app@example.com"),
        ({**SEND, "envelope": "bounces@example.net"}, "envelope", "bounces@example.net"),
        (
            {"recipient": "x@example.net", "from": "App <app@elsewhere.test>", "subject": "hi", "text": "hello"},
            "from",
            "app@elsewhere.test",
        ),
    ],
    ids=["mime From", "envelope", "from field"],
)
async def test_a_sender_outside_the_domains_is_403_naming_the_field(
    client: httpx.AsyncClient, store: SqliteStore, payload: dict[str, object], field: str, sender: str
) -> None:
    await accounts.set_sender_domains(store, "app", ["example.org"])
    doc = assert_problem(await client.post("/v1/send", json=payload), 403, "sender-not-allowed", field)
    assert doc["detail"] == f"sender <{sender}> is not allowed for account 'app': it may send from example.org"
    assert (await store.queue_summary())["queued"] == 0


async def test_a_sender_inside_the_domains_is_sent(
    client: httpx.AsyncClient, account: NewAccount, store: SqliteStore
) -> None:
    await accounts.set_sender_domains(store, "app", ["*.example.net", "example.com"])
    assert (await client.post("/v1/send", json=SEND)).status_code == 200
    own_envelope = {**SEND, "envelope": "bounces@mail.example.net"}
    assert (await client.post("/v1/send", json=own_envelope)).status_code == 200
