"""`/v1/feedback-loops`: an account's loops over the API, their checks, and what was posted to them.

The app is served with a resolver of its own (HOSTS), so that names which look public resolve
without DNS; a name it does not know does not resolve. Events are stored the way the relay
stores them (`_insert_event`, with the fan-out into the loops' outbox), and posts are
made dead or in flight with SQL, as the dispatcher would leave them.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from returnpath.config import Settings
from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.http import create_app
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.sqlite_store import _insert_event
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.loops import ROTATION_GRACE
from returnpath.usecases.relay import Relay

from ..webhooks.receiver import Receiver, Reply
from .conftest import assert_problem, make_account

LOOPS = "/v1/feedback-loops"
URL = "https://hooks.example.com/returnpath"
HOSTS: dict[str, list[str]] = {
    "hooks.example.com": ["93.184.215.14"],
    "new.example.com": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
    "private.example.com": ["10.0.0.5"],
    "loopback.example.com": ["127.0.0.1"],
    "metadata.example.com": ["169.254.169.254"],
    "v6-loopback.example.com": ["::1"],
    "half-private.example.com": ["93.184.215.14", "192.168.1.20"],
    "bücher.example.com": ["93.184.215.14"],  # an internationalised name, and as DNS knows it:
    "xn--bcher-kva.example.com": ["93.184.215.14"],
}


async def fake_resolve(host: str, port: int) -> Sequence[str]:
    try:
        return HOSTS[host]
    except KeyError:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None


@pytest.fixture
def app(relay: Relay, settings: Settings) -> Starlette:
    """The app as tests/http/conftest.py serves it, with HOSTS for DNS."""
    served = create_app(relay, settings)
    served.state.loops.resolve = fake_resolve
    return served


@pytest.fixture
async def other(store: SqliteStore) -> NewAccount:
    """A second account, with its own token."""
    return await make_account(store, "other")


@pytest.fixture
async def other_client(base_url: str, other: NewAccount) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base_url, timeout=10, headers={"Authorization": f"Bearer {other.api_token}"}
    ) as client:
        yield client


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(LOOPS, json={"url": URL, "events": ["failure", "bounce"], **body})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _publish(store: SqliteStore, account_id: str, kind: EventKind, at: float | None = None) -> tuple[int, int]:
    """An event stored as the relay stores them, fanned out to the loops; (event id, item count)."""
    now = time.time() if at is None else at
    event = Event(kind, ids.new_id(now), ids.new_id(now), account_id, now, {"recipient": "x@example.net"})
    return await store.db.write(lambda conn: _insert_event(conn, event, now, store.loop_window))


async def _deliveries(client: httpx.AsyncClient, loop_id: str, **params: Any) -> list[dict[str, Any]]:
    """The loop's posts, at /posts; the name of 0.1 (/deliveries, key "deliveries") the same."""
    response = await client.get(f"{LOOPS}/{loop_id}/posts", params=params)
    assert response.status_code == 200, response.text
    old = await client.get(f"{LOOPS}/{loop_id}/deliveries", params=params)
    assert old.status_code == 200 and old.json()["deliveries"] == response.json()["posts"]
    return response.json()["posts"]  # type: ignore[no-any-return]


async def _set(store: SqliteStore, item_id: str, sql: str, *params: Any) -> None:
    """Change one post as the dispatcher would have left it."""
    await store.db.write(lambda c: c.execute(f"UPDATE loop_posts SET {sql} WHERE id = ?", (*params, item_id)))


# ---- create, list, get ---------------------------------------------------------------------


