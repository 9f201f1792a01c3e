"""`serve`'s supervisor deletes the feedback loops' posts that are past keeping."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from returnpath import app
from returnpath.config import Duration, Settings
from returnpath.core import ids
from returnpath.core.events import Event, EventKind
from returnpath.core.model import Account
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.store import _insert_event
from returnpath.webhooks.model import Format, Loop


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
        lambda c: c.execute("UPDATE loop_outbox SET state = 'done', last_attempt_at = ?", (now - 2 * 86400,))
    )
    settings.webhooks.keep_done = Duration(86400)
    supervisor = app.Supervisor(settings, Path(settings.base) / "returnpath.toml")
    monkeypatch.setattr(app, "PURGE_BATCH", 3)
    assert await supervisor.purge(store, now) == 7
    assert await store.db.read(lambda c: c.execute("SELECT count(*) FROM loop_outbox").fetchone()[0]) == 0
