"""The JSON-lines log files, written from events, and read back by `returnpath logs`.

One writer (the `serve` supervisor) tails the events table in id order and appends each event
whose kind has a log (`core.events.LOGS`) to `<logs>/<name>.log`, then moves a cursor kept in
the store. Events commit before anyone is told "OK", so the logs lose nothing: after a crash
the writer resumes from its cursor. Lines written just before a crash whose cursor move did
not commit are not written again: a file's last lines (a batch's worth) are read when the
writer opens it, and a line it would write that is one of them, byte for byte, is skipped.
(Byte for byte, with its `event_id`: so never a line of another store that happens to
share the id.)

A batch of lines is appended whole or not at all: when a write fails (a full disk), every file
of the batch is cut back to where it was, the cursor stays, and the writer tries again with
backoff, logging that it is stalled and, later, that it resumed. A line torn by a crash in
the middle of a write is cut off when the file is next opened. A file that was moved away or
removed (log rotation) is noticed before each batch and the writer starts a new one at the
same path; SIGHUP makes it reopen its files at once.

On a store several nodes share (PostgreSQL), each node's writer writes the events its own
workers recorded, after its own cursor (`logs/<node>`), so that every event is in the files of
one node; each line names the `node` that recorded it. A node gone for good (its machine dead)
would leave its last events, recorded but not yet written, only in the store, and hold purges
back. So the writer of a node *holds* each node whose events it writes, in the store (the
node's row: `log_holder`, until `log_held_until`), renewing the hold four times in each
`[node] takeover_after` (60 s): its own node, and every node silent (no heartbeat) for that long
whose hold has run out. It writes a node it took over like its own: that node's events after
that node's cursor, to its own files, the lines naming the node that recorded them, and moves
that node's cursor. Taking a hold is one UPDATE per node row, atomic on both backends, so that
of several live nodes one writes a gone node's events at a time; the others see it held. A node
that comes back finds its log held and waits; the holder sees its heartbeat at its next renewal
and hands it back, and it goes on from its cursor, which is past what was written for it. A
cursor moves by compare-and-set from where its writer read it, so that a writer whose hold ran
out while it was stopped never moves a cursor back: it notices, says so, and lets go. Purges
delete no event that waits for a writer (`logged`), and a node with none waiting (idle, or taken
over) holds nothing back. `returnpath nodes --forget NAME` removes a node gone for good once
none of its events waits.

What holds: every event is written, to the files of the node that recorded it or, when that
node went silent for good before writing it, of the one node that held it after it. A node
that restarts after a crash between appending a batch and moving the cursor skips the lines
already at the end of its files (above). An event is in two nodes' files only when a writer
stopped in that same moment and another node wrote the batch to its own files meanwhile: it
crashed and was taken over before it came back, or it paused longer than its hold. Both lines
carry the same `event_id`; the pause is logged as an error naming the events.

The workers, which serve `/healthz`, see the writer only through the store: `LogWatch` reads
its cursor and the first event after it, and calls the writer stalled when events have been
waiting for `[logs] stall_after` without the cursor moving. That needs no write of the
writer's own, so it works when the disk is full, or the supervisor hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .core.events import LOGS, log_record
from .core.ports import Store
from .errors import StoreError
from .polling import woken

log = logging.getLogger("returnpath.logs")

CURSOR = "logs"


def cursor_name(node: str | None) -> str:
    """The store cursor of the log writer of `node` (None: the one writer of an SQLite store)."""
    return CURSOR if node is None else f"{CURSOR}/{node}"


BATCH = 2000
TAKEOVER_AFTER = 60.0  # seconds of silence after which a node's events are written by another
MAX_BACKOFF = 5.0  # seconds between tries while writing fails
REPORT_EVERY = 60.0  # seconds between log messages while the writer stays stalled
# The longest wait between two reads of the store while nothing new comes (the relay idle): from
# poll_interval it doubles up to this, and goes back to poll_interval once lines come. An idle
# node's supervisor woke for its reads 10 times a second (strace -c), 62 wakeups in all.
IDLE_POLL = 1.0


class LogWriter:
    """Appends the events' lines to the log files; survives a full disk, follows rotation, and
    on a shared store writes the events of nodes that are gone too (module docstring)."""

    def __init__(
        self,
        store: Store,
        folder: Path,
        *,
        node: str | None = None,
        poll_interval: float = 0.2,
        takeover_after: float = TAKEOVER_AFTER,
        idle_poll: float = IDLE_POLL,
    ) -> None:
        self.store = store
        # The longest wait between reads while nothing new comes (run); the supervisor keeps it
        # well under `[logs] stall_after`, lest an event waiting for it look like a stall.
        self.idle_poll = max(poll_interval, idle_poll)
        # On a store several nodes share, each node writes the events its own workers
        # recorded (`node`), so that every event is in the files of exactly one node.
        self.node = node
        self.folder = folder
        self.poll_interval = poll_interval
        self.takeover_after = takeover_after
        self._files: dict[str, int] = {}  # log name -> open file descriptor
        self._tails: dict[str, set[bytes]] = {}  # log name -> its last lines when opened
        # By node: the last event written to the files, ahead of the store's cursor when
        # moving that failed, so that the same lines are not written again meanwhile (kept
        # while another writer holds the node: moved past when this one holds it again).
        self._written: dict[str | None, int] = {}
        # The nodes whose events this writer writes (its own first), as the store granted
        # them, until when (wall time), and when to ask again (monotonic time).
        self.held: list[str] = []
        self._held_until = float("-inf")
        self._hold_at = float("-inf")
        self._yielded = False  # whether another writer holds this one's own node
        self.stalled_since: float | None = None  # wall time of the first failure of a stall
        self.error: str | None = None  # what went wrong last, while stalled
        self._reported_at = 0.0

    # ---- the files -------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def _file(self, name: str) -> int:
        """The open log file, opened anew if the one at its path is another (rotated) or gone."""
        path = self._path(name)
        fd = self._files.get(name)
        if fd is not None and not _is_at(fd, path):
            self._close(name)
            fd = None
        if fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                cut = _cut_torn_tail(fd)
            except OSError:
                os.close(fd)
                raise
            if cut:
                log.warning("%s ended in a torn line (%d bytes, from an interrupted write): cut off", path, cut)
            self._tails[name] = _last_lines(fd, BATCH)
            self._files[name] = fd
        return fd

    def _close(self, name: str) -> None:
        fd = self._files.pop(name, None)
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _append(self, lines: dict[str, list[str]]) -> None:
        """Append each log's lines, durably, whole: on any error every file of the batch is cut
        back to its size before it, so that neither a torn line nor a line written twice is left."""
        started: list[tuple[str, int, int]] = []  # name, file descriptor, size before
        current = ""  # the file being written, for the error
        try:
            for current, chunk in lines.items():
                fd = self._file(current)
                started.append((current, fd, os.fstat(fd).st_size))
                _write_all(fd, "".join(chunk).encode())
            for name, fd, _ in started:
                current = name
                os.fsync(fd)
        except OSError as exc:
            for name, fd, size in started:
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    self._close(name)  # a torn tail is cut when it is opened again
            raise OSError(exc.errno, exc.strerror, str(self._path(current))) from None

    def _tail(self, name: str) -> set[bytes]:
        """The file's last lines when it was opened (opening it if need be)."""
        self._file(name)
        return self._tails[name]

    def reopen(self) -> None:
        """Close the log files and open them again at their paths (SIGHUP, after rotation)."""
        names = list(self._files)
        for name in names:
            self._close(name)
        for name in names:
            try:
                self._file(name)
            except OSError as exc:
                log.error("cannot reopen %s: %s; trying again at the next line", self._path(name), exc.strerror)
        log.info("log files reopened")

    def close(self) -> None:
        for name in list(self._files):
            self._close(name)

    # ---- writing ---------------------------------------------------------------------------

    async def drain(self) -> int:
        """Write every event committed so far (of each node this writer holds, on a shared
        store); returns how many lines were written.

        Raises OSError when a log file cannot be written and StoreError when the store cannot
        be read or a cursor moved; nothing is lost then, the next call starts where this
        one stopped."""
        if self.node is None:
            return await self._drain(None)
        await self._hold()
        written = 0
        for node in list(self.held):
            written += await self._drain(node)
        return written

    async def _drain(self, node: str | None) -> int:
        """Write the events of `node` (None: every event) after its cursor."""
        written = 0
        cursor = await self.store.cursor(cursor_name(node))
        pending = self._written.get(node, 0)
        if pending > cursor:  # a move that failed last time
            if not await self._move(node, cursor, pending):
                return 0
            cursor = pending
        while True:
            if node is not None:
                await self._hold()  # renewed as it goes, over a long backlog
                if node not in self.held:
                    return written
            batch = await self.store.events(after=cursor, limit=BATCH, node=node)
            if not batch:
                return written
            lines: dict[str, list[str]] = {}
            for stored in batch:
                name = LOGS.get(stored.event.kind)
                if name is not None:
                    record = log_record(stored.id, stored.event, stored.node)
                    lines.setdefault(name, []).append(json_line(record) + "\n")
            for name, chunk in lines.items():
                tail = self._tail(name)  # not again what was written just before a crash
                chunk[:] = [line for line in chunk if line.encode() not in tail]
            self._append(lines)
            written += sum(len(chunk) for chunk in lines.values())
            self._written[node] = batch[-1].id
            if not await self._move(node, cursor, batch[-1].id):
                return written
            cursor = batch[-1].id

    async def _move(self, node: str | None, old: int, new: int) -> bool:
        """Move the cursor of `node` from `old` (read before the lines were written) to `new`;
        False when another writer moved it meanwhile: this one's hold had run out (it was
        stopped, or the store slow) and the other one took over, so these lines are the
        other's too. This writer stops writing that node's events until granted it again."""
        if await self.store.move_cursor(cursor_name(node), old, new):
            self._written.pop(node, None)
            return True
        # `_written` stays: the lines are in this node's files, so that when it holds the node
        # again, the cursor moves past them (if the other writer has not yet).
        if node in self.held:
            self.held.remove(node)
        self._hold_at = float("-inf")
        log.error(
            "another node took over writing the events of node %s while this one was writing them: "
            "the lines of events %d to %d may be in its log files as well as in this node's",
            node,
            old + 1,
            new,
        )
        return False

    async def _hold(self) -> None:
        """Ask the store which nodes' events to write, when due: its own node (unless another
        node took it over while this one was silent), and each node silent for
        `takeover_after` that no other writer holds."""
        assert self.node is not None
        now = time.time()
        if time.monotonic() < self._hold_at and now < self._held_until:
            return
        held = await self.store.hold_logs(self.node, now, now + self.takeover_after, now - self.takeover_after)
        self._held_until = now + self.takeover_after
        own = self.node in held
        # Renewed four times a hold; asked again every second while another holds its own.
        self._hold_at = time.monotonic() + (self.takeover_after / 4 if own else min(1.0, self.takeover_after / 4))
        for gone in sorted(set(held) - set(self.held) - {self.node}):
            log.warning(
                "node %s has been silent for more than %.0f s: this node writes its events to its log files now",
                gone,
                self.takeover_after,
            )
        for back in sorted(set(self.held) - set(held) - {self.node}):
            log.info("node %s is back (it writes its own events again) or forgotten: this node lets it go", back)
        if not own and not self._yielded:
            log.warning(
                "another node writes this node's events, taken for gone while it was silent; "
                "this node writes them again when that one lets go (within %.0f s)",
                self.takeover_after / 4,
            )
        self._yielded = not own
        self.held = sorted(held, key=lambda node: (node != self.node, node))

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set, then drain once more. Never raises: while writing fails it
        tries again, backing off up to MAX_BACKOFF seconds, and says so in the process's log."""
        delay = self.poll_interval
        while not stop.is_set():
            written = await self.attempt()
            if written is None:  # failed: back off
                delay = min(delay * 2, MAX_BACKOFF)
            elif written:
                delay = self.poll_interval
            else:  # nothing new: read less often while the relay is idle, up to IDLE_POLL
                delay = min(max(delay, self.poll_interval) * 2, self.idle_poll)
            await woken(stop, delay)
        if await self.attempt() is None:
            log.error("log writer stopped with events not yet in the log files; they are written at the next start")

    async def attempt(self) -> int | None:
        """One drain: the lines written; None (logged) when it failed."""
        try:
            written = await self.drain()
        except Exception as exc:  # noqa: BLE001 - a full disk, the store away, or a bug: never die
            self._stalled(exc)
            return None
        if self.stalled_since is not None:
            log.warning(
                "log writer resumed after %.0f s stalled; %d lines written now",
                time.time() - self.stalled_since,
                written,
            )
            self.stalled_since = self.error = None
        return written

    def _stalled(self, exc: Exception) -> None:
        error = str(exc) or type(exc).__name__
        now = time.time()
        if self.stalled_since is None:
            self.stalled_since = now
        elif error == self.error and now - self._reported_at < REPORT_EVERY:
            return
        self.error, self._reported_at = error, now
        expected = isinstance(exc, (OSError, StoreError))
        log.error(
            "log writer stalled (%.0f s so far): %s; the events wait in the store, trying again",
            now - self.stalled_since,
            error,
            exc_info=None if expected else exc,
        )