async def test_create_answers_201_with_the_loop_and_its_secret(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    response = await client.post(LOOPS, json={"url": URL, "events": ["failure", "bounce"]})
    assert response.status_code == 201, response.text
    loop = response.json()
    assert response.headers["location"] == f"{LOOPS}/{loop['id']}"
    assert set(loop) == {"id", "url", "events", "format", "active", "secret"}
    assert loop["url"] == URL and loop["events"] == ["bounce", "failure"]  # sorted
    assert loop["format"] == "form" and loop["active"] is True
    secret = loop["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:], validate=True)) >= 24
    stored = await store.loop(account.account.id, loop["id"])
    assert stored is not None and stored.secret == secret and stored.account_id == account.account.id
    # Every loop has a secret of its own.
    assert (await _create(client, url=URL + "/2"))["secret"] != secret


async def test_an_account_has_at_most_max_loops(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, settings: Settings
) -> None:
    settings.webhooks.max_loops = 2
    first = await _create(client)
    await _create(client, url=URL + "/2")
    doc = assert_problem(
        await client.post(LOOPS, json={"url": URL + "/3", "events": ["failure"]}), 400, "invalid-input"
    )
    assert "max_loops" in str(doc["detail"])
    await _create(other_client)  # per account
    assert (await client.delete(f"{LOOPS}/{first['id']}")).status_code == 204
    await _create(client, url=URL + "/3")


async def test_create_with_every_setting(client: httpx.AsyncClient) -> None:
    loop = await _create(
        client, url="https://new.example.com:8443/hook?x=1", events=["Abuse", "delivery"], format="json", active=False
    )
    assert loop["url"] == "https://new.example.com:8443/hook?x=1"
    assert loop["events"] == ["abuse", "delivery"] and loop["format"] == "json" and loop["active"] is False


async def test_list_and_get_do_not_show_the_secret(client: httpx.AsyncClient, other_client: httpx.AsyncClient) -> None:
    first = await _create(client)
    second = await _create(client, url=URL + "/2", events=["delivery"], format="json")
    for loop in (first, second):
        del loop["secret"]
    response = await client.get(LOOPS)
    assert response.status_code == 200
    assert response.json() == {"loops": [first, second]}
    response = await client.get(f"{LOOPS}/{second['id']}")
    assert response.status_code == 200 and response.json() == second
    # Case and spaces of the id do not matter.
    assert (await client.get(f"{LOOPS}/{second['id'].upper()}")).json() == second
    # The other account has none.
    assert (await other_client.get(LOOPS)).json() == {"loops": []}


async def test_a_second_loop_with_a_url_of_the_account_is_a_conflict_naming_the_first(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient
) -> None:
    """Two loops with one URL posted each event both wanted twice, signed with two secrets of
    which the receiver checks one. One loop per URL: the second is a 409 naming the first,
    whose events are what to change."""
    first = await _create(client)
    del first["secret"]
    for body in (
        {"url": URL, "events": ["failure", "bounce"]},  # the same loop again
        {"url": URL, "events": ["delivery"], "format": "json"},  # other events, to the same endpoint
        {"url": "HTTPS://Hooks.Example.COM:443/returnpath", "events": ["failure"]},  # written otherwise
        {"url": "https://hooks.example.com./returnpath", "events": ["failure"]},
    ):
        doc = assert_problem(await client.post(LOOPS, json=body), 409, "conflict", "url")
        assert doc["existing"] == first["id"] and first["id"] in str(doc["detail"]), body
    assert (await client.get(LOOPS)).json() == {"loops": [first]}
    # A bad setting is named before the conflict.
    assert_problem(await client.post(LOOPS, json={"url": URL, "events": ["opened"]}), 400, "invalid-field", "events")

    # Another path, query or port is another endpoint; another account may post to this one.
    for url in (URL + "/2", URL + "?to=2", "https://hooks.example.com:8443/returnpath"):
        await _create(client, url=url)
    await _create(other_client)

    # Changing another loop's URL to this one is the same conflict; a loop keeps its own URL.
    second = (await client.get(LOOPS)).json()["loops"][1]
    doc = assert_problem(await client.patch(f"{LOOPS}/{second['id']}", json={"url": URL}), 409, "conflict", "url")
    assert doc["existing"] == first["id"]
    assert (await client.get(f"{LOOPS}/{second['id']}")).json() == second
    assert (await client.patch(f"{LOOPS}/{first['id']}", json={"url": URL, "events": ["delivery"]})).status_code == 200
    assert_problem(await client.patch(f"{LOOPS}/{'0' * 26}", json={"url": URL}), 404, "not-found")

    # Once the first is removed, the URL is free.
    assert (await client.delete(f"{LOOPS}/{first['id']}")).status_code == 204
    await _create(client)


async def test_urls_written_differently_that_rfc_3986_makes_one_are_one_endpoint(client: httpx.AsyncClient) -> None:
    """RFC 3986 section 6.2.2 makes these one URL: the hex digits of a percent-encoding in either
    case, an unreserved character percent-encoded or not, '.' and '..' segments removed; and one
    host written as Unicode or as its A-label (RFC 5890), an IPv6 address written shorter or
    longer. Each was a second loop, posting every event twice."""
    for first, same in (
        ("https://hooks.example.com/a%2fb", "https://hooks.example.com/a%2Fb"),
        ("https://hooks.example.com/hook?x=%7e", "https://hooks.example.com/%68ook?x=~"),
        ("https://hooks.example.com/in/hook", "https://hooks.example.com/in/./old/../hook"),
        ("https://bücher.example.com/h", "https://xn--bcher-kva.example.com/h"),
        ("https://[2606:4700::1111]/h", "https://[2606:4700:0:0::1111]/h"),
    ):
        made = await _create(client, url=first)
        doc = assert_problem(
            await client.post(LOOPS, json={"url": same, "events": ["failure"]}), 409, "conflict", "url"
        )
        assert doc["existing"] == made["id"], same
    # Not the same by RFC 3986: another resource may answer at a path with a final slash, and
    # a query's parameters in another order (or with '+' for a space) are another query.
    for other in (
        "https://hooks.example.com/in/hook/",
        "https://hooks.example.com/a/b",  # %2F is a reserved character encoded: not a slash
        "https://hooks.example.com/hook?x=%7e&y=1",
    ):
        await _create(client, url=other)


# ---- refused settings ----------------------------------------------------------------------

# The app is served anew for each test, which takes a third of a second: the tables below are
# walked in one test each rather than parametrised.

BAD_SETTINGS: list[tuple[dict[str, Any], str, str]] = [  # body, field, part of the detail
    ({"events": ["failure"]}, "url", "required"),
    ({"url": URL}, "events", "required"),
    ({"url": None, "events": ["failure"]}, "url", "required"),
    ({"url": 5, "events": ["failure"]}, "url", "string"),
    ({"url": "", "events": ["failure"]}, "url", "URL"),
    ({"url": "ftp://hooks.example.com/x", "events": ["failure"]}, "url", "http"),
    ({"url": "hooks.example.com/x", "events": ["failure"]}, "url", "http"),
    ({"url": "https://user:pw@hooks.example.com/x", "events": ["failure"]}, "url", "password"),
    ({"url": "https://hooks.example.com/x#top", "events": ["failure"]}, "url", "fragment"),
    ({"url": "https://hooks.example.com:99999/x", "events": ["failure"]}, "url", "port"),
    ({"url": "https://hooks.example.com/a b", "events": ["failure"]}, "url", "spaces"),
    ({"url": URL, "events": []}, "events", "at least one"),
    ({"url": URL, "events": ["failure", "opened"]}, "events", "opened"),
    ({"url": URL, "events": 5}, "events", "list"),
    ({"url": URL, "events": {"failure": True}}, "events", "list"),
    ({"url": URL, "events": [1]}, "events", "list"),
    ({"url": URL, "events": ["failure"], "format": "xml"}, "format", "xml"),
    ({"url": URL, "events": ["failure"], "format": 5}, "format", "string"),
    ({"url": URL, "events": ["failure"], "format": None}, "format", "null"),
    ({"url": URL, "events": ["failure"], "active": "yes"}, "active", "true or false"),
    ({"url": URL, "events": ["failure"], "active": 1}, "active", "true or false"),
    ({"url": URL, "events": ["failure"], "secret": "whsec_bWluZQ=="}, "secret", "unknown field"),
    ({"url": URL, "events": ["failure"], "id": "x"}, "id", "unknown field"),
]


async def test_create_refuses_bad_settings(client: httpx.AsyncClient) -> None:
    for body, field, detail in BAD_SETTINGS:
        doc = assert_problem(await client.post(LOOPS, json=body), 400, "invalid-field", field)
        assert detail in str(doc["detail"]), (body, doc)
    assert (await client.get(LOOPS)).json() == {"loops": []}


PRIVATE_TARGETS = [  # url, why it is refused
    ("https://private.example.com/x", "private"),
    ("https://loopback.example.com/x", "loopback"),
    ("http://metadata.example.com/latest/meta-data", "link-local"),
    ("https://v6-loopback.example.com/x", "loopback"),
    ("https://half-private.example.com/x", "private"),  # one private address is enough
    ("http://127.0.0.1:8080/x", "loopback"),
    ("http://[::1]/x", "loopback"),
    ("http://10.1.2.3/x", "private"),
    ("http://169.254.169.254/latest/meta-data", "link-local"),
    ("http://[::ffff:127.0.0.1]/x", "loopback"),
]


async def test_a_private_target_is_refused_unless_allowed(client: httpx.AsyncClient, settings: Settings) -> None:
    for url, reason in PRIVATE_TARGETS:
        doc = assert_problem(
            await client.post(LOOPS, json={"url": url, "events": ["failure"]}), 400, "invalid-field", "url"
        )
        assert f"{reason} address" in str(doc["detail"]) and "allow_private_targets" in str(doc["detail"]), doc
    # Allowed by the settings (read at each call).
    settings.webhooks.allow_private_targets = True
    for url, _ in PRIVATE_TARGETS:
        assert (await _create(client, url=url))["url"] == url


async def test_a_name_that_does_not_resolve_is_refused(client: httpx.AsyncClient, settings: Settings) -> None:
    settings.webhooks.allow_private_targets = True  # not resolving is refused all the same
    assert "cannot resolve nowhere.example.com" in await _url_refused(client, "https://nowhere.example.com/x")


async def _url_refused(client: httpx.AsyncClient, url: str) -> str:
    """Create a loop with the URL: refused with a problem naming the url field; its detail."""
    doc = assert_problem(await client.post(LOOPS, json={"url": url, "events": ["bounce"]}), 400, "invalid-field", "url")
    return str(doc["detail"])


async def test_a_public_target_is_accepted(client: httpx.AsyncClient) -> None:
    for url in (
        URL,
        "https://new.example.com/x",
        "http://93.184.215.14/x",
        "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/x",
    ):
        assert (await _create(client, url=url))["url"] == url


async def test_events_given_as_a_string_are_refused(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    for events in ("failure", "failure,bounce"):
        assert_problem(await client.post(LOOPS, json={"url": URL, "events": events}), 400, "invalid-field", "events")
        assert_problem(
            await client.patch(f"{LOOPS}/{loop['id']}", json={"events": events}), 400, "invalid-field", "events"
        )


NOT_AN_OBJECT = [  # body, its content type, status, problem
    (b"{not json", "application/json", 400, "invalid-body"),
    (b"", "application/json", 400, "invalid-body"),
    (b'["url"]', "application/json", 400, "invalid-body"),
    (b'"https://hooks.example.com/"', "application/json", 400, "invalid-body"),
    (b"null", "application/json", 400, "invalid-body"),
    (b"\xff\xfe{}", "application/json", 400, "invalid-body"),
    (b"url=https://hooks.example.com/", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
]


async def test_a_body_that_is_not_a_json_object_is_refused(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    for content, content_type, status, slug in NOT_AN_OBJECT:
        headers = {"Content-Type": content_type}
        assert_problem(await client.post(LOOPS, content=content, headers=headers), status, slug)
        assert_problem(await client.patch(f"{LOOPS}/{loop['id']}", content=content, headers=headers), status, slug)
    too_large = b'{"url": "' + b"x" * (65 * 1024) + b'"}'
    assert_problem(
        await client.post(LOOPS, content=too_large, headers={"Content-Type": "application/json"}), 413, "too-large"
    )


# ---- change, rotate, delete ----------------------------------------------------------------


async def test_patch_changes_each_field(client: httpx.AsyncClient, store: SqliteStore, account: NewAccount) -> None:
    loop = await _create(client)
    path, secret = f"{LOOPS}/{loop['id']}", loop.pop("secret")
    changes: list[dict[str, Any]] = [
        {"url": "https://new.example.com/other"},
        {"events": ["delivery", "abuse"]},
        {"events": ["deferred"]},
        {"format": "json"},
        {"active": False},
        {"active": True},
        {"format": "FORM", "active": False, "events": ["bounce"], "url": URL},
        {},
    ]
    for change in changes:
        response = await client.patch(path, json=change)
        assert response.status_code == 200, response.text
        if "events" in change:
            change["events"] = sorted(change["events"])
        if "format" in change:
            change["format"] = change["format"].lower()
        loop.update(change)
        assert response.json() == loop  # without the secret
        assert (await client.get(path)).json() == loop
    stored = await store.loop(account.account.id, loop["id"])
    assert stored is not None and stored.secret == secret and not stored.active


BAD_CHANGES: list[tuple[dict[str, Any], str]] = [  # body, field
    ({"url": 5}, "url"),
    ({"url": "ftp://hooks.example.com/"}, "url"),
    ({"url": "https://private.example.com/"}, "url"),
    ({"url": "http://127.0.0.1/"}, "url"),
    ({"url": "https://nowhere.example.com/"}, "url"),
    ({"events": 5}, "events"),
    ({"events": {"failure": 1}}, "events"),
    ({"events": []}, "events"),
    ({"events": ["failure", "click"]}, "events"),
    ({"events": [None]}, "events"),
    ({"format": "xml"}, "format"),
    ({"format": 1}, "format"),
    ({"active": "false"}, "active"),
    ({"active": 0}, "active"),
    ({"secret": "whsec_bWluZQ=="}, "secret"),
    ({"paused": True}, "paused"),
    ({"active": False, "colour": "red"}, "colour"),
]


async def test_patch_refuses_bad_fields_and_changes_nothing(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    del loop["secret"]
    path = f"{LOOPS}/{loop['id']}"
    for change, field in BAD_CHANGES:
        assert_problem(await client.patch(path, json=change), 400, "invalid-field", field)
        assert (await client.get(path)).json() == loop, change


async def test_patch_refuses_null(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    for name in ("url", "events", "format", "active"):
        assert_problem(await client.patch(f"{LOOPS}/{loop['id']}", json={name: None}), 400, "invalid-field", name)


async def test_rotating_the_secret_shows_the_new_one_once(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop = await _create(client)
    old = loop.pop("secret")
    response = await client.post(f"{LOOPS}/{loop['id']}/secret")
    assert response.status_code == 200, response.text
    rotated = response.json()
    new = rotated.pop("secret")
    assert rotated == loop
    assert new != old and new.startswith("whsec_") and base64.b64decode(new[6:], validate=True)
    stored = await store.loop(account.account.id, loop["id"])
    assert stored is not None and stored.secret == new
    assert "secret" not in (await client.get(f"{LOOPS}/{loop['id']}")).json()
    assert all("secret" not in one for one in (await client.get(LOOPS)).json()["loops"])


async def test_delete_removes_the_loop_and_its_items(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop, kept = await _create(client), await _create(client, url=URL + "/kept")
    assert (await _publish(store, account.account.id, EventKind.FAILURE))[1] == 2
    path = f"{LOOPS}/{loop['id']}"
    response = await client.delete(path)
    assert response.status_code == 204 and response.content == b""
    assert_problem(await client.get(path), 404, "not-found")
    assert_problem(await client.delete(path), 404, "not-found")
    assert_problem(await client.get(f"{path}/deliveries"), 404, "not-found")
    assert [one["id"] for one in (await client.get(LOOPS)).json()["loops"]] == [kept["id"]]
    counts = await store.db.read(
        lambda c: c.execute("SELECT loop_id, count(*) FROM loop_posts GROUP BY loop_id").fetchall()
    )
    assert [tuple(row) for row in counts] == [(kept["id"], 1)]


# ---- accounts ------------------------------------------------------------------------------


async def test_another_accounts_loop_is_not_found(
    client: httpx.AsyncClient, other_client: httpx.AsyncClient, store: SqliteStore, other: NewAccount
) -> None:
    theirs = await _create(other_client)
    assert (await _publish(store, other.account.id, EventKind.FAILURE))[1] == 1
    [item] = await _deliveries(other_client, theirs["id"])
    await _set(store, item["id"], "state = 'dead'")
    unknown = ids.new_id(time.time()).lower()
    for loop_id in (theirs["id"], unknown):
        path = f"{LOOPS}/{loop_id}"
        for response in (
            await client.get(path),
            await client.patch(path, json={"active": False}),
            await client.delete(path),
            await client.post(f"{path}/secret"),
            await client.post(f"{path}/test"),
            await client.get(f"{path}/deliveries"),
            await client.post(f"{path}/replay"),
            await client.post(f"{path}/deliveries/{item['id']}/replay"),
        ):
            doc = assert_problem(response, 404, "not-found")
            assert loop_id in str(doc["detail"])
    # Nothing of theirs changed.
    after = (await other_client.get(f"{LOOPS}/{theirs['id']}")).json()
    assert after == {k: v for k, v in theirs.items() if k != "secret"}
    stored = await store.loop(other.account.id, theirs["id"])
    assert stored is not None and stored.secret == theirs["secret"]
    assert [one["state"] for one in await _deliveries(other_client, theirs["id"])] == ["dead"]


async def test_an_account_gets_its_own_events_only(
    client: httpx.AsyncClient,
    other_client: httpx.AsyncClient,
    store: SqliteStore,
    account: NewAccount,
    other: NewAccount,
) -> None:
    mine = await _create(client, events=["failure"])
    theirs = await _create(other_client, events=["failure"])
    their_event, _ = await _publish(store, other.account.id, EventKind.FAILURE)
    await _publish(store, "", EventKind.FAILURE)  # an event of no account goes nowhere
    assert await _deliveries(client, mine["id"]) == []
    assert [d["event_id"] for d in await _deliveries(other_client, theirs["id"])] == [their_event]
    my_event, count = await _publish(store, account.account.id, EventKind.FAILURE)
    assert count == 1
    assert [d["event_id"] for d in await _deliveries(client, mine["id"])] == [my_event]
    assert [d["event_id"] for d in await _deliveries(other_client, theirs["id"])] == [their_event]


async def test_no_token_is_401(anonymous: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    path = f"{LOOPS}/{(await _create(client))['id']}"
    for bad in ({}, {"Authorization": "Bearer not-a-token"}):
        for method, url in (
            ("GET", LOOPS),
            ("POST", LOOPS),
            ("GET", path),
            ("PATCH", path),
            ("DELETE", path),
            ("POST", f"{path}/secret"),
            ("POST", f"{path}/test"),
            ("GET", f"{path}/deliveries"),
            ("POST", f"{path}/replay"),
            ("POST", f"{path}/deliveries/x/replay"),
        ):
            json = {"url": URL, "events": ["failure"]} if method in ("POST", "PATCH") else None
            response = await anonymous.request(method, url, json=json, headers=bad)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"].startswith("Bearer")
    assert len((await client.get(LOOPS)).json()["loops"]) == 1


# ---- deliveries and replays ----------------------------------------------------------------


async def test_deliveries_list_the_loops_posts_newest_first(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop = await _create(client)
    now = time.time()
    failure, _ = await _publish(store, account.account.id, EventKind.FAILURE, now - 10)
    await _publish(store, account.account.id, EventKind.DELIVERY, now - 5)  # not wanted
    bounce, _ = await _publish(store, account.account.id, EventKind.BOUNCE, now)
    found = await _deliveries(client, loop["id"])
    assert [d["event_id"] for d in found] == [bounce, failure]
    for item in found:
        assert item["webhook_id"] == f"msg_{item['id']}"
        assert item["state"] == "pending" and item["attempts"] == 0
        assert item["last_status"] is None and item["last_error"] is None
        assert item["last_attempt"] is None and item["last_attempt_timestamp"] is None
        assert item["expires_timestamp"] > item["created_timestamp"] >= item["event_timestamp"]
        assert len(item["event"]) == 19 and item["next_attempt_timestamp"] is not None
    assert found[1]["event_timestamp"] == pytest.approx(now - 10)
    assert [d["event_id"] for d in await _deliveries(client, loop["id"], limit=1)] == [bounce]
    assert [d["event_id"] for d in await _deliveries(client, loop["id"], state="pending")] == [bounce, failure]
    assert await _deliveries(client, loop["id"], state="dead") == []
    # Events stored before it took on a kind are not its posts; a paused loop keeps collecting.
    await client.patch(f"{LOOPS}/{loop['id']}", json={"events": ["delivery"], "active": False})
    assert len(await _deliveries(client, loop["id"])) == 2
    delivery, _ = await _publish(store, account.account.id, EventKind.DELIVERY, now + 1)
    assert [d["event_id"] for d in await _deliveries(client, loop["id"])] == [delivery, bounce, failure]


async def test_the_posts_are_read_page_by_page(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    """`limit` alone showed the newest posts only: with more than 1000 (dead ones, say) the rest
    could not be listed. `next` names the last post of a full page; given as `before`, it gives
    the page after it, until a page that is not full says null. Posts of one event time (a
    message to many recipients) are neither skipped nor repeated."""
    loop = await _create(client)
    now = time.time()
    published = [(await _publish(store, account.account.id, EventKind.FAILURE, now - i // 2))[0] for i in range(7)]
    path = f"{LOOPS}/{loop['id']}/posts"
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = (await client.get(path, params=params)).json()
        seen.extend(post["event_id"] for post in page["posts"])
        if page["next"] is None:
            break
        assert page["next"] == page["posts"][-1]["id"]
        params = {"limit": 3, "before": page["next"]}
    assert sorted(seen) == sorted(published) and len(seen) == 7
    assert (await client.get(path)).json()["next"] is None
    old = (await client.get(f"{LOOPS}/{loop['id']}/deliveries", params={"limit": 3})).json()
    assert old["next"] == old["deliveries"][-1]["id"]
    assert_problem(await client.get(path, params={"before": "nope"}), 400, "invalid-field", "before")


async def test_dead_and_in_flight_items_show_their_last_status_and_error(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop = await _create(client)
    for _ in range(3):
        await _publish(store, account.account.id, EventKind.FAILURE)
    dead, flying, waiting = await _deliveries(client, loop["id"])
    await _set(
        store,
        dead["id"],
        "state = 'dead', attempts = 7, last_status = 500, last_error = 'HTTP 500: boom', "
        "last_attempt_at = ?, next_attempt_at = NULL",
        time.time(),
    )
    await _set(store, flying["id"], "lease_owner = 'w1', lease_until = ?", time.time() + 60)
    [item] = await _deliveries(client, loop["id"], state="dead")
    assert item["id"] == dead["id"] and item["attempts"] == 7
    assert item["last_status"] == 500 and item["last_error"] == "HTTP 500: boom"
    assert item["last_attempt_timestamp"] is not None and item["next_attempt_timestamp"] is None
    [item] = await _deliveries(client, loop["id"], state="in_flight")
    assert item["id"] == flying["id"] and item["state"] == "in_flight"
    assert {d["id"]: d["state"] for d in await _deliveries(client, loop["id"])} == {
        dead["id"]: "dead",
        flying["id"]: "in_flight",
        waiting["id"]: "pending",
    }
    assert await _deliveries(client, loop["id"], state="done") == []


async def test_pending_does_not_list_the_items_in_flight(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop = await _create(client)
    await _publish(store, account.account.id, EventKind.FAILURE)
    await _publish(store, account.account.id, EventKind.FAILURE)
    flying, waiting = await _deliveries(client, loop["id"])
    await _set(store, flying["id"], "lease_owner = 'w1', lease_until = ?", time.time() + 60)
    assert [d["id"] for d in await _deliveries(client, loop["id"], state="pending")] == [waiting["id"]]


async def test_replay_one_item(client: httpx.AsyncClient, store: SqliteStore, account: NewAccount) -> None:
    loop, sibling = await _create(client), await _create(client, url=URL + "/sibling")
    await _publish(store, account.account.id, EventKind.BOUNCE)
    [item] = await _deliveries(client, loop["id"])
    [sibling_item] = await _deliveries(client, sibling["id"])
    await _set(
        store,
        item["id"],
        "state = 'dead', attempts = 9, last_status = 500, last_error = 'HTTP 500: boom', next_attempt_at = NULL",
    )
    await _set(store, sibling_item["id"], "state = 'done', attempts = 1, last_status = 200, next_attempt_at = NULL")
    path = f"{LOOPS}/{loop['id']}/posts"
    # Another loop's item, even of the same account, is not found through this loop.
    assert_problem(await client.post(f"{path}/{sibling_item['id']}/replay"), 404, "not-found")
    assert_problem(await client.post(f"{path}/nothing/replay"), 404, "not-found")
    before = time.time()
    response = await client.post(f"{path}/{item['id'].upper()}/replay")
    assert response.status_code == 202 and response.json() == {"replayed": 1}
    [replayed] = await _deliveries(client, loop["id"])
    assert replayed["state"] == "pending" and replayed["attempts"] == 0
    assert replayed["next_attempt_timestamp"] >= before - 1
    assert replayed["expires_timestamp"] >= before + store.loop_window - 1
    assert replayed["last_status"] == 500 and replayed["last_error"] == "HTTP 500: boom"  # until the next post
    # Pending now: a replay is refused, and says why.
    doc = assert_problem(await client.post(f"{path}/{item['id']}/replay"), 400, "invalid-input")
    assert "pending" in str(doc["detail"])
    # So is one in flight.
    await _set(store, item["id"], "lease_owner = 'w1', lease_until = ?", time.time() + 60)
    assert_problem(await client.post(f"{path}/{item['id']}/replay"), 400, "invalid-input")
    # A done item can be posted again.
    sibling_path = f"{LOOPS}/{sibling['id']}/deliveries/{sibling_item['id']}/replay"
    assert (await client.post(sibling_path)).status_code == 202
    assert [d["state"] for d in await _deliveries(client, sibling["id"])] == ["pending"]


async def test_replaying_an_old_pending_item_says_it_is_pending(
    client: httpx.AsyncClient, store: SqliteStore, account: NewAccount
) -> None:
    loop = await _create(client, events=["failure"])
    now = time.time()

    def publish_many(conn: Any) -> None:
        for n in range(1001):
            event = Event(EventKind.FAILURE, f"d{n}", f"m{n}", account.account.id, now + n, {})
            _insert_event(conn, event, now, store.loop_window)

    await store.db.write(publish_many)
    oldest = await store.db.read(
        lambda c: c.execute("SELECT id FROM loop_posts ORDER BY event_time LIMIT 1").fetchone()[0]
    )
    response = await client.post(f"{LOOPS}/{loop['id']}/deliveries/{oldest}/replay")
    assert_problem(response, 400, "invalid-input")


async def test_replay_every_dead_item(client: httpx.AsyncClient, store: SqliteStore, account: NewAccount) -> None:
    loop, sibling = await _create(client), await _create(client, url=URL + "/sibling")
    for _ in range(3):
        await _publish(store, account.account.id, EventKind.FAILURE)
    first, second, third = await _deliveries(client, loop["id"])
    for item in (first, third):
        await _set(store, item["id"], "state = 'dead', next_attempt_at = NULL")
    await _set(store, second["id"], "state = 'done', next_attempt_at = NULL")
    [sibling_item, *_] = await _deliveries(client, sibling["id"])
    await _set(store, sibling_item["id"], "state = 'dead', next_attempt_at = NULL")
    response = await client.post(f"{LOOPS}/{loop['id']}/replay")
    assert response.status_code == 202 and response.json() == {"replayed": 2}
    assert [d["state"] for d in await _deliveries(client, loop["id"])] == ["pending", "done", "pending"]
    assert [d["state"] for d in await _deliveries(client, sibling["id"], state="dead")] == ["dead"]  # not its
    assert (await client.post(f"{LOOPS}/{loop['id']}/replay")).json() == {"replayed": 0}


BAD_QUERIES = [  # query, field
    ({"state": "bogus"}, "state"),
    ({"state": "PENDING"}, "state"),
    ({"limit": "0"}, "limit"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "ten"}, "limit"),
    ({"limit": "1.5"}, "limit"),
    ({"status": "dead"}, "status"),  # misspelt: not silently every post
]


async def test_deliveries_refuse_bad_queries(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    for params, field in BAD_QUERIES:
        assert_problem(await client.get(f"{LOOPS}/{loop['id']}/deliveries", params=params), 400, "invalid-field", field)


# ---- the sample post -----------------------------------------------------------------------


async def test_a_sample_arrives_signed_at_a_real_receiver(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver, account: NewAccount
) -> None:
    settings.webhooks.allow_private_targets = True
    loop = await _create(client, url=f"{receiver.base_url}/form", events=["bounce", "failure"])
    receiver.endpoint("/form", loop["secret"])
    response = await client.post(f"{LOOPS}/{loop['id']}/test")
    assert response.status_code == 200 and response.json() == {"ok": True, "status": 200, "error": None}
    [arrival] = receiver.at("/form")
    assert arrival.headers["content-type"] == "application/x-www-form-urlencoded"
    assert arrival.fields["type"] in ("bounce", "failure") and arrival.fields["tags"] == ["test"]
    assert arrival.webhook_id.startswith("msg_")
    # Of a type asked for, and in JSON for a JSON loop.
    json_loop = await _create(client, url=f"{receiver.base_url}/json", events=["delivery"], format="json")
    receiver.endpoint("/json", json_loop["secret"])
    for kind in ("delivery", "abuse"):
        response = await client.post(
            f"{LOOPS}/{json_loop['id']}/test", params={"event": kind} if kind != "delivery" else None
        )
        assert response.json() == {"ok": True, "status": 200, "error": None}
    assert [a.fields["type"] for a in receiver.at("/json")] == ["delivery", "abuse"]
    assert all(a.headers["content-type"] == "application/json" for a in receiver.at("/json"))
    assert receiver.unverified == []


async def test_a_sample_tells_what_went_wrong(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    settings.webhooks.allow_private_targets = True
    loop = await _create(client, url=f"{receiver.base_url}/hook")
    receiver.endpoint(
        "/hook", loop["secret"], Reply(500, body=b"boom"), Reply(302, (("Location", f"{receiver.base_url}/elsewhere"),))
    )
    receiver.endpoint("/elsewhere", loop["secret"])
    path = f"{LOOPS}/{loop['id']}/test"
    answer = (await client.post(path)).json()
    assert answer["ok"] is False and answer["status"] == 500 and "boom" in answer["error"]
    # A redirect is an answer, not followed.
    answer = (await client.post(path)).json()
    assert answer["ok"] is False and answer["status"] == 302
    assert receiver.at("/elsewhere") == []
    # Nothing of it is stored.
    assert await _deliveries(client, loop["id"]) == []


async def test_a_rotated_out_secret_signs_along_with_the_new_one_for_a_day(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver, app: Starlette
) -> None:
    """So that a receiver can switch to the new secret without losing a post."""
    settings.webhooks.allow_private_targets = True
    loop = await _create(client, url=f"{receiver.base_url}/hook")
    receiver.endpoint("/hook", loop["secret"])
    new = (await client.post(f"{LOOPS}/{loop['id']}/secret")).json()["secret"]
    assert (await client.post(f"{LOOPS}/{loop['id']}/test")).json()["ok"] is True  # still has the old one
    receiver.endpoint("/hook", new)
    assert (await client.post(f"{LOOPS}/{loop['id']}/test")).json()["ok"] is True  # has the new one
    [_, with_new] = receiver.at("/hook")
    assert len(with_new.headers["webhook-signature"].split(" ")) == 2

    receiver.endpoint("/hook", loop["secret"])
    app.state.loops.clock = lambda: time.time() + ROTATION_GRACE + 1  # a day later: the new one only
    answer = (await client.post(f"{LOOPS}/{loop['id']}/test")).json()
    assert answer["ok"] is False and answer["status"] == 401


async def test_a_sample_is_not_posted_to_a_target_refused_now(
    client: httpx.AsyncClient, settings: Settings, receiver: Receiver
) -> None:
    settings.webhooks.allow_private_targets = True
    loop = await _create(client, url=f"{receiver.base_url}/hook")
    receiver.endpoint("/hook", loop["secret"])
    settings.webhooks.allow_private_targets = False
    response = await client.post(f"{LOOPS}/{loop['id']}/test")
    assert response.status_code == 200
    answer = response.json()
    assert answer["ok"] is False and answer["status"] is None and "loopback address" in answer["error"]
    assert receiver.arrivals == []


async def test_a_name_whose_name_server_never_answers_is_a_bounded_wait(
    client: httpx.AsyncClient, settings: Settings, app: Starlette
) -> None:
    """The account chooses the host, and so the name server: one that never answers held the
    request that creates the loop, and the sample post, for as long as the resolver waited
    (forever here). Each now waits [webhooks] timeout, then says the name did not resolve."""
    settings.webhooks.timeout = 0.2
    loop = await _create(client, url="https://hooks.example.com/in")

    async def silent(host: str, port: int) -> Sequence[str]:
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    app.state.loops.resolve = silent
    assert "cannot resolve silent.example.com within 0.2s" in await _url_refused(client, "https://silent.example.com/x")
    answer = (await client.post(f"{LOOPS}/{loop['id']}/test")).json()
    assert answer["ok"] is False and answer["status"] is None
    assert "cannot resolve hooks.example.com within 0.2s" in answer["error"]


async def test_a_sample_of_an_unknown_type_is_refused(client: httpx.AsyncClient) -> None:
    loop = await _create(client)
    assert_problem(
        await client.post(f"{LOOPS}/{loop['id']}/test", params={"event": "opened"}), 400, "invalid-field", "event"
    )


# ---- the description -----------------------------------------------------------------------


async def test_openapi_describes_the_loops(anonymous: httpx.AsyncClient) -> None:
    paths = (await anonymous.get("/v1/openapi.json")).json()["paths"]
    expected = {
        LOOPS: {"get", "post"},
        f"{LOOPS}/{{id}}": {"get", "patch", "delete"},
        f"{LOOPS}/{{id}}/secret": {"post"},
        f"{LOOPS}/{{id}}/test": {"post"},
        f"{LOOPS}/{{id}}/posts": {"get"},
        f"{LOOPS}/{{id}}/deliveries": {"get"},
        f"{LOOPS}/{{id}}/replay": {"post"},
        f"{LOOPS}/{{id}}/posts/{{item}}/replay": {"post"},
        f"{LOOPS}/{{id}}/deliveries/{{item}}/replay": {"post"},
    }
    assert {path: set(item) for path, item in paths.items() if path.startswith(LOOPS)} == expected
    assert paths[LOOPS]["post"]["responses"]["201"]["content"]["application/json"]["schema"]["properties"]["secret"]
