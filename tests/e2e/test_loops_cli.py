"""`returnpath loops` on a data folder made with `returnpath init`, without a running server: the
command works on the store directly. Loops are added, listed, paused, resumed, updated, rotated
and removed; a bad setting is refused with a message that names it and nothing is created;
another account's loop is not found; `test` posts one signed sample to a real receiver; the
posts of a loop (made here through the store as `serve` would make them) are listed by state
and replayed one by one or all dead ones at once.

The data folder has two configuration files on the same store: returnpath.toml as `init` wrote
it, which refuses loopback targets, and private.toml, which allows them (the receiver listens
on 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from returnpath import config
from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.store import open_store
from returnpath.store.sqlite.sqlite_store import _insert_event
from tests.e2e.harness import BOUNCE_DOMAIN, run_cli
from tests.webhooks.receiver import Receiver, Reply, ThreadedReceiver

PUBLIC_URL = "https://93.184.215.14/hooks"  # a public IP literal: passes the target checks without DNS


@dataclass
class Data:
    """A data folder and its two configuration files."""

    folder: Path
    default: Path  # as init wrote it: private targets refused
    private: Path  # [webhooks] allow_private_targets = true

    def cli(self, *args: str, private: bool = True) -> subprocess.CompletedProcess[str]:
        return run_cli("loops", *args, "--config", str(self.private if private else self.default))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    folder = tmp_path_factory.mktemp("rp-data")
    result = run_cli(
        "init", "--data", str(folder), "--bounce-domain", BOUNCE_DOMAIN, "--hostname", "relay.example.test"
    )
    assert result.returncode == 0, result.stderr
    default = folder / "returnpath.toml"
    settings = config.load(default)
    assert settings.webhooks.allow_private_targets is False
    settings.webhooks.allow_private_targets = True
    private = folder / "private.toml"
    private.write_text(config.render(settings))
    return Data(folder, default, private)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The test receiver, in a background thread, while the tests run the CLI as subprocesses."""
    with ThreadedReceiver() as running:
        yield running