async def logged(store: Store, nodes: Iterable[str | None]) -> int:
    """The newest event id up to which every event of `nodes` (None: of everybody, an SQLite
    store's one writer) is in the log files, for purges: the least of their cursors, except
    that a node none of whose events waits holds nothing back (an idle node, or one whose
    events another node has written since it went) — up to the highest cursor, below which
    no event can still be committed (ids ascend in commit order)."""
    cursors = {node: await store.cursor(cursor_name(node)) for node in nodes}
    bound = max(cursors.values(), default=0)
    for node, cursor in cursors.items():  # after reading every cursor: see above
        waiting = await store.events(after=cursor, limit=1, node=node)
        if waiting:
            bound = min(bound, waiting[0].id - 1)
    return bound


def _is_at(fd: int, path: Path) -> bool:
    """Whether `path` still names the open file `fd` (not moved away, removed or replaced)."""
    try:
        at_path = path.stat()
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (at_path.st_dev, at_path.st_ino) == (opened.st_dev, opened.st_ino)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _last_lines(fd: int, count: int) -> set[bytes]:
    """The file's last `count` lines, each with its newline."""
    size = os.fstat(fd).st_size
    start, tail = size, b""
    while start > 0 and tail.count(b"\n") <= count:
        start = max(0, start - 65536)
        tail = os.pread(fd, size - start, start)
    lines = tail.splitlines(keepends=True)
    return set(lines[-count:] if start == 0 else lines[1:][-count:])  # not a line cut in two


