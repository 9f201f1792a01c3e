"""SQLite connections: one writer thread that commits in groups, and a few reader threads.

Durability: WAL with `synchronous = FULL`, so a commit is on disk (fsynced) before any caller
hears "OK" — that survives power loss, which `NORMAL` in WAL mode does not. To keep fsyncs from
capping throughput, writes are group-committed: every write is a function queued to the one
writer thread, which runs all functions waiting at that moment in one transaction (each in a
savepoint, so one failing write does not undo the others) and commits once. Under light load
that is a transaction per write; under heavy load hundreds of writes share one fsync.

Several processes may open the same file (the worker processes of `serve`); the busy timeout
makes their writers take turns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import secrets
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from ...errors import StoreError
from .. import migration_files

log = logging.getLogger(__name__)

T = TypeVar("T")
Op = Callable[[sqlite3.Connection], Any]

MAX_BATCH = 512
BUSY_TIMEOUT_MS = 30_000


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if (why := foreign(conn)) is not None:  # before WAL mode, which would change the file already
        conn.close()
        raise StoreError(why)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class SqliteDatabase:
    """An SQLite file opened for asyncio callers."""

    def __init__(self, path: Path, readers: int = 4) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[Op, asyncio.Future[Any], asyncio.AbstractEventLoop] | None] = (
            queue.SimpleQueue()
        )
        self._writer: threading.Thread | None = None
        self._reader_count = readers
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the file and schema if needed and start the writer thread."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            before = schema_version(conn)
            after = migrate(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the database {self.path}: {exc}") from None
        if 0 < before < after:
            # Any command migrates an SQLite file it opens (one node: nobody else to wait for),
            # so say it: from now on the returnpath that wrote the file refuses it, and only a
            # backup taken before brings that one back (README, Upgrading).
            log.warning(
                "%s migrated from schema version %d to %d: an earlier returnpath no longer opens it",
                self.path,
                before,
                after,
            )
        self._readers = ThreadPoolExecutor(max_workers=self._reader_count, thread_name_prefix="sqlite-read")
        self._local = threading.local()
        self._writer = threading.Thread(target=self._write_loop, args=(conn,), name="sqlite-write", daemon=True)
        self._writer.start()

    def migrate(self) -> tuple[int, int]:
        """Bring the file to the newest schema; (version before, version after)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            try:
                before = schema_version(conn)
                return before, migrate(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot migrate the database {self.path}: {exc}") from None

    def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    async def write(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` in a transaction; returns after the commit is durable."""
        if self._writer is None:
            raise StoreError("the database is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((op, future, loop))
        return await future

    async def read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Run `op` on a reader connection (sees everything committed before it starts)."""
        if self._readers is None:
            raise StoreError("the database is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, op)

    def _read(self, op: Callable[[sqlite3.Connection], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._reader_conns.append(conn)
        try:
            return op(conn)
        except sqlite3.Error as exc:
            raise StoreError(f"database read failed: {exc}") from None

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is None:
                break
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit(conn, batch)
        conn.close()

    def _commit(
        self, conn: sqlite3.Connection, batch: list[tuple[Op, asyncio.Future[Any], asyncio.AbstractEventLoop]]
    ) -> None:
        results: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, _, _ in batch:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((True, op(conn)))
                    conn.execute("RELEASE op")
                except Exception as exc:  # noqa: BLE001 - handed to the caller who asked
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    if isinstance(exc, sqlite3.Error):
                        exc = StoreError(f"database write failed: {exc}")
                    results.append((False, exc))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.rollback()
            error = StoreError(f"database commit failed: {exc}")
            results = [(False, error)] * len(batch)
        # One wake-up of each caller's event loop for the whole batch, not one per write: waking
        # a loop from another thread writes to its self-pipe, which costs about as much as a
        # small write does.
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], bool, Any]]] = {}
        for (_, future, loop), (ok, value) in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((future, ok, value))
        for loop, settled in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, settled)
            except RuntimeError:  # the caller's loop has closed; nobody is waiting any more
                pass


def _resolve(settled: list[tuple[asyncio.Future[Any], bool, Any]]) -> None:
    for future, ok, value in settled:
        if future.cancelled():
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def migrations() -> list[tuple[int, str]]:
    """The schema's versions after the first, in order: (version, SQL) from
    `migrations/NNNN_what.sql`. Version 1 is `schema.sql` as released before versioning."""
    return migration_files(resources.files(__package__).joinpath("migrations"))


def newest() -> int:
    """The newest schema version this code knows (1, schema.sql, when there is no migration)."""
    steps = migrations()
    return steps[-1][0] if steps else 1


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def pending_migration(path: Path) -> tuple[int, int] | None:
    """(the file's schema version, this code's) when opening the file would migrate it; None
    when it is at this code's version, newer (refused at open), or not there. Reads only."""
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path)
        try:
            version = schema_version(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # opening says what is wrong
    known = newest()
    return (version, known) if 0 < version < known else None


#: The tables of the first schema (0.1's, before user_version counted), which every file
#: returnpath has written since has; any one of them makes a file returnpath's (a file of 0.1
#: that has some only, as a test or a repair left it, is brought up to date, not refused).
FIRST_TABLES = frozenset({"accounts", "messages", "deliveries", "attempts", "events", "cursors", "loops"})


def foreign(conn: sqlite3.Connection) -> str | None:
    """Why the file is no returnpath database, or None. A file at version 0 is new or from
    before versioning, which `migrate` brings up to date; but one with tables and none of
    FIRST_TABLES is another program's database (a [storage] url or `store copy --to` that
    names the wrong file): returnpath's tables are not to be written into it. PostgreSQL
    refuses such a database likewise (postgresql/database.py, migrate)."""
    if schema_version(conn) != 0:
        return None
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    tables = [name for name in tables if not name.startswith("sqlite_")]
    if not tables or FIRST_TABLES.intersection(tables):
        return None
    file = conn.execute("PRAGMA database_list").fetchone()[2]
    shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
    return f"{file} is not a returnpath database: it has tables ({shown}) but none of returnpath's"


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the file's schema to the newest version this code knows (`PRAGMA user_version`),
    one version per transaction, and return that version. A file written by a newer returnpath
    is refused rather than used with a schema this code does not know."""
    known = newest()
    version = schema_version(conn)
    if version > known:
        raise StoreError(
            f"the database is at schema version {version}, newer than this returnpath "
            f"knows ({known}): upgrade returnpath"
        )
    if version == 0:
        # A new file, or one from before versioning: schema.sql is idempotent and the columns
        # added later are added if missing.
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(
                resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")
            ):
                conn.execute(statement)
            _add_columns(conn)
            conn.execute("PRAGMA user_version = 1")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        version = 1
    for number, sql in migrations():
        if number <= version:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if schema_version(conn) < number:  # another process may have migrated meanwhile
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
        version = number
    return version


def _statements(script: str) -> list[str]:
    """Split a schema script into statements (executescript would commit on its own)."""
    statements, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not pending.strip().startswith("--"):
        statements.append(pending.strip())
    return [
        s for s in statements if s and not all(ln.strip().startswith("--") or not ln.strip() for ln in s.splitlines())
    ]


# Columns added to a table after it was first released: CREATE TABLE IF NOT EXISTS leaves an
# older file's table as it was, so they are added when such a file is opened.
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "loops": (("previous_secret", "TEXT"), ("previous_until", "REAL")),
}


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, columns in ADDED_COLUMNS.items():
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind in columns:
            if name not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


def backup(path: Path, target: Path) -> int:
    """Copy the store at `path` into the new file `target` as one consistent snapshot, while
    `serve` goes on writing to it, and return the copy's schema version.

    A `cp` of the file is no backup of a live store: in WAL mode the latest commits are in the
    -wal file until a checkpoint moves them into the file, so a copy of the file alone lacks
    them (mail already answered 250), and one of both files taken while they change may catch
    either half written. SQLite's online backup reads every page through a read transaction of
    its own (https://www.sqlite.org/backup.html; one step, so the snapshot is whole) and the
    writers go on meanwhile.

    The copy is written to a file of its own beside `target` (a new name each time, so that two
    backups at once, or a file of the user's that happens to bear the name, are never written
    over or removed), checked and synced, then linked to `target`, which fails rather than
    replaces a file that appeared there meanwhile. Whatever stops it, Ctrl-C included, removes
    that file: `target` is a whole backup or nothing."""
    if not path.is_file():
        raise StoreError(f"there is no store at {path}")
    size = path.stat().st_size
    if target.is_dir():
        raise StoreError(f"{target} is a folder: name the new file to write, e.g. {target / 'returnpath.db'}")
    if target.exists():
        raise StoreError(f"{target} exists already: a backup goes to a new file")
    partial: Path | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # Named before it is made, not by mkstemp: a Ctrl-C between mkstemp's return and the
        # assignment of its name left the file behind (seen in CI). A name is random enough to
        # be nobody else's; one that is taken is given up unremoved, and another drawn.
        while partial is None:
            partial = target.parent / f".{target.name}.{secrets.token_hex(8)}.partial"
            try:
                os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:
                partial = None
        source = connect(path)
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
            check = copy.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"the backup of {path} does not check out: {check}")
            version = schema_version(copy)
        finally:
            copy.close()
            source.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        try:
            os.link(partial, target)  # unlike rename, refuses a target that is there (link(2))
        except FileExistsError:
            raise StoreError(f"{target} was made by something else meanwhile: a backup goes to a new file") from None
        folder = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except (sqlite3.Error, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StoreError(
            f"cannot back up {path} to {target}: {reason}; name a new file in a folder this user may write, "
            f"with room for the store ({size / 1e6:.1f} MB)"
        ) from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    return version
