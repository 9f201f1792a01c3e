"""Disk full: the log files' disk fills up, and the store cannot record a sent attempt.

The log writer meets ENOSPC on a real, full tmpfs: it must leave no torn line and no line
twice, stay alive, say that it is stalled (in the process's log and in `/healthz`), and write
every waiting line once room is made. The delivery engine, when the store cannot record an
attempt, must keep the delivery (and its lease) and retry the record, never sending the
message again meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from returnpath.config import Duration, Settings
from returnpath.core.model import DeliveryState, Submission, Verdict
from returnpath.delivery.engine import DeliveryEngine
from returnpath.errors import StoreError
from returnpath.logs import CURSOR, LogWriter
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount
from returnpath.usecases.relay import Relay
from tests.delivery.sinks import Sink, sink  # noqa: F401 - a fixture
from tests.e2e.conftest import ServerFactory, make_server  # noqa: F401 - a fixture
from tests.e2e.harness import wait_for

from .events import MIME, an_account, record_outcomes
from .tmpfs import SmallDisk, small_disk  # noqa: F401 - a fixture

MESSAGE = b"From: app@example.com\r\nSubject: hello\r\n\r\nHello.\r\n"


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def records(path: Path) -> list[dict[str, Any]]:
    """The lines of a log file, each of which must be whole JSON ending in a newline."""
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n"), data[-200:]
    return [json.loads(line) for line in data.splitlines()]


async def test_a_full_disk_stalls_the_log_writer_without_a_torn_line_and_it_catches_up(
    store: SqliteStore,
    small_disk: SmallDisk,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    account = await an_account(store)
    folder = small_disk.path / "logs"
    writer = LogWriter(store, folder, poll_interval=0.05)
    first = await record_outcomes(store, account, ["first@example.test", "rcpt-550-first@example.test"])
    assert await writer.drain() == 2
    deliveries, failures = folder / "deliveries.log", folder / "failures.log"
    before = (deliveries.read_bytes(), failures.read_bytes())

    small_disk.fill()
    # More than the room left in the files' last pages: the first write is cut short by ENOSPC.
    later = await record_outcomes(
        store, account, [f"r{i}@example.test" for i in range(40)] + ["rcpt-550-later@example.test"]
    )
    stop = asyncio.Event()
    running = asyncio.create_task(writer.run(stop))
    try:

        async def stalled() -> bool:
            return writer.stalled_since is not None and "log writer stalled" in caplog.text

        await until(stalled, "the writer to report that it is stalled")
        assert writer.error is not None and "No space left on device" in writer.error, writer.error
        assert str(folder) in writer.error
        assert not running.done()
        # Cut back to where they were: no torn line, nothing written twice later.
        assert (deliveries.read_bytes(), failures.read_bytes()) == before
        assert await store.cursor(CURSOR) == (await store.events())[1].id

        small_disk.free()
        newest = (await store.events())[-1].id

        async def caught_up() -> bool:
            return await store.cursor(CURSOR) == newest

        await until(caught_up, "the writer to catch up")
    finally:
        stop.set()
        await running
        writer.close()
    assert writer.stalled_since is None and "log writer resumed" in caplog.text
    assert [r["id"] for r in records(deliveries)] == [first[0], *later[:-1]]
    assert [r["id"] for r in records(failures)] == [first[1], later[-1]]


async def test_a_torn_last_line_is_cut_when_the_writer_opens_the_file(
    store: SqliteStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    account = await an_account(store)
    folder = tmp_path / "logs"
    first = await record_outcomes(store, account, ["first@example.test"])
    writer = LogWriter(store, folder)
    await writer.drain()
    writer.close()
    # A crash in the middle of a write (kill -9, power loss) leaves the start of a line.
    path = folder / "deliveries.log"
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"event": "delivery", "event_id": 2, "id": "01k')
    second = await record_outcomes(store, account, ["second@example.test"])
    writer = LogWriter(store, folder)
    try:
        assert await writer.drain() == 1
    finally:
        writer.close()
    assert path.read_bytes().startswith(whole)
    assert [r["id"] for r in records(path)] == [first[0], second[0]]
    assert f"{path} ended in a torn line (47 bytes" in caplog.text


def test_serve_reports_a_stalled_log_writer_in_healthz_and_writes_every_line_later(
    small_disk: SmallDisk,  # noqa: F811
    make_server: ServerFactory,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    logs = small_disk.path / "logs"
    server = make_server(
        workers=1, logs__dir=str(logs), logs__stall_after=Duration(1), delivery__routes={"*": sink.route}
    )

    def health() -> dict[str, Any]:
        response = httpx.get(f"{server.http_url}/healthz", timeout=10)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    first = server.submit_smtp("app@example.com", ["first@example.net"], MESSAGE)
    server.wait_final(first.values())
    wait_for(lambda: len(records(logs / "deliveries.log")) == 1, what="the first line")
    assert health() == {"status": "ok", "logs": {"state": "ok"}}
    before = (logs / "deliveries.log").read_bytes()

    small_disk.fill()
    recipients = [f"r{i}@example.net" for i in range(30)] + ["rcpt-550@example.net"]
    accepted = server.submit_smtp("app@example.com", recipients, MESSAGE)
    final = server.wait_final(accepted.values())  # delivery goes on: the store is elsewhere
    assert final[accepted["rcpt-550@example.net"]]["state"] == "failed"
    report = wait_for(lambda: (h := health())["status"] == "degraded" and h, what="/healthz to report the stall")
    assert report["logs"]["state"] == "stalled" and report["logs"]["stalled_for"] >= 1
    wait_for(lambda: "log writer stalled" in server.stderr(), what="the stall in serve's log")
    assert "No space left on device" in server.stderr()
    # Lines that fit in the room left in the file's last page may have been written; whole.
    assert (logs / "deliveries.log").read_bytes().startswith(before)
    assert len(records(logs / "deliveries.log")) < 1 + 30
    assert records(logs / "failures.log") == []  # a new file: not a byte of room
    assert server.running

    small_disk.free()
    wait_for(lambda: health() == {"status": "ok", "logs": {"state": "ok"}}, what="/healthz to say ok again")
    wait_for(lambda: "log writer resumed" in server.stderr(), what="the writer to resume")
    lines = records(logs / "deliveries.log")
    assert sorted(r["id"] for r in lines) == sorted(
        [first["first@example.net"]] + [accepted[r] for r in recipients[:-1]]
    )
    assert [r["id"] for r in records(logs / "failures.log")] == [accepted["rcpt-550@example.net"]]
    assert server.stop() == 0


class FullDisk:
    """The real store, one of whose writes (`method`) fails as SQLite's does on a full disk for
    its first `failures` calls; everything else (renewing leases, claiming, reading) goes through."""

    def __init__(self, store: SqliteStore, method: str, failures: int) -> None:
        self.store = store
        self.method = method
        self.failures = failures
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self.store, name)
        if name != self.method:
            return real

        async def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls <= self.failures:
                raise StoreError("database commit failed: database or disk is full")
            return await real(*args, **kwargs)

        return failing


async def test_lines_are_not_written_again_while_the_cursor_cannot_be_moved(store: SqliteStore, tmp_path: Path) -> None:
    account = await an_account(store)
    delivered = await record_outcomes(store, account, ["a@example.test", "b@example.test"])
    writer = LogWriter(FullDisk(store, "move_cursor", failures=3), tmp_path / "logs")  # type: ignore[arg-type]
    try:
        for _ in range(3):
            with pytest.raises(StoreError):
                await writer.drain()
        assert await writer.drain() == 0
    finally:
        writer.close()
    assert [r["id"] for r in records(tmp_path / "logs" / "deliveries.log")] == delivered
    assert await store.cursor(CURSOR) == (await store.events())[-1].id


async def test_a_sent_message_whose_record_fails_is_sent_once_and_recorded_when_the_store_works_again(
    store: SqliteStore,
    settings: Settings,
    account: NewAccount,
    sink: Sink,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.delivery.routes = {"*": sink.route}
    settings.delivery.poll_interval = Duration(0.05)
    # The record fails for longer than a lease: were the delivery let go, its lease would run
    # out and the poller would claim it and send the message again.
    settings.delivery.lease = Duration(1)
    failing = FullDisk(store, "settle", failures=10)
    engine = DeliveryEngine(failing, settings, owner="w1")  # type: ignore[arg-type]
    await engine.start()
    try:
        relay = Relay(failing, settings, sink=engine)  # type: ignore[arg-type]
        accepted = await relay.submit(
            account.account, Submission(mail_from="app@example.test", recipients=("rcpt@example.test",), mime=MIME)
        )
        [(_, delivery_id)] = accepted.deliveries

        async def recorded() -> bool:
            view = await store.delivery(account.account.id, delivery_id)
            return view is not None and view.state.final

        await until(recorded, "the attempt to be recorded")
        view = await store.delivery(account.account.id, delivery_id)
        assert view is not None and view.state is DeliveryState.DELIVERED
        assert failing.calls == 11
        assert [(a.number, a.verdict, a.code) for a in view.history] == [(1, Verdict.ACCEPTED, 250)]
        assert [e["event"] for e in view.events] == ["delivery"]
        assert sink.recipients() == ["rcpt@example.test"]  # sent once
        assert engine.held == 0
    finally:
        await engine.stop(1)
    assert f"delivery {delivery_id}: recording the attempt failed (database commit failed" in caplog.text
    assert f"delivery {delivery_id}: attempt recorded after" in caplog.text


async def test_lines_written_just_before_a_crash_are_not_written_again_at_the_next_start(
    store: SqliteStore, tmp_path: Path
) -> None:
    """SIGKILL after the lines reached the file, before the cursor's move committed: the next
    writer resumes from the old cursor and finds those lines already there."""
    account = await an_account(store)
    first = await record_outcomes(store, account, ["a@example.test", "b@example.test"])
    writer = LogWriter(FullDisk(store, "move_cursor", failures=1), tmp_path / "logs")  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await writer.drain()
    writer.close()  # the process dies here: its cursor never moved
    assert await store.cursor(CURSOR) == 0
    later = await record_outcomes(store, account, ["c@example.test"])
    writer = LogWriter(store, tmp_path / "logs")
    try:
        assert await writer.drain() == 1
    finally:
        writer.close()
    assert [r["id"] for r in records(tmp_path / "logs" / "deliveries.log")] == first + later
    assert await store.cursor(CURSOR) == (await store.events())[-1].id


async def test_a_line_of_another_store_with_the_same_event_id_is_not_taken_for_one_written(
    store: SqliteStore, tmp_path: Path
) -> None:
    """Log files kept while the store was replaced by a new one: its event ids start again at 1."""
    account = await an_account(store)
    path = tmp_path / "logs" / "deliveries.log"
    path.parent.mkdir()
    old = '{"time": "2026-01-01 00:00:00", "event": "delivery", "event_id": 1, "id": "old"}\n'
    path.write_text(old)
    delivered = await record_outcomes(store, account, ["a@example.test"])
    assert [stored.id for stored in await store.events()] == [1]
    writer = LogWriter(store, tmp_path / "logs")
    try:
        assert await writer.drain() == 1
    finally:
        writer.close()
    assert [r["id"] for r in records(path)] == ["old", *delivered]