def _cut_torn_tail(fd: int) -> int:
    """Cut a last line that has no newline (a write interrupted by a crash); returns the bytes cut."""
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end < size:
        os.ftruncate(fd, end)
    return size - end


class LogWatch:
    """The log writer's progress as a worker sees it, through the store (for `/healthz`).

    Every few seconds it reads the writer's cursor and whether an event waits after it. The
    writer is *stalled* when events have been waiting for `stall_after` seconds while the
    cursor did not move. (Not the events' own times: an attempt recorded late, or a bounce
    processed from a backlog, has an old time and is written at once.)
    """

    def __init__(
        self, store: Store, stall_after: float, *, node: str | None = None, interval: float | None = None
    ) -> None:
        self.store = store
        self.node = node  # the writer watched: this node's (see LogWriter)
        self.stall_after = stall_after
        self.interval = interval if interval is not None else max(0.05, min(stall_after / 4, 5.0))
        self.cursor: int | None = None
        self.moved_at = time.monotonic()  # when the cursor last moved, or nothing was waiting
        self.waiting = False  # whether events wait after the cursor
        self.error: str | None = None  # the store could not be read

    async def check(self) -> None:
        try:
            cursor = await self.store.cursor(cursor_name(self.node))
            waiting = bool(await self.store.events(after=cursor, limit=1, node=self.node))
        except StoreError as exc:
            self.error = str(exc)
            return
        self.error = None
        if cursor != self.cursor or not waiting:
            self.moved_at = time.monotonic()
        self.cursor, self.waiting = cursor, waiting

    async def run(self, stop: asyncio.Event) -> None:
        """Check every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            await self.check()
            try:
                await asyncio.wait_for(stop.wait(), self.interval)
            except TimeoutError:
                pass

    def report(self) -> dict[str, Any]:
        """`{"state": "ok"}`; `"stalled"` with `stalled_for` (seconds) and the `cursor`; or
        `"unknown"` with the `error` when the store cannot be read."""
        if self.error is not None:
            return {"state": "unknown", "error": self.error}
        still = time.monotonic() - self.moved_at
        if self.waiting and still >= self.stall_after:
            return {"state": "stalled", "stalled_for": round(still), "cursor": self.cursor}
        return {"state": "ok"}


# ---- reading -------------------------------------------------------------------------------


def read_records(
    path: Path,
    *,
    since: float | None = None,
    follow: bool = False,
    poll: float = 0.5,
    stop_after: float | None = None,
    last: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The records of a log file, oldest first; with `follow`, wait for new ones (tail -f).
    With `last`, of the records there now only the last that many (those since `since`).

    A rotated file is read to its end, then the new one at its path from its start; a
    truncated file is read again from its start. Lines that are not JSON (a torn last line,
    say) are skipped. `stop_after` bounds how long `follow` waits (for tests).
    """
    deadline = None if stop_after is None else time.monotonic() + stop_after
    handle: BinaryIO | None = None
    inode = 0
    try:
        if last is not None and path.exists():
            handle = open(path, "rb")  # noqa: SIM115
            inode = os.fstat(handle.fileno()).st_ino
            if since is None:  # the last lines are the last records: start there, as tail does
                handle.seek(_tail_offset(handle, last))
            kept: deque[dict[str, Any]] = deque(maxlen=last)
            kept.extend(_records(handle, since))
            yield from kept
            if not follow:
                return
        while True:
            if handle is None and path.exists():
                handle = open(path, "rb")  # noqa: SIM115
                inode = os.fstat(handle.fileno()).st_ino
            if handle is not None:
                yield from _records(handle, since)
            if not follow or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(poll)
            if handle is not None and _replaced(path, handle, inode):
                # The lines written to the old file since the last read come first: a rotation
                # between two reads must not lose them.
                yield from _records(handle, since)
                handle.close()
                handle = None
    finally:  # also when the reader stops early (Ctrl-C, a closed pipe, generator.close())
        if handle is not None:
            handle.close()


