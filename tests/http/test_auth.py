"""Who may call: a valid token, for its own account's things only."""

from __future__ import annotations

import time

import httpx
import pytest

from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount, create_account

from .conftest import MESSAGE, assert_problem

SEND = {"recipient": "x@example.net", "mime": MESSAGE}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer rp_not-a-real-token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["missing", "wrong token", "wrong scheme", "empty"],
)
async def test_without_a_valid_token_is_401(
    anonymous: httpx.AsyncClient, store: SqliteStore, headers: dict[str, str]
) -> None:
    for response in (
        await anonymous.post("/v1/send", json=SEND, headers=headers),
        await anonymous.get("/v1/events", headers=headers),
        await anonymous.get("/v1/deliveries/" + "0" * 26, headers=headers),
    ):
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await store.queue_summary())["queued"] == 0


async def test_a_refused_token_says_invalid_token(anonymous: httpx.AsyncClient) -> None:
    response = await anonymous.get("/v1/events", headers={"Authorization": "Bearer rp_nope"})
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_an_account_sees_only_its_own(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, store: SqliteStore
) -> None:
    sent = (await client.post("/v1/send", json=SEND)).json()
    delivery_id = sent["recipients"]["x@example.net"]
    assert (await client.get(f"/v1/deliveries/{delivery_id}")).status_code == 200
    assert len((await client.get("/v1/events")).json()["events"]) == 0  # nothing happened yet

    other: NewAccount = await create_account(store, "other", time.time())
    as_other = {"Authorization": f"Bearer {other.api_token}"}
    assert_problem(await anonymous.get(f"/v1/deliveries/{delivery_id}", headers=as_other), 404, "not-found")
    assert_problem(await anonymous.get(f"/v1/messages/{sent['id']}", headers=as_other), 404, "not-found")
    assert (await anonymous.get("/v1/events", headers=as_other)).json() == {"events": [], "next": 0}