def ok(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON lines of a command that succeeded."""
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def failed(result: subprocess.CompletedProcess[str]) -> str:
    """The message of a command that failed with exit code 1 and printed nothing."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("returnpath: ")
    return message


_paths = itertools.count(1)


def add(data: Data, url: str | None = None, *args: str) -> dict[str, Any]:
    """Add a loop (by default with a URL of its own: an account has one loop per URL)."""
    (created,) = ok(data.cli("add", url or f"{PUBLIC_URL}/{next(_paths)}", "--events", "failure,bounce", *args))
    return created


def listed_ids(data: Data, *args: str) -> list[str]:
    return [loop["id"] for loop in ok(data.cli("list", *args))]


def loop_count(data: Data) -> int:
    """How many loops the store holds, all accounts (read directly: quicker than a subprocess)."""
    with sqlite3.connect(config.load(data.private).sqlite_path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM loops").fetchone()
    conn.close()
    return int(count)


# ---- add, list, show, pause, resume, update, rotate, remove ----------------------------------


def test_add_prints_the_loop_with_its_secret_once(data: Data) -> None:
    created = ok(data.cli("add", PUBLIC_URL, "--events", "failure, bounce", "--events", "abuse", "--format", "json"))[0]
    assert set(created) == {"id", "url", "events", "format", "active", "secret"}
    assert (created["url"], created["events"], created["format"], created["active"]) == (
        PUBLIC_URL,
        ["abuse", "bounce", "failure"],
        "json",
        True,
    )
    assert len(created["id"]) == 26
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"), validate=True)) >= 24

    listing = data.cli("list")
    assert created["secret"] not in listing.stdout
    (shown,) = [loop for loop in ok(listing) if loop["id"] == created["id"]]
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert ok(data.cli("show", created["id"].upper())) == [shown]  # ids are not case-sensitive


def test_pause_resume_and_update(data: Data) -> None:
    created = add(data, None, "--paused")
    assert created["active"] is False
    assert ok(data.cli("resume", created["id"]))[0]["active"] is True
    assert ok(data.cli("pause", created["id"]))[0]["active"] is False

    (updated,) = ok(
        data.cli(
            "update", created["id"], "--url", "https://93.184.215.14/other", "--events", "delivery", "--format", "json"
        )
    )
    assert updated == {
        "id": created["id"],
        "url": "https://93.184.215.14/other",
        "events": ["delivery"],
        "format": "json",
        "active": False,
    }
    assert "secret" not in updated
    assert failed(data.cli("update", created["id"])) == "returnpath: loops update needs --url, --events or --format"


def test_rotate_gives_a_new_secret(data: Data) -> None:
    created = add(data)
    (rotated,) = ok(data.cli("rotate", created["id"]))
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert {k: v for k, v in rotated.items() if k != "secret"} == {k: v for k, v in created.items() if k != "secret"}


def test_a_second_loop_with_the_url_of_one_is_refused_naming_it(data: Data) -> None:
    created = add(data)
    before = loop_count(data)
    message = failed(data.cli("add", created["url"], "--events", "delivery"))
    assert message.startswith(f"returnpath: url: feedback loop {created['id']} of this account posts to ")
    assert f"returnpath loops update {created['id']} --events" in message
    assert loop_count(data) == before


def test_remove(data: Data) -> None:
    created = add(data)
    assert ok(data.cli("remove", created["id"])) == [{"removed": created["id"]}]
    assert failed(data.cli("show", created["id"])) == f"returnpath: no feedback loop {created['id']!r} in this account"
    assert failed(data.cli("remove", created["id"])).startswith("returnpath: no feedback loop")


# ---- bad settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["ftp://example.com/hook", "--events", "failure"],
            "url: 'ftp://example.com/hook': the URL must start with http:// or https://",
        ),
        (["http:///hook", "--events", "failure"], "url: 'http:///hook': the URL has no host"),
        (
            ["http://exa mple.com/hook", "--events", "failure"],
            "url: 'http://exa mple.com/hook': the URL contains spaces or control characters",
        ),
        ([PUBLIC_URL, "--events", "failure,bogus"], "events: unknown event type 'bogus': expected some of "),
        ([PUBLIC_URL, "--events", ","], "events: a loop needs at least one event type"),
        ([PUBLIC_URL, "--events", "failure", "--format", "xml"], "format: unknown format 'xml': expected form or json"),
    ],
)
def test_a_bad_setting_is_named_and_nothing_is_created(data: Data, args: list[str], message: str) -> None:
    before = loop_count(data)
    assert failed(data.cli("add", *args)).startswith(f"returnpath: {message}")
    assert loop_count(data) == before


def test_a_bad_setting_in_an_update_changes_nothing(data: Data) -> None:
    created = add(data)
    assert failed(data.cli("update", created["id"], "--events", "bogus")).startswith("returnpath: events: ")
    assert failed(data.cli("update", created["id"], "--url", "ftp://example.com/")).startswith("returnpath: url: ")
    assert ok(data.cli("show", created["id"]))[0] == {k: v for k, v in created.items() if k != "secret"}


def test_a_private_target_is_refused_unless_allowed(data: Data) -> None:
    before = loop_count(data)
    for url, host, reason in (
        ("http://127.0.0.1:8080/hook", "127.0.0.1", "loopback"),
        ("http://10.1.2.3/hook", "10.1.2.3", "private"),
    ):
        message = failed(data.cli("add", url, "--events", "failure", private=False))
        assert message == (
            f"returnpath: url: {url!r}: {host} is a {reason} address; "
            "loops post only to public addresses unless [webhooks] allow_private_targets = true"
        )
    assert loop_count(data) == before
    created = add(data, "http://127.0.0.1:8080/hook")  # private.toml allows it
    assert created["url"] == "http://127.0.0.1:8080/hook"


