"""`serve`'s supervisor deletes what is past keeping: the feedback loops' posts, the sending
domains removed longer ago than their mail can bounce, and what [retention] says."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from returnpath.config import Duration, Keep, Settings
from returnpath.core import ids, senders
from returnpath.core.events import Event, EventKind
from returnpath.core.feedback import Format, Loop
from returnpath.core.model import Account, Returned, Submission
from returnpath.core.ports import NewDelivery, NewMessage
from returnpath.core.senders import SendingDomain
from returnpath.logs import CURSOR
from returnpath.node import supervisor as app
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.sqlite_store import _insert_event


async def test_the_supervisor_purges_in_batches_until_nothing_is_left(
    settings: Settings, store: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    account = Account(ids.new_id(now), "app", "app")
    await store.create_account(account, "token", "hash", now)
    await store.create_loop(
        Loop(
            ids.new_id(now),
            account.id,
            "https://hooks.example.com/rp",
            frozenset({EventKind.DELIVERY}),
            "whsec_c2VjcmV0",
            Format.FORM,
        )
    )

    def publish(conn: object) -> None:
        for _ in range(7):
            _insert_event(conn, Event(EventKind.DELIVERY, "d", "m", account.id, now, {}), now, 3600)  # type: ignore[arg-type]

    await store.db.write(publish)
    await store.db.write(
        lambda c: c.execute("UPDATE loop_posts SET state = 'done', last_attempt_at = ?", (now - 2 * 86400,))
    )
    settings.webhooks.keep_done = Duration(86400)
    supervisor = app.Supervisor(settings, Path(settings.base) / "returnpath.toml")
    monkeypatch.setattr(app, "PURGE_BATCH", 3)
    assert await supervisor.purge(store, now) == 7
    assert await store.db.read(lambda c: c.execute("SELECT count(*) FROM loop_posts").fetchone()[0]) == 0


async def test_retention_purges_bodies_returns_and_events_and_0_keeps_forever(
    settings: Settings, store: SqliteStore
) -> None:
    now = time.time()
    old = now - 2 * 86400
    account = Account(ids.new_id(old), "app", "app")
    await store.create_account(account, "token", "hash", old)
    submission = Submission("a@example.com", ("x@example.net",), b"Subject: hi\r\n\r\nhi\r\n")
    delivery = NewDelivery(ids.new_id(old), "x@example.net", "b@bounces.example.test")
    await store.submit(
        NewMessage(account.id, "m" * 26, submission, (delivery,), old, old + 60), owner=None, lease_until=0
    )
    returned = Returned(ids.new_id(old), "", ("postmaster@bounces.example.test",), (), None, old, b"Subject: x\r\n\r\n")
    await store.receive(returned)
    bounce = Event(EventKind.BOUNCE, delivery.id, "m" * 26, account.id, old, {})
    [event_id] = await store.finish_return(returned.id, "other", [bounce], [delivery.id], [], old)
    await store.set_cursor(CURSOR, event_id)  # written to the log files
    supervisor = app.Supervisor(settings, Path(settings.base) / "returnpath.toml")
    for name in ("message_bodies", "returned_mail", "events"):
        setattr(settings.retention, name, Keep(0))  # forever
    assert await supervisor.purge(store, now) == 0
    for name in ("message_bodies", "returned_mail", "events"):
        setattr(settings.retention, name, Keep(86400))
    assert await supervisor.purge(store, now) == 3
    assert await store.mime("m" * 26) == b""
    assert (await store.returned(returned.id)).purged_at == now  # type: ignore[union-attr]
    assert await store.events() == []


async def test_a_removed_domain_is_purged_once_its_mail_can_no_longer_bounce(
    settings: Settings, store: SqliteStore
) -> None:
    now = time.time()
    account = Account(ids.new_id(now), "app", "app")
    await store.create_account(account, "token", "hash", now)
    for name in ("old.example.com", "recent.example.com", "kept.example.com"):
        await store.add_domain(SendingDomain(account.id, name, f"rp.{name}", now, "rp202701", "rp202701e"))
    settings.delivery.retry.lifetime = Duration(86400)
    kept = 86400 + senders.LATE_DSN  # the retry lifetime and a week for late DSNs
    await store.remove_domain(account.id, "old.example.com", now - kept - 1)
    await store.remove_domain(account.id, "recent.example.com", now - kept + 60)
    supervisor = app.Supervisor(settings, Path(settings.base) / "returnpath.toml")
    assert await supervisor.purge(store, now) == 1
    # The recent one's bounce domain is still accepted; the old one's went with its row.
    assert sorted(await store.bounce_domains(now - kept)) == ["rp.kept.example.com", "rp.recent.example.com"]
    assert sorted(await store.bounce_domains(0)) == ["rp.kept.example.com", "rp.recent.example.com"]