def _records(handle: BinaryIO, since: float | None) -> Iterator[dict[str, Any]]:
    """The records of the whole lines from `handle`'s position on (since `since`); a line
    still being written is left to be read whole next time."""
    while line := handle.readline():
        if not line.endswith(b"\n"):
            handle.seek(-len(line), os.SEEK_CUR)
            break
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue
        if since is None or record.get("timestamp", 0) >= since:
            yield record


def _replaced(path: Path, handle: BinaryIO, inode: int) -> bool:
    """Whether the file a follower reads is no longer the one at `path`: moved away (`serve`
    notices that before its next line and writes that line to a new file) or truncated."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return True
    return stat.st_ino != inode or stat.st_size < handle.tell()


def _tail_offset(handle: BinaryIO, lines: int, block: int = 65536) -> int:
    """Where the last `lines` whole lines of the file begin (0: it has no more than that),
    found by reading back from its end a block at a time."""
    end = handle.seek(0, os.SEEK_END)
    position = end
    handle.seek(max(0, end - 1))
    # A line still being written (no newline yet) is not one of the last whole lines.
    newlines = 0 if handle.read(1) == b"\n" else -1
    while position > 0:
        start = max(0, position - block)
        handle.seek(start)
        chunk = handle.read(position - start)
        index = len(chunk)
        while (index := chunk.rfind(b"\n", 0, index)) >= 0:
            newlines += 1
            if newlines > lines:
                return start + index + 1
        position = start
    return 0


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
    """One human-readable line for a log record, control and bidi characters escaped.

    A bounce line says what came back (its `kind`: dsn, bounce, autoreply, complaint, other,
    ...) and the reason of a recognised failure, so that an out-of-office and a complaint are
    told apart without --json. A returned message that names no delivery (a report sent to
    postmaster@ that quotes no tracking address) has no id nor recipient: its line shows "-"
    and the address it came to instead.
    """
    reply = " ".join(str(record[k]) for k in ("code", "status") if record.get(k) is not None)
    recipient = record.get("recipient", "?")
    if recipient is None:  # a returned message that names no delivery
        came_to = ", ".join(str(r) for r in record.get("rcptto") or ())
        recipient = f"to {came_to}" if came_to else "-"
    parts = [record.get("time", "?"), record.get("event", "?"), record.get("id") or "-", recipient]
    if record.get("kind"):
        parts.append(record["kind"])
    if record.get("state"):
        parts.append(f"at {record['state']}")
    if reply:
        parts.append(reply)
    if record.get("event") == "bounce" and record.get("reason"):
        parts.append(record["reason"])
    if record.get("description"):
        parts.append(str(record["description"]).replace("\n", " ")[:200])
    return "  ".join(_escape(str(p)) for p in parts)