def test_another_accounts_loop_is_not_found(data: Data) -> None:
    created = add(data)
    other = ok(run_cli("accounts", "add", "other", "--config", str(data.private)))[0]
    assert listed_ids(data, "--account", "other") == []
    for action in ("show", "pause", "remove", "deliveries"):
        message = failed(data.cli(action, created["id"], "--account", other["account"]))
        assert message == f"returnpath: no feedback loop {created['id']!r} in this account"
    assert failed(data.cli("list", "--account", "nobody")) == "returnpath: no account named 'nobody'"
    # Still there, unchanged, in its own account.
    assert ok(data.cli("show", created["id"]))[0]["active"] is True


# ---- test: one signed sample post -------------------------------------------------------------


def test_test_posts_one_signed_sample(data: Data, receiver: Receiver) -> None:
    created = add(data, receiver.base_url + "/sample")
    receiver.endpoint("/sample", created["secret"])
    (answer,) = ok(data.cli("test", created["id"], "--event", "bounce"))
    assert answer == {"status": 200, "ok": True, "error": None}
    (arrival,) = receiver.at("/sample")
    assert arrival.fields["type"] == "bounce"
    assert arrival.headers["content-type"] == "application/x-www-form-urlencoded"
    assert arrival.webhook_id.startswith("msg_test")
    assert receiver.unverified == []


