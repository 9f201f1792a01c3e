"""GET /v1/deliveries/{id}, /v1/messages/{id} and /v1/events, after real attempts were settled."""

from __future__ import annotations

import time

import httpx

from returnpath.config import Settings
from returnpath.core.model import Attempt, Outcome, Step, Verdict
from returnpath.core.retry import settle
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount

from .conftest import MESSAGE, assert_problem


async def _attempt(store: SqliteStore, settings: Settings, verdict: Verdict, code: int, step: Step) -> None:
    """One attempt at every due delivery, as the delivery engine would record it."""
    now = time.time()
    for job in await store.claim("test", now, now + 60, 100):
        outcome = Outcome(
            verdict, step, code, f"{code // 100}.1.1", f"{code} said the server", "mx.example.net[127.0.0.1]:25"
        )
        settlement = settle(job, outcome, now, settings.delivery.retry.policy())
        attempt = Attempt(job.attempts + 1, now, outcome.remote, step, code, outcome.status, outcome.text, verdict)
        await store.settle(job, attempt, settlement)


async def test_a_delivery_with_its_attempts_and_events(
    client: httpx.AsyncClient, store: SqliteStore, settings: Settings
) -> None:
    sent = (await client.post("/v1/send", json={"recipient": "x@example.net", "mime": MESSAGE, "tags": ["t1"]})).json()
    delivery_id = sent["recipients"]["x@example.net"]
    queued = (await client.get(f"/v1/deliveries/{delivery_id}")).json()
    assert queued["state"] == "queued" and queued["attempts"] == [] and queued["events"] == []
    assert queued["recipient"] == "x@example.net" and queued["message"] == sent["id"]
    assert queued["sender"] == "app@example.com" and queued["envelope"].endswith("@bounces.example.test")
    assert queued["tags"] == ["t1"] and queued["own_envelope"] is None

    await _attempt(store, settings, Verdict.PERMANENT, 550, Step.RCPT)
    failed = (await client.get(f"/v1/deliveries/{delivery_id.upper()}")).json()
    assert failed["state"] == "failed" and failed["attempt_count"] == 1
    [attempt] = failed["attempts"]
    assert attempt["state"] == "rcpt" and attempt["code"] == 550 and attempt["status"] == "5.1.1"
    assert attempt["description"] == "550 said the server" and attempt["verdict"] == "permanent"
    assert attempt["remote"] == "mx.example.net[127.0.0.1]:25"
    assert time.strptime(attempt["time"], "%Y-%m-%d %H:%M:%S") and abs(attempt["timestamp"] - time.time()) < 60
    [event] = failed["events"]
    assert event["event"] == "failure" and event["type"] == "sync" and event["id"] == delivery_id
    assert event["code"] == 550 and event["state"] == "rcpt" and event["tags"] == ["t1"]


async def test_a_message_lists_its_deliveries(client: httpx.AsyncClient) -> None:
    sent = (
        await client.post("/v1/send", json={"recipients": ["a@example.net", "b@example.net"], "mime": MESSAGE})
    ).json()
    listing = (await client.get(f"/v1/messages/{sent['id']}")).json()
    assert listing["id"] == sent["id"]
    assert {d["recipient"]: d["id"] for d in listing["deliveries"]} == sent["recipients"]
    assert all(d["state"] == "queued" and "attempts" not in d for d in listing["deliveries"])


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/v1/deliveries/" + "0" * 26, "/v1/deliveries/not-an-id", "/v1/messages/" + "1" * 26):
        assert_problem(await client.get(path), 404, "not-found")


