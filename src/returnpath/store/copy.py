"""`returnpath store copy`: move a node's data from one store to another, between backends.

    await copy_store("sqlite:///old/returnpath.db", "postgresql://rp@db/returnpath")

What it does, in order:

1. Checks the source: it must exist and be at the newest schema this returnpath knows. It is
   only ever read (SQLite: opened `mode=ro`; PostgreSQL: a READ ONLY transaction), in one
   snapshot, so that a node still running on it cannot make the copy inconsistent.
2. Brings the target to the newest schema by opening it as the store (`SqliteStore` migrates,
   `PostgresStore` creates the schema in an empty database), then begins ONE transaction on it.
3. Refuses a target that already holds data (`InputError`: "the target already holds 3
   accounts: copy only into an empty store"). The few rows a store writes by itself without
   holding any mail (the seeded `stored_bytes` total, a heartbeat in `nodes`, log `cursors`,
   login throttling) are replaced by the source's.
4. Copies every table the two schemas share (TABLES first, in foreign-key order), the columns
   both sides have, in batches bounded in rows and in bytes (MIME and returned mail can be
   megabytes a row), with ids kept: events keep their order, which the log writer's cursors
   refer to. On PostgreSQL the identity sequences then continue after the highest id.
   The log writers' cursors are translated between the backends' schemes (logs.py): an SQLite
   store's one writer has one cursor (`logs`) for every event, a shared store's writers one
   per node (`logs/<node>`). From SQLite, each node that recorded events gets `logs`'s value,
   so that a PostgreSQL node of the same name does not write the copied events to its log
   files again; to SQLite, `logs` gets the least of the nodes' cursors (an event no node had
   written yet is written by the SQLite node). The SQLite node's row in `nodes` goes to a
   shared store only while some of its events are not written yet: one that stopped cleanly
   is listed no more there, as a PostgreSQL node that stops leaves the list.
5. Commits. Any failure before that rolls the target back to empty (its schema stays): both
   SQLite and PostgreSQL hold a transaction of any size (PostgreSQL in its heap, SQLite in
   its WAL, which grows to about the size of the data until the next checkpoint).

Types: SQLite keeps booleans as INTEGER 0/1, PostgreSQL as boolean; bytes stay byte-exact
(BLOB <-> bytea), times stay doubles. Errors are `InputError` (a refused target, a missing
source, an unsupported URL) or `StoreError` (an unreachable database, a schema too old).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, LiteralString, Protocol
from urllib.parse import quote

from ..config import display_url
from ..errors import InputError, StoreError

if TYPE_CHECKING:  # psycopg is imported when a PostgreSQL URL is given
    from psycopg import AsyncConnection, AsyncCursor, sql
    from psycopg.rows import TupleRow

Row = tuple[Any, ...]
Progress = Callable[[str, int], None]

# Every table of the schema (at the newest migration of each backend), parents before children, so that
# foreign keys hold at every insert. A table both sides have that is not listed (added by a
# later migration) is copied after these; tests/store/test_copy.py notices one.
TABLES = (
    "accounts",
    "messages",
    "deliveries",
    "attempts",
    "events",
    "cursors",
    "returns",
    "loops",
    "loop_events",
    "loop_posts",
    "auth_failures",
    "auth_logins",
    "stored_bytes",
    "nodes",
    "domains",
    "kept_bounce_domains",
    "dkim_keys",  # sealed with the instance's secret: copied as they are, opened only by nodes that have it
)
# Rows a store writes by itself, without any mail in it: replaced by the source's. Rows in any
# other table make the target "not empty".
BOOKKEEPING = frozenset({"cursors", "auth_failures", "auth_logins", "stored_bytes", "nodes"})
# Tables that are no data of the node: the schema's version, SQLite's own.
NOT_COPIED = frozenset({"schema_version", "sqlite_sequence"})

BATCH_BYTES = 32 * 1024 * 1024  # a batch holds at most this much of text and bytes (about)
CHUNK_BYTES = 4 * 1024 * 1024  # rows are fetched from the source about this much at a time
CHUNK_ROWS = 1000  # and at most this many


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # what the value is in Python: "int", "float", "text", "bytes" or "bool"
    pgtype: str = ""  # PostgreSQL's type name (udt_name: int8, float8, bool, ...) for binary COPY


Schema = dict[str, list[Column]]


async def copy_store(
    source: str, target: str, *, batch: int = 5000, progress: Progress | None = None
) -> dict[str, int]:
    """Copy every row of the store at `source` into the empty store at `target` (URLs as in
    `[storage] url`: sqlite:///PATH, relative to the current folder, or postgresql://...).
    Returns the rows copied per table. The source is never written; the target is written in
    one transaction, so that a failure leaves it empty. `progress(table, rows so far)` is
    called after each batch."""
    if batch < 1:
        raise InputError("batch must be at least 1")
    src, dst = _side(source), _side(target)
    if isinstance(src, _Sqlite) and isinstance(dst, _Sqlite) and src.path.resolve() == dst.path.resolve():
        raise InputError(f"the source and the target are the same file: {src.path}")
    try:
        await src.check_source()
        await dst.prepare_target()
        await src.begin_read()
        await dst.begin_write()
        copied = await _copy(src, dst, batch, progress)
        await dst.commit()
        return copied
    except BaseException:
        await dst.rollback()
        raise
    finally:
        await src.close()
        await dst.close()


async def _copy(src: _Side, dst: _Side, batch: int, progress: Progress | None) -> dict[str, int]:
    """The copy proper, in the open transactions of both sides."""
    have, want = await src.schema(), await dst.schema()
    shared = [t for t in TABLES if t in have and t in want]
    shared += sorted(t for t in have if t in want and t not in TABLES and t not in NOT_COPIED)
    await dst.lock(shared)
    for table in shared:
        if table in BOOKKEEPING:
            continue
        found = await dst.count(table)
        if found:
            raise InputError(f"the target {dst.display} already holds {found} {table}: copy only into an empty store")
    copied: dict[str, int] = {}
    for table in shared:
        if table in BOOKKEEPING:
            await dst.clear(table)
        by_name = {c.name: c for c in want[table]}
        columns = [c for c in have[table] if c.name in by_name]
        targets = [by_name[c.name] for c in columns]
        rows = _batches(src.read(table, columns), columns, batch)
        if table == "cursors" and src.shared != dst.shared:
            rows = _one_batch(_log_cursors(await _all(rows), await src.event_nodes(), to_shared=dst.shared))
        if table == "nodes" and dst.shared and not src.shared:
            rows = _one_batch(await _nodes_with_unwritten_events(await _all(rows), columns, src, have["cursors"]))
        try:
            copied[table] = await dst.write(table, targets, _converted(rows, columns, targets), progress)
        except (TypeError, ValueError, OverflowError) as exc:  # a value the target's type refuses
            raise StoreError(f"copying {table} failed: {exc}") from None
    await dst.finish(shared)
    return copied


async def _all(batches: AsyncIterator[list[Row]]) -> list[Row]:
    return [row async for rows in batches for row in rows]


async def _one_batch(rows: list[Row]) -> AsyncIterator[list[Row]]:
    if rows:
        yield rows


async def _nodes_with_unwritten_events(
    rows: list[Row], columns: list[Column], src: _Side, cursors: list[Column]
) -> list[Row]:
    """The SQLite node's row in `nodes`, for a shared store, only while some of its events are
    not in its log files yet. SQLite keeps a stopped node's row; on a shared store a node that
    stopped cleanly leaves the list (supervisor.leave), and its row, copied, would be listed by
    `returnpath nodes` as silent, for ever, until forgotten. A row of a node with events still
    to write stays, so that `nodes` shows it and a node of its name writes them."""
    from ..logs import cursor_name

    values: dict[str, int] = dict(await _all(src.read("cursors", cursors)))
    written = values.get(cursor_name(None), 0)
    waiting = set(await src.event_nodes(after=written))
    name = [c.name for c in columns].index("name")
    return [row for row in rows if row[name] in waiting]


def _log_cursors(rows: list[Row], nodes: list[str], *, to_shared: bool) -> list[Row]:
    """The cursors (name, value) of a store of one backend as the other's log writers read
    them (module docstring, step 4): `logs` becomes `logs/<node>` for each node that recorded
    events, or the other way round."""
    from ..logs import cursor_name

    values: dict[str, int] = dict(rows)
    one = cursor_name(None)
    if to_shared and one in values:
        for node in nodes:
            values.setdefault(cursor_name(node), values[one])
    elif not to_shared and any(cursor_name(node) in values for node in nodes):
        values[one] = min(values.get(cursor_name(node), 0) for node in nodes)
    return sorted(values.items())


class _Chunks:
    """How many rows to fetch next: about CHUNK_BYTES, by the size of the rows fetched so far
    (one at a time at first where a row holds bytes, which can be 25 MB each)."""

    def __init__(self, columns: list[Column]) -> None:
        self.blobs = [i for i, c in enumerate(columns) if c.kind == "bytes"]
        self.size = 1 if self.blobs else CHUNK_ROWS

    def next(self, rows: list[Row]) -> int:
        if self.blobs and rows:
            size = sum(len(row[i]) for row in rows for i in self.blobs if row[i] is not None)
            self.size = max(1, min(CHUNK_ROWS, CHUNK_BYTES * len(rows) // max(size, 1)))
        return self.size


async def _batches(chunks: AsyncIterator[list[Row]], columns: list[Column], batch: int) -> AsyncIterator[list[Row]]:
    """The source's rows regrouped in lists of at most `batch` rows and about BATCH_BYTES."""
    sized = [i for i, c in enumerate(columns) if c.kind in ("bytes", "text")]
    pending: list[Row] = []
    size = 0
    async for chunk in chunks:
        for row in chunk:
            pending.append(row)
            size += sum(len(row[i]) for i in sized if row[i] is not None)
            if len(pending) >= batch or size >= BATCH_BYTES:
                yield pending
                pending, size = [], 0
    if pending:
        yield pending


async def _converted(
    batches: AsyncIterator[list[Row]], have: list[Column], want: list[Column]
) -> AsyncIterator[list[Row]]:
    """Each row in the target's types: only booleans differ (SQLite's 0/1, PostgreSQL's bool)."""
    fix: list[tuple[int, Callable[[Any], Any]]] = []
    for i, (a, b) in enumerate(zip(have, want, strict=True)):
        if b.kind == "bool" and a.kind != "bool":
            fix.append((i, bool))
        elif a.kind == "bool" and b.kind != "bool":
            fix.append((i, int))
    async for rows in batches:
        if fix:
            rows = [_fix(row, fix) for row in rows]
        yield rows


def _fix(row: Row, fix: list[tuple[int, Callable[[Any], Any]]]) -> Row:
    values = list(row)
    for i, to in fix:
        if values[i] is not None:
            values[i] = to(values[i])
    return tuple(values)


# ---- the two backends ------------------------------------------------------------------------


class _Side(Protocol):
    """One end of a copy: what `_copy` asks of a backend."""

    display: str
    shared: bool  # whether several nodes share such a store (their log cursors: logs.py)

    async def check_source(self) -> None: ...
    async def prepare_target(self) -> None: ...
    async def begin_read(self) -> None: ...
    async def begin_write(self) -> None: ...
    async def schema(self) -> Schema: ...
    async def lock(self, tables: list[str]) -> None: ...
    async def count(self, table: str) -> int: ...
    async def clear(self, table: str) -> None: ...
    def read(self, table: str, columns: list[Column]) -> AsyncIterator[list[Row]]: ...
    async def write(
        self,
        table: str,
        columns: list[Column],
        batches: AsyncIterator[list[Row]],
        progress: Progress | None,
    ) -> int: ...
    async def finish(self, tables: list[str]) -> None: ...
    async def event_nodes(self, after: int = 0) -> list[str]: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    async def close(self) -> None: ...


def _side(url: str) -> _Side:
    if url.startswith("sqlite:///") and len(url) > len("sqlite:///"):
        return _Sqlite(Path(url[len("sqlite:///") :]))
    if url.startswith(("postgresql://", "postgres://")):
        return _Postgres(url)
    raise InputError(f"{display_url(url)!r}: expected sqlite:///PATH or postgresql://USER@HOST/DATABASE")


def _ident(name: str) -> str:
    """A quoted identifier; names come from the databases' own catalogs."""
    return '"' + name.replace('"', '""') + '"'


SQLITE_KINDS = {"INTEGER": "int", "REAL": "float", "TEXT": "text", "BLOB": "bytes"}


class _Sqlite(_Side):
    """An SQLite file through the standard library's sqlite3 (blocking calls: this is a
    command that does nothing else meanwhile)."""

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.display = str(path)
        self.conn: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        assert self.conn is not None, "not connected"
        return self.conn

    def _not_a_folder(self, side: str) -> None:
        """sqlite:///old for a node's data folder, not its file: say which URL was meant."""
        if self.path.is_dir():
            raise InputError(
                f"the {side} {self.path} is a folder; a store is a file: "
                f"sqlite:///{self.path / 'returnpath.db'}, if it is a node's data folder"
            )

    async def check_source(self) -> None:
        from .sqlite.sqlite_database import foreign
        from .sqlite.sqlite_database import newest as newest_version

        self._not_a_folder("source")
        if not self.path.is_file():
            hint = ""
            if not self.path.is_absolute() and Path("/", self.path).is_file():
                # sqlite:///PATH is relative, as in SQLAlchemy's URLs: an absolute one has four slashes
                hint = f" (relative to {Path.cwd()}; for /{self.path} write sqlite:////{self.path})"
            raise InputError(f"the source {self.path} does not exist{hint}")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        try:
            self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            why = foreign(self.conn)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the source {self.path}: {exc}") from None
        if why is not None:
            raise StoreError(f"the source {why}")
        newest = newest_version()
        if version != newest:
            raise StoreError(
                f"the source {self.path} is at schema version {version}, this returnpath's is {newest}: "
                + ("run `returnpath migrate` on it first" if version < newest else "upgrade returnpath")
            )

    async def prepare_target(self) -> None:
        from .sqlite import SqliteStore

        self._not_a_folder("target")
        store = SqliteStore(self.path)
        try:
            await store.open()  # creates the file or brings it to the newest schema
        except StoreError as exc:  # say which of the two stores (a schema newer than this code's)
            raise StoreError(f"the target {self.path}: {exc}") from None
        await store.close()
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the target {self.path}: {exc}") from None

    async def begin_read(self) -> None:
        self._conn().execute("BEGIN")  # one snapshot (WAL) for every table

    async def begin_write(self) -> None:
        try:
            self._conn().execute("BEGIN IMMEDIATE")  # the write lock: no other writer meanwhile
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the target {self.path}: {exc}") from None

    async def schema(self) -> Schema:
        conn = self._conn()
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        found: Schema = {}
        for name in names:
            if name in NOT_COPIED or name.startswith("sqlite_"):
                continue
            info = conn.execute(f"PRAGMA table_info({_ident(name)})").fetchall()
            found[name] = [Column(r[1], SQLITE_KINDS.get(str(r[2]).upper(), "text")) for r in info]
        return found

    async def lock(self, tables: list[str]) -> None:
        pass  # BEGIN IMMEDIATE holds the whole file

    async def count(self, table: str) -> int:
        return int(self._conn().execute(f"SELECT count(*) FROM {_ident(table)}").fetchone()[0])

    async def clear(self, table: str) -> None:
        self._conn().execute(f"DELETE FROM {_ident(table)}")

    async def read(self, table: str, columns: list[Column]) -> AsyncIterator[list[Row]]:
        names = ", ".join(_ident(c.name) for c in columns)
        chunks = _Chunks(columns)
        try:
            cursor = self._conn().execute(f"SELECT {names} FROM {_ident(table)} ORDER BY rowid")
            while rows := cursor.fetchmany(chunks.size):
                yield rows
                chunks.next(rows)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read {table} from the source {self.path}: {exc}") from None

    async def write(
        self,
        table: str,
        columns: list[Column],
        batches: AsyncIterator[list[Row]],
        progress: Progress | None,
    ) -> int:
        names = ", ".join(_ident(c.name) for c in columns)
        insert = f"INSERT INTO {_ident(table)} ({names}) VALUES ({', '.join('?' * len(columns))})"
        done = 0
        async for rows in batches:
            try:
                self._conn().executemany(insert, rows)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write {table} to the target {self.path}: {exc}") from None
            done += len(rows)
            if progress is not None:
                progress(table, done)
        return done

    async def event_nodes(self, after: int = 0) -> list[str]:
        query = "SELECT DISTINCT node FROM events WHERE node IS NOT NULL AND id > ? ORDER BY node"
        return [name for (name,) in self._conn().execute(query, (after,))]

    async def finish(self, tables: list[str]) -> None:
        pass  # rowids and AUTOINCREMENT (sqlite_sequence) go on after the highest id by themselves

    async def commit(self) -> None:
        try:
            self._conn().execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot commit the target {self.path}: {exc}") from None

    async def rollback(self) -> None:
        if self.conn is not None and self.conn.in_transaction:
            self.conn.rollback()

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


PG_KINDS = {
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "float4": "float",
    "float8": "float",
    "numeric": "float",
    "text": "text",
    "varchar": "text",
    "bytea": "bytes",
    "bool": "bool",
}


async def _ready_postgres(url: str) -> None:
    """Bring the database at `url` to the newest schema this returnpath knows by opening it as
    the store: `PostgresStore.open` creates the schema in an empty database, and refuses one
    at another version (StoreError saying to migrate or to upgrade)."""
    try:
        from .postgresql import PostgresStore
    except ImportError:
        raise StoreError("this returnpath has no PostgreSQL store") from None
    store = PostgresStore(url)
    await store.open()
    await store.close()


class _Postgres(_Side):
    """A PostgreSQL database through psycopg (async)."""

    shared = True

    def __init__(self, url: str) -> None:
        self.url = url
        self.display = display_url(url)
        self.conn: AsyncConnection[TupleRow] | None = None

    def _conn(self) -> AsyncConnection[TupleRow]:
        assert self.conn is not None, "not connected"
        return self.conn

    async def _connect(self) -> AsyncConnection[TupleRow]:
        import psycopg

        try:
            return await psycopg.AsyncConnection.connect(self.url, connect_timeout=10)
        except psycopg.Error as exc:
            from .postgresql.postgres_database import one_line

            raise StoreError(f"cannot connect to the database {self.display}: {one_line(exc)}") from None

    async def check_source(self) -> None:
        conn = await self._connect()
        try:
            await conn.set_autocommit(True)
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            has_schema = await cur.fetchone() == (True,)
        finally:
            await conn.close()
        if not has_schema:
            raise InputError(f"the source {self.display} holds no returnpath store")
        await self._ready("source")  # writes nothing to a database that has a schema: checks it

    async def prepare_target(self) -> None:
        await self._ready("target")

    async def _ready(self, role: str) -> None:
        """_ready_postgres, its refusal (a schema too old or too new) naming which store it is."""
        try:
            await _ready_postgres(self.url)
        except StoreError as exc:
            named = self.display in str(exc)  # (a connection's failure names the URL already)
            raise StoreError(f"the {role}{'' if named else ' ' + self.display}: {exc}") from None

    async def begin_read(self) -> None:
        from psycopg import IsolationLevel

        self.conn = conn = await self._connect()
        # One snapshot for every table, and the server refuses any write.
        await conn.set_isolation_level(IsolationLevel.REPEATABLE_READ)
        await conn.set_read_only(True)

    async def begin_write(self) -> None:
        self.conn = await self._connect()  # not autocommit: one transaction until commit()

    async def _execute(
        self, query: LiteralString | sql.Composed, params: Sequence[Any] | None = None
    ) -> AsyncCursor[TupleRow]:
        import psycopg

        try:
            return await self._conn().execute(query, params)
        except psycopg.Error as exc:
            from .postgresql.postgres_database import one_line

            raise StoreError(f"the database {self.display} failed: {one_line(exc)}") from None

    async def schema(self) -> Schema:
        cur = await self._execute(
            "SELECT c.table_name, c.column_name, c.udt_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
            " WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'"
            " ORDER BY c.table_name, c.ordinal_position"
        )
        found: Schema = {}
        for table, column, udt in await cur.fetchall():
            if table not in NOT_COPIED:
                found.setdefault(table, []).append(Column(column, PG_KINDS.get(udt, "text"), udt))
        return found

    async def lock(self, tables: list[str]) -> None:
        from psycopg import sql

        # No node writes while the copy runs (readers may go on), so "empty" stays true.
        names = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
        await self._execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(names))

    async def count(self, table: str) -> int:
        from psycopg import sql

        cur = await self._execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def clear(self, table: str) -> None:
        from psycopg import sql

        await self._execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))

    async def read(self, table: str, columns: list[Column]) -> AsyncIterator[list[Row]]:
        import psycopg
        from psycopg import sql

        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        query = sql.SQL("SELECT {} FROM {}").format(names, sql.Identifier(table))
        if any(c.name == "id" and c.kind == "int" for c in columns):
            query = sql.SQL("{} ORDER BY id").format(query)
        chunks = _Chunks(columns)
        try:
            # A server-side cursor: the server hands the rows over a chunk at a time.
            async with self._conn().cursor(name=f"copy_{table}") as cursor:
                await cursor.execute(query)
                while rows := await cursor.fetchmany(chunks.size):
                    yield rows
                    chunks.next(rows)
        except psycopg.Error as exc:
            raise StoreError(f"cannot read {table} from the source {self.display}: {exc}") from None

    async def write(
        self,
        table: str,
        columns: list[Column],
        batches: AsyncIterator[list[Row]],
        progress: Progress | None,
    ) -> int:
        import psycopg
        from psycopg import sql

        # COPY in binary, one statement per table: the fastest of three, measured on 20,000
        # messages of 2 KB MIME with a delivery each (40,002 rows, SQLite -> PostgreSQL, this
        # 2-CPU machine, 6 runs each): COPY BINARY 1.6-2.6 s (15,700-24,400 rows/s), COPY in
        # text 2.7-3.4 s (11,800-14,700 rows/s), executemany of INSERTs 3.3-4.7 s (8,500-12,000).
        # COPY writes the ids given into GENERATED ALWAYS identity columns (as INSERT's
        # OVERRIDING SYSTEM VALUE would); finish() moves their sequences on.
        names = sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
        statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(sql.Identifier(table), names)
        done = 0
        try:
            async with self._conn().cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types([c.pgtype for c in columns])
                async for rows in batches:
                    for row in rows:
                        await copy.write_row(row)
                    done += len(rows)
                    if progress is not None:
                        progress(table, done)
        except psycopg.Error as exc:
            raise StoreError(f"cannot write {table} to the target {self.display}: {exc}") from None
        return done

    async def event_nodes(self, after: int = 0) -> list[str]:
        cur = await self._execute(
            "SELECT DISTINCT node FROM events WHERE node IS NOT NULL AND id > %s ORDER BY node", (after,)
        )
        return [name for (name,) in await cur.fetchall()]

    async def finish(self, tables: list[str]) -> None:
        from psycopg import sql

        cur = await self._execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')"
        )
        for table, column in await cur.fetchall():
            if table not in tables:
                continue
            # The next id is max + 1 (1 in an empty table): new events continue after the copied.
            await self._execute(
                sql.SQL(
                    "SELECT setval(pg_get_serial_sequence(%s, %s), coalesce(max({c}), 0) + 1, false) FROM {t}"
                ).format(c=sql.Identifier(column), t=sql.Identifier(table)),
                (_ident(table), column),
            )

    async def commit(self) -> None:
        import psycopg

        try:
            await self._conn().commit()
        except psycopg.Error as exc:
            raise StoreError(f"cannot commit the target {self.display}: {exc}") from None

    async def rollback(self) -> None:
        if self.conn is not None and not self.conn.closed:
            import psycopg

            with contextlib.suppress(psycopg.Error):  # a lost connection has rolled back by itself
                await self.conn.rollback()

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
            self.conn = None
