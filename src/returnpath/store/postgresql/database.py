"""PostgreSQL connections: a pool, writes committed in groups, and the versioned schema.

Durability: PostgreSQL's own (`synchronous_commit = on`): a commit is flushed to the WAL before
any caller hears "OK".

Writes are group-committed, as in SQLite's Database: every write is a function queued to this
process's writer, which runs all functions waiting at that moment in one transaction on one
connection and commits once. Why: event ids must ascend in commit order (EVENTS_LOCK below),
which makes event-writing transactions take turns until their commit, fsync included. Measured
with bench/claims.py on the 2-CPU development machine (fsync on, one run each): one
transaction per write (`--max-batch 1`, 10,000 deliveries) settled 163 deliveries/s; grouped,
about 840/s at 10,000 and 941/s at 100,000 (SQLite: 2,859/s in the same run). Short of the
issue's 5,000/s: each write still costs its round trips on the one writer connection, while
the server and this process share two CPUs. Unlike SQLite there are no savepoints per write
(two more round trips each): a group is run as one transaction, and when one of its writes
fails (a duplicate returned-message id, a full store), the group is rolled back and each of its
writes run again in its own transaction, so that one failing write does not undo the others.

A group that made work other processes may claim (`Tx.wake`: deliveries queued without a
lease or released, returned mail received, posts replayed or released) sends one NOTIFY per
kind of work in its transaction, just before its commit; wakeups.py says what, when and why
polling remains. Settling deliveries sends none.

Library errors do not leave this module: a lost connection, a server that is down or a pool
that cannot hand out a connection in time become StoreError ("the database is unavailable"),
which SMTP answers with 4xx and HTTP with 503; callers try again. The pool replaces broken
connections by itself (each is checked as it is taken), so that the store works again as soon
as the server is back, without being reopened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from ...core.ports import WorkKind
from ...errors import StoreError

T = TypeVar("T")
Connection = psycopg.AsyncConnection[TupleRow]

# The advisory lock every transaction that inserts events takes as it inserts each (queries.sql,
# insert_event), held until it commits. Event ids come from a sequence, and a sequence hands out
# numbers in the order transactions *ask*, not the order they *commit*: A takes 7, B takes 8, B
# commits, a reader sees 8, then A commits 7 below what the reader has seen, and the log writer
# (which goes on from the highest id it wrote) would never write it. Under the lock, the next
# transaction can take an id only after the previous one has committed (PostgreSQL releases
# transaction locks after the commit is visible), so ids ascend in commit order. Inserts of
# events come last in their transactions, so the lock is held for the commit only.
EVENTS_LOCK = 0x72657475_72657674  # "retu" "revt": events of returnpath
MIGRATE_LOCK = 0x72657475_726D6967  # "retu" "rmig": schema migrations

CONNECT_TIMEOUT = 5.0  # seconds a call waits for a connection before StoreError
MAX_BATCH = 256  # writes in one transaction at most


@dataclass(eq=False)
class Tx:
    """A connection in a transaction (or, for reads, in autocommit), as the store's functions
    use it."""

    conn: Connection
    posts: int = 0  # feedback-loop posts inserted: this process's dispatcher hears of them
    # Work this transaction made claimable for other processes too (wakeups.py sends a NOTIFY).
    wake: set[WorkKind] = field(default_factory=set)

    async def execute(
        self, query: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> psycopg.AsyncCursor[TupleRow]:
        return await self.conn.execute(query, params)

    async def executemany(self, query: str, params: Sequence[Sequence[Any] | Mapping[str, Any]]) -> None:
        if params:
            async with self.conn.cursor() as cur:
                await cur.executemany(query, params)


Op = Callable[[Tx], Awaitable[T]]


def unavailable(exc: Exception) -> StoreError:
    return StoreError(f"the database is unavailable: {exc}")


class Database:
    """A PostgreSQL database opened for asyncio callers."""

    def __init__(self, url: str, *, min_connections: int = 2, max_connections: int = 10) -> None:
        self.url = url
        self.min_connections = min_connections
        self.max_connections = max_connections
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._queue: list[tuple[Op[Any], asyncio.Future[Any]]] = []
        self._writing = False
        # The wake-ups (wakeups.py): run in a group's transaction before its commit when the
        # group made work for other processes (Tx.wake), and after every commit.
        self.before_commit: Callable[[Tx], Awaitable[None]] | None = None
        self.after_commit: Callable[[Tx], None] | None = None

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        if self._pool is None:
            raise StoreError("the database is not open")
        return self._pool

    async def open(self) -> None:
        """Open the pool (a new one: a closed pool cannot be opened again)."""
        self._pool = AsyncConnectionPool(
            self.url,
            min_size=self.min_connections,
            max_size=self.max_connections,
            open=False,
            kwargs={"autocommit": True},
            check=AsyncConnectionPool.check_connection,
            timeout=CONNECT_TIMEOUT,
            name="returnpath",
        )
        try:
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (PoolTimeout, psycopg.Error) as exc:
            await self.close()
            raise StoreError(f"cannot connect to the database: {exc}") from None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def read(self, op: Op[T]) -> T:
        """Run `op` on a connection in autocommit: each statement sees what is committed."""
        try:
            async with self.pool.connection() as conn:
                return await op(Tx(conn))
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise unavailable(exc) from None
        except psycopg.Error as exc:
            raise StoreError(f"database read failed: {exc}") from None

    async def write(self, op: Op[T]) -> T:
        """Run `op` in a transaction; returns after the commit."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((op, future))
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._commit(batch)
        finally:
            self._writing = False

    async def _commit(self, batch: list[tuple[Op[Any], asyncio.Future[Any]]]) -> None:
        try:
            async with self.pool.connection() as conn:
                try:
                    self._settle(batch, *await _run(conn, [op for op, _ in batch], self.before_commit))
                except _OneFailed as failed:
                    if len(batch) == 1:
                        _fail(batch, failed.error)
                        return
                    for item in batch:  # each on its own, so that only the failing one fails
                        try:
                            self._settle([item], *await _run(conn, [item[0]], self.before_commit))
                        except _OneFailed as alone:
                            _fail([item], alone.error)
        except PoolTimeout as exc:
            # No connection for CONNECT_TIMEOUT: the database is away (or every connection
            # busy that long). The writes queued meanwhile fail now too; run as the next group,
            # each would wait CONNECT_TIMEOUT again, and a client would hear its 451 or 503
            # only after two waits, or more under a steady trickle of writes.
            waiting, self._queue = self._queue, []
            _fail(batch + waiting, unavailable(exc))
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            _fail(batch, unavailable(exc))
        except psycopg.Error as exc:  # the commit itself refused
            _fail(batch, StoreError(f"database commit failed: {exc}"))
        except BaseException as exc:  # a bug here must not leave callers waiting for ever
            _fail(batch, exc)
            raise

    def _settle(self, batch: list[tuple[Op[Any], asyncio.Future[Any]]], tx: Tx, values: list[Any]) -> None:
        """Hand the committed values to their callers; wake this process's workers."""
        for (_, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result(value)
        if self.after_commit is not None:
            self.after_commit(tx)


def _fail(batch: list[tuple[Op[Any], asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class _OneFailed(Exception):
    """A write of a group raised (not the connection): the group was rolled back."""

    def __init__(self, error: Exception) -> None:
        self.error = error


async def _run(
    conn: Connection, ops: list[Op[Any]], before_commit: Callable[[Tx], Awaitable[None]] | None = None
) -> tuple[Tx, list[Any]]:
    """Run `ops` in one transaction (then `before_commit` if they made work to wake others for)
    and commit. Raises _OneFailed (rolled back) when one of them raised, and the connection's
    errors as they are."""
    tx = Tx(conn)
    values: list[Any] = []
    try:
        async with conn.transaction():
            for op in ops:
                try:
                    values.append(await op(tx))
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if isinstance(exc, psycopg.errors.TransactionRollback):  # deadlock: give way
                        raise _OneFailed(unavailable(exc)) from None
                    raise
                except psycopg.Error as exc:
                    raise _OneFailed(StoreError(f"database write failed: {exc}")) from None
                except Exception as exc:  # noqa: BLE001 - handed to the caller who asked
                    raise _OneFailed(exc) from None
            if tx.wake and before_commit is not None:
                await before_commit(tx)
    except _OneFailed:
        if conn.broken:
            raise unavailable(psycopg.OperationalError("the connection was lost")) from None
        raise
    return tx, values


# ---- the schema ------------------------------------------------------------------------------


def migrations() -> list[tuple[int, str]]:
    """The schema's versions, in order: (version, SQL) from `migrations/NNNN_what.sql`."""
    folder = resources.files(__package__).joinpath("migrations")
    found = [
        (int(entry.name[:4]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and entry.name[:4].isdigit()
    ]
    return sorted(found)


def newest() -> int:
    return migrations()[-1][0]


async def schema_version(conn: Connection) -> int | None:
    """How far the database has come; 0 when it is empty, None when it has tables but no
    schema_version (not a returnpath database)."""
    cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
    if (await cur.fetchone()) == (True,):
        cur = await conn.execute("SELECT version FROM schema_version")
        row = await cur.fetchone()
        return int(row[0]) if row else 0
    cur = await conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
    row = await cur.fetchone()
    return 0 if row is not None and row[0] == 0 else None


async def check(conn: Connection) -> int:
    """The database's schema version when this code can use it; StoreError otherwise."""
    version = await schema_version(conn)
    known = newest()
    if version is None:
        raise StoreError("the database has tables but no schema_version: it is not a returnpath database")
    if version > known:
        raise StoreError(
            f"the database is at schema version {version}, written by a newer returnpath than this one "
            f"(which knows up to {known}): upgrade returnpath"
        )
    if 0 < version < known:
        raise StoreError(
            f"the database is at schema version {version}, older than this returnpath's {known}: "
            "run `returnpath migrate` (with every node stopped or at this version)"
        )
    return version


async def migrate(conn: Connection) -> tuple[int, int]:
    """Apply the migrations the database lacks, one per transaction under MIGRATE_LOCK: of
    several nodes migrating at once, the first does each step and the others then find it
    done. Returns (before, after)."""
    before = await schema_version(conn)
    if before is None:
        raise StoreError("the database has tables but no schema_version: it is not a returnpath database")
    known = newest()
    if before > known:
        await check(conn)  # raises: written by a newer returnpath
    version = before
    for number, script in migrations():
        if number <= version:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            now = await schema_version(conn)
            if now is not None and now < number:  # nobody did it meanwhile
                await conn.execute(script)
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
                await conn.execute("DELETE FROM schema_version")
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        version = number
    return before, version