def test_test_exits_1_when_the_receiver_fails(data: Data, receiver: Receiver) -> None:
    created = add(data, receiver.base_url + "/failing", "--format", "json")
    receiver.endpoint("/failing", created["secret"], Reply(500))
    result = data.cli("test", created["id"])
    assert result.returncode == 1, result.stderr
    (answer,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (answer["status"], answer["ok"]) == (500, False)
    assert answer["error"]
    (arrival,) = receiver.at("/failing")
    assert arrival.fields["type"] == "failure"  # the loop's first event type
    assert arrival.answered == "500"


def test_test_of_a_target_no_longer_allowed_is_not_sent(data: Data, receiver: Receiver) -> None:
    created = add(data, receiver.base_url + "/refused")
    receiver.endpoint("/refused", created["secret"])
    result = data.cli("test", created["id"], private=False)
    assert result.returncode == 1, result.stderr
    (answer,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (answer["status"], answer["ok"]) == (None, False)
    assert "loopback" in answer["error"]
    assert receiver.at("/refused") == []


# ---- deliveries and replay --------------------------------------------------------------------


def _publish(data: Data, account_id: str, kind: EventKind, count: int) -> None:
    """Store events as `serve` does, fanned out into the outbox of the matching loops."""
    settings = config.load(data.private)

    async def work() -> None:
        store = open_store(settings)
        await store.open()
        try:
            for n in range(count):
                now = time.time() + n / 1000
                event = Event(
                    kind, ids.new_id(now), ids.new_id(now), account_id, now, {"recipient": f"r{n}@example.net"}
                )
                await store.db.write(lambda conn, e=event, t=now: _insert_event(conn, e, t, store.loop_window))
        finally:
            await store.close()

    asyncio.run(work())


def _sql(data: Data, statement: str, *params: Any) -> None:
    with sqlite3.connect(config.load(data.private).sqlite_path) as conn:
        conn.execute(statement, params)
    conn.close()


def test_deliveries_show_dead_and_in_flight_posts_and_replay_them(data: Data) -> None:
    account = ok(run_cli("accounts", "add", "replays", "--config", str(data.private)))[0]
    (loop,) = ok(data.cli("add", PUBLIC_URL, "--events", "failure", "--account", "replays"))
    _publish(data, account["account"], EventKind.FAILURE, 4)
    _publish(data, account["account"], EventKind.DELIVERY, 1)  # not wanted by the loop: no post

    items = ok(data.cli("deliveries", loop["id"], "--account", "replays"))
    assert len(items) == 4
    assert {item["state"] for item in items} == {"pending"}
    assert [item["event_timestamp"] for item in items] == sorted((i["event_timestamp"] for i in items), reverse=True)
    assert all(item["webhook_id"] == f"msg_{item['id']}" for item in items)
    dead, also_dead, leased, pending = (item["id"] for item in items)
    first = ok(data.cli("posts", loop["id"], "--account", "replays", "--limit", "2"))
    assert [item["id"] for item in first] == [dead, also_dead]
    # The next page starts after the last post listed, as the API's ?before= does.
    then = ok(data.cli("posts", loop["id"], "--account", "replays", "--limit", "2", "--before", also_dead))
    assert [item["id"] for item in then] == [leased, pending]
    # Not a post of this loop: said once, with what to give instead.
    other = ok(data.cli("add", PUBLIC_URL + "/other", "--events", "failure", "--account", "replays"))[0]
    for wrong in ("nope", pending):
        said = failed(data.cli("posts", other["id"], "--account", "replays", "--before", wrong))
        assert said == (
            f"returnpath: before: no post {wrong!r} in feedback loop {other['id']!r}: give the id of a post "
            "of this loop, the last one of the page before (`next`)"
        )

    for item_id in (dead, also_dead):
        _sql(
            data,
            "UPDATE loop_posts SET state = 'dead', attempts = 3, next_attempt_at = NULL, last_status = 500,"
            " last_error = 'HTTP 500: no (retry window closed)' WHERE id = ?",
            item_id,
        )
    _sql(data, "UPDATE loop_posts SET lease_owner = 'w1', lease_until = ? WHERE id = ?", time.time() + 300, leased)

    shown = ok(data.cli("posts", loop["id"], "--account", "replays", "--state", "dead"))
    assert [item["id"] for item in shown] == [dead, also_dead]
    assert all(
        (i["state"], i["attempts"], i["last_status"], i["last_error"])
        == ("dead", 3, 500, "HTTP 500: no (retry window closed)")
        for i in shown
    )
    (in_flight,) = ok(data.cli("deliveries", loop["id"], "--account", "replays", "--state", "in_flight"))
    assert (in_flight["id"], in_flight["state"]) == (leased, "in_flight")
    assert failed(data.cli("deliveries", loop["id"], "--account", "replays", "--state", "lost")).startswith(
        "returnpath: state: unknown state 'lost'"
    )

    # One by one: the replayed item is pending again, keeping its last status and error.
    assert ok(data.cli("replay", loop["id"], dead, "--account", "replays")) == [{"replayed": 1}]
    (replayed,) = [i for i in ok(data.cli("deliveries", loop["id"], "--account", "replays")) if i["id"] == dead]
    assert (replayed["state"], replayed["attempts"], replayed["last_status"]) == ("pending", 0, 500)
    assert (
        failed(data.cli("replay", loop["id"], pending, "--account", "replays"))
        == f"returnpath: delivery {pending!r} is still pending: it is posted (again) without a replay"
    )
    assert (
        failed(data.cli("replay", loop["id"], "0" * 26, "--account", "replays"))
        == f"returnpath: no delivery {'0' * 26!r} in feedback loop {loop['id']!r}"
    )

    # All dead ones at once.
    _sql(data, "UPDATE loop_posts SET state = 'dead' WHERE id = ?", dead)
    assert ok(data.cli("replay", loop["id"], "--dead", "--account", "replays")) == [{"replayed": 2}]
    assert ok(data.cli("deliveries", loop["id"], "--account", "replays", "--state", "dead")) == []

    # Exactly one of ITEM_ID and --dead.
    for args in ([], [dead, "--dead"]):
        assert (
            failed(data.cli("replay", loop["id"], *args, "--account", "replays"))
            == "returnpath: loops replay needs an ITEM_ID or --dead (one of them)"
        )
