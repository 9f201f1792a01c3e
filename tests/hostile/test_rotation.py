"""Log rotation: after `mv failures.log failures.log.1` new lines go to a new failures.log.

logrotate (or a person) moves the files away; `serve` notices a moved file before its next line
and starts a new one at the same path, and reopens its files at once on SIGHUP, which is what
the README's logrotate example sends from `postrotate`, with the pid in `returnpath.lock`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from returnpath.logs import LogWriter
from returnpath.store.sqlite import SqliteStore
from tests.delivery.sinks import Sink, sink  # noqa: F401 - a fixture
from tests.e2e.conftest import ServerFactory, make_server  # noqa: F401 - a fixture
from tests.e2e.harness import wait_for

from .events import an_account, record_outcomes

MESSAGE = b"From: app@example.com\r\nSubject: hello\r\n\r\nHello.\r\n"
# The README's logrotate example runs this in `postrotate`, with its data folder.
POSTROTATE = 'flock -n {data}/returnpath.lock true || kill -HUP "$(cat {data}/returnpath.lock)"'


def ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


async def test_a_moved_log_file_gets_no_more_lines(store: SqliteStore, tmp_path: Path) -> None:
    account = await an_account(store)
    folder = tmp_path / "logs"
    writer = LogWriter(store, folder)
    try:
        first = await record_outcomes(store, account, ["a@example.test", "rcpt-550-a@example.test"])
        assert await writer.drain() == 2
        for name in ("deliveries", "failures"):
            os.rename(folder / f"{name}.log", folder / f"{name}.log.1")
        second = await record_outcomes(store, account, ["b@example.test", "rcpt-550-b@example.test"])
        assert await writer.drain() == 2
    finally:
        writer.close()
    assert (ids(folder / "deliveries.log.1"), ids(folder / "deliveries.log")) == ([first[0]], [second[0]])
    assert (ids(folder / "failures.log.1"), ids(folder / "failures.log")) == ([first[1]], [second[1]])


def test_serve_follows_rotation_with_and_without_sighup(
    make_server: ServerFactory,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    logs = server.data / "logs"
    log, rotated = logs / "failures.log", logs / "failures.log.1"

    def fail(recipient: str) -> str:
        [delivery_id] = server.submit_smtp("app@example.com", [recipient], MESSAGE).values()
        server.wait_logged("failures", [delivery_id])
        return delivery_id

    first = fail("rcpt-550@first.example.net")
    # What logrotate does: move the file away, then run postrotate.
    os.rename(log, rotated)
    result = subprocess.run(["sh", "-c", POSTROTATE.format(data=server.data)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    wait_for(log.exists, what="failures.log to be opened again on SIGHUP")
    wait_for(lambda: "log files reopened" in server.stderr(), what="the reopening in serve's log")
    assert server.running
    second = fail("rcpt-550@second.example.net")
    assert (ids(rotated), ids(log)) == ([first], [second])

    # Moved without a signal (a logrotate without postrotate, a person's mv): noticed by the
    # file's inode before the next line.
    os.rename(log, logs / "failures.log.2")
    third = fail("rcpt-550@third.example.net")
    assert (ids(rotated), ids(logs / "failures.log.2"), ids(log)) == ([first], [second], [third])
    assert server.stop() == 0
    # Stopped, serve holds no lock: postrotate signals nobody (the pid in the file is stale).
    result = subprocess.run(["sh", "-c", POSTROTATE.format(data=server.data)], capture_output=True, text=True)
    assert (result.returncode, result.stderr) == (0, "")


def test_logs_follow_loses_no_line_across_a_rotation(
    make_server: ServerFactory,  # noqa: F811
    sink: Sink,  # noqa: F811
) -> None:
    # `returnpath logs --follow` reads the file every half second; a line written just before
    # logrotate moves the file is in the old file only. The follower must read the old file to
    # its end before it goes on with the new one.
    server = make_server(workers=1, delivery__routes={"*": sink.route})
    log = server.data / "logs" / "deliveries.log"
    sent = list(server.submit_smtp("app@example.com", ["first@example.net"], MESSAGE).values())
    server.wait_logged("deliveries", sent)
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "returnpath.cli",
            "logs",
            "deliveries",
            "--follow",
            "--json",
            "--config",
            str(server.config_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert follower.stdout is not None
    followed: list[str] = []
    reader = threading.Thread(target=lambda: followed.extend(json.loads(line)["id"] for line in follower.stdout))  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: followed == sent, what="the follower to print the line already there")
        for rotation in range(3):
            [delivery_id] = server.submit_smtp("app@example.com", [f"r{rotation}@example.net"], MESSAGE).values()
            sent.append(delivery_id)
            server.wait_logged("deliveries", [delivery_id])
            # At once, most likely before the follower's next read; then postrotate.
            os.rename(log, log.with_name(f"deliveries.log.{rotation + 1}"))
            subprocess.run(["sh", "-c", POSTROTATE.format(data=server.data)], check=True)
            wait_for(lambda: delivery_id in followed, what="the follower to print the line of the moved file")  # noqa: B023
        [last] = server.submit_smtp("app@example.com", ["last@example.net"], MESSAGE).values()
        sent.append(last)
        wait_for(lambda: last in followed, what="the follower to print the line after the rotations")
    finally:
        follower.terminate()
        follower.wait(10)
        reader.join(10)
        follower.stdout.close()
    assert followed == sent
