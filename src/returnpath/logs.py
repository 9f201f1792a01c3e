"""The JSON-lines log files, written from events, and read back by `returnpath logs`.

One writer (the `serve` supervisor) tails the events table in id order and appends each event
whose kind has a log (`core.events.LOGS`) to `<logs>/<name>.log`, then moves a cursor kept in
the store. Events commit before anyone is told "OK", so the logs lose nothing: after a crash
the writer resumes from its cursor. The price is that an event written just before a crash,
whose cursor move did not commit, may appear twice; each line carries its `event_id` so
readers can tell.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .core.events import LOGS, log_record
from .core.ports import Store

CURSOR = "logs"
BATCH = 2000


class LogWriter:
    def __init__(self, store: Store, folder: Path, *, poll_interval: float = 0.2) -> None:
        self.store = store
        self.folder = folder
        self.poll_interval = poll_interval
        self._files: dict[str, TextIO] = {}

    def _file(self, name: str) -> TextIO:
        handle = self._files.get(name)
        if handle is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = open(self.folder / f"{name}.log", "a", encoding="utf-8")  # noqa: SIM115
            self._files[name] = handle
        return handle

    async def drain(self) -> int:
        """Write every event committed so far; returns how many lines were written."""
        written = 0
        cursor = await self.store.cursor(CURSOR)
        while True:
            batch = await self.store.events(after=cursor, limit=BATCH)
            if not batch:
                return written
            touched: set[str] = set()
            for stored in batch:
                name = LOGS.get(stored.event.kind)
                if name is not None:
                    line = json_line(log_record(stored.id, stored.event))
                    self._file(name).write(line + "\n")
                    touched.add(name)
                    written += 1
            for name in touched:
                self._files[name].flush()
                os.fsync(self._files[name].fileno())
            cursor = batch[-1].id
            await self.store.set_cursor(CURSOR, cursor)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set, then drain once more."""
        while not stop.is_set():
            await self.drain()
            try:
                await asyncio.wait_for(stop.wait(), self.poll_interval)
            except TimeoutError:
                pass
        await self.drain()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


# ---- reading -------------------------------------------------------------------------------


def read_records(
    path: Path, *, since: float | None = None, follow: bool = False, poll: float = 0.5, stop_after: float | None = None
) -> Iterator[dict[str, Any]]:
    """The records of a log file, oldest first; with `follow`, wait for new ones (tail -f).

    A rotated or truncated file is reopened from its start. Lines that are not JSON (a torn
    last line, say) are skipped. `stop_after` bounds how long `follow` waits (for tests).
    """
    deadline = None if stop_after is None else time.monotonic() + stop_after
    handle: BinaryIO | None = None
    inode = None
    while True:
        if handle is None and path.exists():
            handle = open(path, "rb")  # noqa: SIM115
            inode = os.fstat(handle.fileno()).st_ino
        if handle is not None:
            while line := handle.readline():
                if not line.endswith(b"\n"):
                    # A line still being written: read it whole next time.
                    handle.seek(-len(line), os.SEEK_CUR)
                    break
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if since is None or record.get("timestamp", 0) >= since:
                    yield record
        if not follow or (deadline is not None and time.monotonic() > deadline):
            break
        time.sleep(poll)
        if handle is not None:
            try:
                stat = path.stat()
                moved = stat.st_ino != inode or stat.st_size < handle.tell()
            except FileNotFoundError:
                moved = True
            if moved:
                handle.close()
                handle = None
    if handle is not None:
        handle.close()


# What a value from outside (a remote server's reply, a recipient address) must not bring into
# a line on someone's terminal: C0 and C1 controls and DEL (cursor moves, colours, a carriage
# return that hides what came before), the line and paragraph separators (a line break to
# JavaScript and to Python's str.splitlines) and the bidi controls (U+202E shows text reversed).
# json.dumps(..., ensure_ascii=False) escapes only C0; these become \uXXXX, in JSON and in text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(text: str) -> str:
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def json_line(record: dict[str, Any]) -> str:
    """A log record as one JSON line in which no character can break or disguise the line."""
    return _escape(json.dumps(record, ensure_ascii=False))


def format_record(record: dict[str, Any]) -> str:
    """One human-readable line for a log record, control and bidi characters escaped."""
    reply = " ".join(str(record[k]) for k in ("code", "status") if record.get(k) is not None)
    parts = [record.get("time", "?"), record.get("event", "?"), record.get("id", "?"), record.get("recipient", "?")]
    if record.get("state"):
        parts.append(f"at {record['state']}")
    if reply:
        parts.append(reply)
    if record.get("description"):
        parts.append(str(record["description"]).replace("\n", " ")[:200])
    return "  ".join(_escape(str(p)) for p in parts)