async def test_events_filtered_and_paged(client: httpx.AsyncClient, store: SqliteStore, settings: Settings) -> None:
    await client.post("/v1/send", json={"recipients": ["a@example.net", "b@example.net"], "mime": MESSAGE})
    await _attempt(store, settings, Verdict.TEMPORARY, 451, Step.RCPT)
    await client.post("/v1/send", json={"recipient": "c@example.net", "mime": MESSAGE})
    store_now = time.time() + 10**6  # make the deferred ones due as well
    for job in await store.claim("test", store_now, store_now + 60, 100):
        outcome = Outcome(Verdict.ACCEPTED, Step.EOM, 250, "2.0.0", "250 ok", None)
        await store.settle(
            job,
            Attempt(job.attempts + 1, time.time(), None, Step.EOM, 250, "2.0.0", "250 ok", Verdict.ACCEPTED),
            settle(job, outcome, time.time(), settings.delivery.retry.policy()),
        )
    everything = (await client.get("/v1/events")).json()
    kinds = [e["event"] for e in everything["events"]]
    assert sorted(kinds) == ["deferred", "deferred", "delivery", "delivery", "delivery"]
    assert everything["next"] == everything["events"][-1]["event_id"]

    deferred = (await client.get("/v1/events", params={"type": "deferred"})).json()["events"]
    assert [e["event"] for e in deferred] == ["deferred", "deferred"]
    both = (await client.get("/v1/events", params=[("type", "deferred,failure"), ("type", "delivery")])).json()
    assert len(both["events"]) == 5

    page1 = (await client.get("/v1/events", params={"limit": 2})).json()
    page2 = (await client.get("/v1/events", params={"limit": 2, "after": page1["next"]})).json()
    assert [e["event_id"] for e in page1["events"] + page2["events"]] == [
        e["event_id"] for e in everything["events"][:4]
    ]
    last = (await client.get("/v1/events", params={"after": everything["next"]})).json()
    assert last == {"events": [], "next": everything["next"]}
    # A cursor beyond the newest event (kept from before a restore from a backup) is refused,
    # rather than answered with empty pages until the store's ids pass it.
    beyond = await client.get("/v1/events", params={"after": everything["next"] + 1})
    assert_problem(beyond, 400, "invalid-field", "after")
    assert "restored from a backup" in beyond.json()["detail"]

    future = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 3600))
    assert (await client.get("/v1/events", params={"since": future})).json()["events"] == []
    assert len((await client.get("/v1/events", params={"since": "0"})).json()["events"]) == 5


async def test_an_events_cursor_stays_good_after_retention_purged_its_events(
    client: httpx.AsyncClient, store: SqliteStore, settings: Settings
) -> None:
    """Once [retention] events had purged every event (an account quiet for 90 days), the cursor
    of the application that had read them all was refused as one from another store, or from
    before a restore: it is this store's, and the next event comes after it."""
    await client.post("/v1/send", json={"recipient": "a@example.net", "mime": MESSAGE})
    await _attempt(store, settings, Verdict.PERMANENT, 550, Step.RCPT)
    read = (await client.get("/v1/events")).json()
    cursor = read["next"]
    assert await store.purge_events(time.time() + 1, cursor, 100) == 1
    assert (await client.get("/v1/events", params={"after": cursor})).json() == {"events": [], "next": cursor}
    assert_problem(await client.get("/v1/events", params={"after": cursor + 1}), 400, "invalid-field", "after")
    await client.post("/v1/send", json={"recipient": "b@example.net", "mime": MESSAGE})
    await _attempt(store, settings, Verdict.PERMANENT, 550, Step.RCPT)
    [event] = (await client.get("/v1/events", params={"after": cursor})).json()["events"]
    assert event["recipient"] == "b@example.net" and event["event_id"] > cursor


async def test_bad_event_queries(client: httpx.AsyncClient) -> None:
    for params, field in (
        ({"type": "bounced"}, "type"),
        ({"since": "yesterday"}, "since"),
        ({"since": "nan"}, "since"),
        ({"after": "-1"}, "after"),
        ({"limit": "0"}, "limit"),
        ({"limit": "5000"}, "limit"),
        ({"after": "x"}, "after"),
        ({"types": "bounce"}, "types"),  # misspelt: not silently every event
        ({"until": "2026-01-01 00:00:00"}, "until"),  # no such filter
    ):
        assert_problem(await client.get("/v1/events", params=params), 400, "invalid-field", field)


async def test_the_token_may_come_as_a_query_parameter_beside_the_filters(
    anonymous: httpx.AsyncClient, account: NewAccount
) -> None:
    answer = await anonymous.get("/v1/events", params={"access_token": account.api_token, "type": "bounce"})
    assert answer.status_code == 200 and answer.json() == {"events": [], "next": 0}


async def test_a_query_parameter_that_takes_one_value_given_twice_is_refused(
    client: httpx.AsyncClient, anonymous: httpx.AsyncClient, account: NewAccount
) -> None:
    """Before: the last of them was taken and the others dropped in silence (`limit=10&limit=500`
    answered 500 events), and of two tokens in the query the last one was tried."""
    doc = assert_problem(await client.get("/v1/events?limit=10&limit=500"), 400, "invalid-field", "limit")
    assert "2 times" in str(doc["detail"])
    assert_problem(await client.get("/v1/events?after=0&since=0&after=5"), 400, "invalid-field", "after")
    assert_problem(await client.get("/v1/feedback-loops?x=1&x=2"), 400, "invalid-field", "x")  # unknown, first
    token = account.api_token
    doubled = await anonymous.get(f"/v1/events?access_token=wrong&access_token={token}")
    assert_problem(doubled, 400, "invalid-field", "access_token")
    # `type` is a list: repeating it is how a client asks for several
    answer = await client.get("/v1/events?type=bounce&type=failure")
    assert answer.status_code == 200 and answer.json() == {"events": [], "next": 0}
