"""PostgreSQL connections: a pool, writes committed in groups, and the versioned schema.

Durability: PostgreSQL's own (`synchronous_commit = on`): a commit is flushed to the WAL before
any caller hears "OK".

Writes are group-committed, as in SqliteDatabase: every write is a function queued to this
process's writer, which runs all functions waiting at that moment in one transaction on one
connection and commits once. Why: event ids must ascend in commit order (EVENTS_LOCK below),
which makes event-writing transactions take turns until their commit, fsync included. Unlike
SQLite there are no savepoints per write (two more round trips each): a group is run as one
transaction, and when one of its writes fails (a duplicate returned-message id, a full store),
the group is rolled back and each of its writes run again in its own transaction, so that one
failing write does not undo the others.

What a group costs is its round trips more than the server's work: psycopg spends more CPU
sending a statement and reading its answer than the server spends on a small one, and both
share the machine's CPUs. So a write that comes in numbers may be `Batched`: the writes of one
kind in a group go to one call, one statement for the lot. Settles are: one statement per
group instead of three per settle (postgres_store.py; queries.sql, settle_deliveries); so are
submissions, messages and deliveries together (insert_messages), and the settles of
feedback-loop posts (postgres_outbox.py; settle_posts). Those statements take their
rows as one JSON parameter: psycopg adapts a list parameter in Python, element by element, and
the 22 lists of a submission (one per column) cost the client more CPU than the rest of it
(measured: about 0.25 ms of 13 one-element lists against 0.2 ms for a whole statement's round
trip). A group that is one such statement and wakes nobody (`Batched.one_statement`: a
submission handed to this process's engine, settles of distinct deliveries, whose posts the
statement inserts too) runs it without BEGIN and COMMIT, a transaction of its own, two round
trips fewer: under a light load each submission and each settle is a group of its own.
Claims (of deliveries, returned messages and feedback-loop posts) are not in the groups at all
(`write_apart`): they insert no events and skip what is locked, so they run on a connection of
their own, one statement each, while the server works on the writer's group.

A second writer for submissions (which insert no events and lock nothing but their own new
rows) was tried and taken out: each process then committed two groups where it had one, and
on this 2-core machine that cost more than the wait it saved. Alternated, one node of two
workers (`bench/relay.py --store postgresql --load lean:1,lean:50,smtplib:10`): 132-145,
377-389 and 171 messages/s with it against 138-164, 429-496 and 190-215 without; two nodes of
one worker, 403-471 and 152-182 against 483-564 and 206-229 (`lean:50`, `smtplib:10`). Once
a group of settles was one statement, a submission's wait behind it was one round trip.

Measured with bench/claims.py (100,000 deliveries, 100 sessions) on the 2-CPU development
machine, fsync on, while other work kept it busy (load 3 to 6), so that runs vary by half:
with a statement per settle and claims in the groups, 941/s; now 3,100/s (SQLite 2,530/s in
the same run), and 3,673, 4,472 and 5,102/s in three more runs of its fill and drain. Where
the time goes (CPU seconds per 100,000 in those runs): this process 6.6-7.8 s (about 70 us
per delivery, the benchmark's own work included), the server 13.1-14.0 s (about 135 us: the
claim's and the settle's updates of deliveries, the attempts and events inserted, their index
entries, the WAL), and an fsync per group of up to 100 settles (pg_test_fsync here: fdatasync
4.1 ms). With synchronous_commit off (for the measurement only) it was no faster (3,351/s
beside 4,472/s), so the CPUs bound it, not the disk. Each group is a chain, this process,
then the server, then the fsync, before its sessions settle again: roughly 7 + 8.5 + 4 ms
per 100, so about 5,000/s is the ceiling of one process here when the CPUs are its own. Two
writers (each group split in two, in flight at once) did worse: 3,992, 3,840 and 2,683/s at
30,000 beside 5,418, 3,583 and 4,421/s with one, alternated, and more CPU on both sides.

A group that made work other processes may claim (`Tx.wake`: deliveries queued without a
lease or released, returned mail received, posts replayed or released) sends one NOTIFY per
kind of work in its transaction, just before its commit; postgres_wakeups.py says what, when and why
polling remains. Settling deliveries sends none.

Library errors do not leave this module: a lost connection, a server that is down or a pool
that cannot hand out a connection in time become StoreError ("the database is unavailable"),
which SMTP answers with 4xx and HTTP with 503; callers try again. The pool replaces broken
connections by itself (each is checked as it is taken after lying idle for CHECK_IDLE), so that the store works again when the
server is back, without being reopened. But the pool tries to reconnect with a back-off that
doubles from 1 s with no bound but its five-minute give-up (psycopg_pool): after an outage of
a minute its next try can come a minute after the server is back, and every call meanwhile
waits CONNECT_TIMEOUT and fails. So once no connection has come for CONNECT_TIMEOUT, this
module tries a connection of its own every REVIVE_EVERY, and when one works, a new pool takes
the place of the one waiting out its back-off; callers that were waiting on the old one are
given the new one.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Generic, TypeVar

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolClosed, PoolTimeout

from ...config import display_url
from ...core.ports import NodeStatus, WorkKind
from ...errors import StoreError
from .. import migration_files

T = TypeVar("T")
Item = TypeVar("Item")
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
CHECK_IDLE = 1.0  # seconds a connection lies in the pool before it is checked as it is taken
REVIVE_EVERY = 1.0  # seconds between tries of a connection of its own while the pool has none
MAX_BATCH = 256  # writes in one transaction at most
ROLLED_BACK_RETRIES = 3  # times a write alone is run again after a deadlock broke it (PostgresDatabase._alone)
# The SQLSTATEs of a transaction the server rolled back to break a deadlock (40P01) or a
# serialization failure (40001). By code: psycopg 3.3 makes DeadlockDetected an
# OperationalError, not a TransactionRollback, so a test of the class missed deadlocks.
ROLLED_BACK = frozenset({"40P01", "40001"})


@dataclass(eq=False)
class Tx:
    """A connection in a transaction (or, for reads, in autocommit), as the store's functions
    use it."""

    conn: Connection
    posts: int = 0  # feedback-loop posts inserted: this process's dispatcher hears of them
    # Work this transaction made claimable for other processes too (postgres_wakeups.py sends a NOTIFY).
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


@dataclass(frozen=True)
class Batched(Generic[Item, T]):
    """A write that runs together with the others of its kind: of the writes a group commits,
    those with the same `run` are handed to one call `run(tx, [item, ...])`, which returns their
    values in the same order (one set-based statement for the lot, where each alone costs its
    own round trips). `run` must give each item the result it would have had alone."""

    run: Callable[[Tx, list[Item]], Awaitable[list[T]]]
    item: Item
    # True when `run` runs one statement and leaves Tx.wake empty, or a function that says
    # whether it does for a group's items: a group of nothing but these (of one `run`) sends
    # that statement without BEGIN and COMMIT. A statement outside a transaction is a
    # transaction of its own, committed as durably (module docstring), and two round trips are
    # saved where they cost the most: a write alone in its group, as a submission or a settle
    # is under a light load.
    one_statement: bool | Callable[[list[Item]], bool] = False


Write = Op[T] | Batched[Any, T]


def rounds(keys: Sequence[Hashable]) -> list[list[int]]:
    """The positions of a group's batched writes in rounds of distinct `keys` (the rows they
    change), in order: a row's second write goes in the round after its first, so that it
    finds the first done, as it would have alone. One round when the keys are distinct."""
    result: list[list[int]] = []
    waiting = list(range(len(keys)))
    while waiting:
        seen: set[Hashable] = set()
        now: list[int] = []
        later: list[int] = []
        for index in waiting:
            (later if keys[index] in seen else now).append(index)
            seen.add(keys[index])
        result.append(now)
        waiting = later
    return result


def one_round(keys: Sequence[Hashable]) -> bool:
    """Whether `rounds(keys)` is a single round: the keys are distinct."""
    return len(set(keys)) == len(keys)


def lone(query: str, rows: str) -> str:
    """`query` for a single row: `rows`, the ANY over the ids of the rows it is given (queries.sql,
    settle_deliveries says why), made the one row's id, the parameter `%(one)s`. The planner
    takes the ANY for ten rows, and a plan for ten may scan a table that one row is found in
    by its primary key."""
    one = query.replace(f"= ANY(ARRAY(SELECT id FROM {rows}))", "= %(one)s")
    if one == query:
        raise ValueError(f"no ANY over {rows}'s ids in the query")
    return one


def one_line(exc: BaseException) -> str:
    """A psycopg error on one line: libpq puts its hint on a line of its own, after a tab."""
    return " ".join(line.strip() for line in str(exc).splitlines() if line.strip())


class CannotConnect(StoreError):
    """The server could not be reached, or refused us (no such database, a wrong password):
    nothing about the schema is known yet, and `returnpath migrate` cannot help."""


async def connect(url: str) -> Connection:
    """One connection of its own (autocommit), or CannotConnect naming the URL (its password
    hidden) and libpq's reason: a wrong password or database name is no outage, and is said
    as every command says it."""
    try:
        return await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=int(CONNECT_TIMEOUT))
    except psycopg.Error as exc:
        raise CannotConnect(f"cannot connect to the database {display_url(url)}: {one_line(exc)}") from None


def unavailable(exc: Exception) -> StoreError:
    return StoreError(f"the database is unavailable: {one_line(exc)}")


def cannot_create(conn: Connection, exc: psycopg.errors.InsufficientPrivilege) -> StoreError:
    """A migration the server refused for want of a right: no outage, and no retry will help.
    PostgreSQL 15 lets only a database's owner create tables in its schema public (release
    notes, "Remove PUBLIC creation permission on the public schema"), hence the README's
    `createdb -O`."""
    role, name = conn.info.user, conn.info.dbname
    return StoreError(
        f"the role {role!r} may not create returnpath's tables in the database {name!r}: "
        f"{exc.diag.message_primary or one_line(exc)}; make the role its owner "
        f"(`createdb -O {role} {name}` for a new one, `ALTER DATABASE {name} OWNER TO {role}`), then run this again"
    )


class PostgresDatabase:
    """A PostgreSQL database opened for asyncio callers."""

    def __init__(self, url: str, *, min_connections: int = 2, max_connections: int = 10) -> None:
        self.url = url
        self.min_connections = min_connections
        self.max_connections = max_connections
        self._pool: AsyncConnectionPool[Connection] | None = None
        self._queue: list[tuple[Write[Any], asyncio.Future[Any]]] = []
        self._writing = False
        # The wake-ups (postgres_wakeups.py): run in a group's transaction before its commit when the
        # group made work for other processes (Tx.wake), and after every commit.
        self.before_commit: Callable[[Tx], Awaitable[None]] | None = None
        self.after_commit: Callable[[Tx], None] | None = None
        self._reviving: asyncio.Task[None] | None = None  # the watch for the server's return
        # When each connection went back to the pool (monotonic time): see _check. Noted by
        # _connected as it gives one back, not by the pool's `reset` callback: with one, the
        # pool hands every returned connection to a task of its own, a turn of the event loop
        # and more CPU per statement, before it can be taken again (psycopg_pool's _putconn).
        self._idle_since: weakref.WeakKeyDictionary[Connection, float] = weakref.WeakKeyDictionary()
        self._closing: set[asyncio.Task[None]] = set()  # pools replaced, being closed

    @property
    def pool(self) -> AsyncConnectionPool[Connection]:
        if self._pool is None:
            raise StoreError("the database is not open")
        return self._pool

    def _new_pool(self) -> AsyncConnectionPool[Connection]:
        return AsyncConnectionPool(
            self.url,
            min_size=min(self.min_connections, self.max_connections),  # pool_size may be 1
            max_size=self.max_connections,
            open=False,
            kwargs={"autocommit": True},
            check=self._check,
            timeout=CONNECT_TIMEOUT,
            name="returnpath",
        )

    async def _check(self, conn: Connection) -> None:
        """Check a connection as the pool hands it out, when it has been idle for CHECK_IDLE:
        one lost while it lay in the pool (the server restarted, a firewall dropped it) is
        replaced before a caller gets it. One back from a caller moments ago is not checked:
        the check is a round trip, and under load every read and every group of writes takes
        a connection that was in use a millisecond before (bench/relay.py, issue 10)."""
        if time.monotonic() - self._idle_since.get(conn, float("-inf")) >= CHECK_IDLE:
            await AsyncConnectionPool.check_connection(conn)

    async def open(self) -> None:
        """Open the pool (a new one: a closed pool cannot be opened again). One connection is
        made alone first: when the server cannot be reached or refuses us, its error says why
        (refused, no such host, a wrong password, no such database) at once. The pool would
        try again and again for CONNECT_TIMEOUT, log a warning each time, and then say only
        that it had timed out."""
        probe = await connect(self.url)
        await probe.close()
        self._pool = self._new_pool()
        try:
            await self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except (PoolTimeout, psycopg.Error) as exc:
            await self.close()
            raise CannotConnect(f"cannot connect to the database {display_url(self.url)}: {one_line(exc)}") from None

    async def close(self) -> None:
        if self._reviving is not None:
            self._reviving.cancel()
            await asyncio.gather(self._reviving, return_exceptions=True)
            self._reviving = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await asyncio.gather(*self._closing, return_exceptions=True)

    def _revive(self) -> None:
        """No connection came for CONNECT_TIMEOUT: watch for the server's return (module
        docstring), unless that is under way."""
        if self._reviving is None or self._reviving.done():
            self._reviving = asyncio.get_running_loop().create_task(self._watch_for_return())

    async def _watch_for_return(self) -> None:
        while self._pool is not None:
            await asyncio.sleep(REVIVE_EVERY)
            try:
                probe = await psycopg.AsyncConnection.connect(self.url, connect_timeout=int(CONNECT_TIMEOUT))
            except psycopg.Error:
                continue
            await probe.close()
            old, fresh = self._pool, self._new_pool()
            try:
                await fresh.open(wait=True, timeout=CONNECT_TIMEOUT)
            except (PoolTimeout, psycopg.Error):
                await fresh.close()
                continue
            if self._pool is not old:  # closed meanwhile
                await fresh.close()
                return
            self._pool = fresh
            # Its waiting callers get PoolClosed, and go to the new pool (_connected).
            closing = asyncio.get_running_loop().create_task(old.close()) if old is not None else None
            if closing is not None:
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            return

    async def _connected(self, run: Callable[[Connection], Awaitable[T]]) -> T:
        """`run` on a connection of the pool; when no connection comes for CONNECT_TIMEOUT,
        PoolTimeout (and the watch for the server's return begins); when the pool was replaced
        while this waited, again on the new one. While the watch is on (the server has not
        answered for CONNECT_TIMEOUT), a call waits for the watch's next try, not the pool's
        CONNECT_TIMEOUT: during an outage a client hears its 451 or 503 after REVIVE_EVERY
        rather than five times that, and a call made as the server comes back gets the new pool."""
        while True:
            watch = self._reviving
            if watch is not None and not watch.done():
                await asyncio.wait({watch}, timeout=REVIVE_EVERY)
                if not watch.done():
                    raise PoolTimeout(f"no connection could be made for {CONNECT_TIMEOUT:g} s or more")
            pool = self.pool
            try:
                async with pool.connection() as conn:
                    try:
                        return await run(conn)
                    finally:
                        self._idle_since[conn] = time.monotonic()
            except PoolClosed:
                if self._pool is None or self._pool is pool:
                    raise
            except PoolTimeout:
                self._revive()
                raise

    async def read(self, op: Op[T]) -> T:
        """Run `op` on a connection in autocommit: each statement sees what is committed."""
        return await self._apart(op, "read")

    async def write_apart(self, op: Op[T]) -> T:
        """Run `op`, which must be one statement, beside the writer's groups rather than in
        one, without BEGIN and COMMIT: the statement is its own transaction; returns after its
        commit. For a claim: it inserts no events (it need not take turns under EVENTS_LOCK),
        it skips what others have locked (it never waits for the writer), and each process has
        one poller claiming at a time (there is nothing to group it with). The server works on
        it while it works on the writer's group."""
        return await self._apart(op, "write")

    async def _apart(self, op: Op[T], what: str) -> T:
        """Run `op` on a connection of the pool in autocommit, outside the writer's groups."""
        try:
            return await self._connected(lambda conn: op(Tx(conn)))
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise unavailable(exc) from None
        except psycopg.Error as exc:
            raise StoreError(f"database {what} failed: {exc}") from None

    async def write(self, op: Write[T]) -> T:
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
                # Let the callers just answered run first: those that write again at once
                # (a worker settles the next delivery it holds) join the next group.
                await asyncio.sleep(0)
        finally:
            self._writing = False

    async def _commit(self, batch: list[tuple[Write[Any], asyncio.Future[Any]]]) -> None:
        async def run(conn: Connection) -> None:
            try:
                self._settle(batch, *await _run(conn, [op for op, _ in batch], self.before_commit))
            except _OneFailed as failed:
                if len(batch) == 1 and not failed.rolled_back:
                    _fail(batch, failed.error)
                    return
                for item in batch:  # each on its own, so that only the failing one fails
                    await self._alone(conn, item)

        try:
            await self._connected(run)
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

    async def _alone(self, conn: Connection, item: tuple[Write[Any], asyncio.Future[Any]]) -> None:
        """Run one write in a transaction of its own; again, up to ROLLED_BACK_RETRIES times,
        when the server rolled it back to break a deadlock or a serialization failure (the
        PostgreSQL manual, 13.3.4 "Deadlocks" and 13.4, asks the application to retry such a
        transaction): a write that waited on another node's group is not the caller's error."""
        for tries_left in reversed(range(ROLLED_BACK_RETRIES + 1)):
            try:
                self._settle([item], *await _run(conn, [item[0]], self.before_commit))
                return
            except _OneFailed as failed:
                if not failed.rolled_back or not tries_left:
                    _fail([item], failed.error)
                    return

    def _settle(self, batch: list[tuple[Write[Any], asyncio.Future[Any]]], tx: Tx, values: list[Any]) -> None:
        """Hand the committed values to their callers; wake this process's workers."""
        for (_, future), value in zip(batch, values, strict=True):
            if not future.done():
                future.set_result(value)
        if self.after_commit is not None:
            self.after_commit(tx)


def _fail(batch: list[tuple[Write[Any], asyncio.Future[Any]]], error: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(error)


class _OneFailed(Exception):
    """A write of a group raised (not the connection): the group was rolled back.
    `rolled_back`: by the server, to break a deadlock or a serialization failure (SQLSTATE
    class 40), so that the same write may well succeed when run again."""

    def __init__(self, error: Exception, *, rolled_back: bool = False) -> None:
        self.error = error
        self.rolled_back = rolled_back


async def _run(
    conn: Connection, ops: list[Write[Any]], before_commit: Callable[[Tx], Awaitable[None]] | None = None
) -> tuple[Tx, list[Any]]:
    """Run `ops` in one transaction and commit: the plain ones in order, then each kind of
    Batched ones in one call (they were all asked for at once, so any order is one they could
    have run in), then `before_commit` if they made work to wake others for. A group of one
    statement (Batched.one_statement) runs it alone, without BEGIN and COMMIT. Raises _OneFailed
    (rolled back) when one of them raised, and the connection's errors as they are."""
    tx = Tx(conn)
    values: list[Any] = [None] * len(ops)
    batches: dict[Callable[[Tx, list[Any]], Awaitable[list[Any]]], list[int]] = {}
    try:
        if (alone := _one_statement(ops)) is not None:  # in autocommit: a transaction of its own
            run, items = alone
            return tx, await _guarded(run(tx, items))
        async with conn.transaction():
            for index, op in enumerate(ops):
                if isinstance(op, Batched):
                    batches.setdefault(op.run, []).append(index)
                else:
                    values[index] = await _guarded(op(tx))
            for run, indices in batches.items():
                items = [ops[index].item for index in indices]  # type: ignore[union-attr]
                results = await _guarded(run(tx, items))
                for index, value in zip(indices, results, strict=True):
                    values[index] = value
            if tx.wake and before_commit is not None:
                await before_commit(tx)
    except _OneFailed:
        if conn.broken:
            raise unavailable(psycopg.OperationalError("the connection was lost")) from None
        raise
    return tx, values


def _one_statement(ops: list[Write[Any]]) -> tuple[Callable[[Tx, list[Any]], Awaitable[list[Any]]], list[Any]] | None:
    """The `run` and items of a group of Batched writes of one run that is one statement
    (Batched.one_statement); None for any other group."""
    first = ops[0]
    if not isinstance(first, Batched) or not first.one_statement:
        return None
    items = []
    for op in ops:
        if not isinstance(op, Batched) or op.run != first.run or not op.one_statement:
            return None
        items.append(op.item)
    if callable(first.one_statement) and not first.one_statement(items):
        return None
    return first.run, items


async def _guarded(write: Awaitable[T]) -> T:
    """Await one write of a group; its errors (not the connection's) become _OneFailed."""
    try:
        return await write
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        if exc.sqlstate in ROLLED_BACK:  # give way, then run again (PostgresDatabase._alone)
            raise _OneFailed(unavailable(exc), rolled_back=True) from None
        raise
    except psycopg.Error as exc:
        raise _OneFailed(StoreError(f"database write failed: {exc}")) from None
    except Exception as exc:  # noqa: BLE001 - handed to the caller who asked
        raise _OneFailed(exc) from None


# ---- the schema ------------------------------------------------------------------------------


def migrations() -> list[tuple[int, str]]:
    """The schema's versions, in order: (version, SQL) from `migrations/NNNN_what.sql`."""
    return migration_files(resources.files(__package__).joinpath("migrations"))


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


async def nodes(conn: Connection) -> list[NodeStatus]:
    """Every node's last heartbeat, read as any schema version has it (none before the nodes
    table)."""
    cur = await conn.execute("SELECT to_regclass('nodes') IS NOT NULL")
    if (await cur.fetchone()) != (True,):
        return []
    cur = await conn.execute("SELECT name, host, pid, version, listen, started_at, heartbeat_at FROM nodes")
    return [
        NodeStatus(str(name), str(host), int(pid), str(version), str(listen), float(started), float(beat))
        for name, host, pid, version, listen, started, beat in await cur.fetchall()
    ]


async def migrate(conn: Connection, vet: Callable[[list[NodeStatus]], None] | None = None) -> tuple[int, int]:
    """Apply the migrations the database lacks, one per transaction under MIGRATE_LOCK: of
    several nodes migrating at once, the first does each step and the others then find it
    done. Returns (before, after)."""
    before = await schema_version(conn)
    if before is None:
        raise StoreError("the database has tables but no schema_version: it is not a returnpath database")
    known = newest()
    if before > known:
        await check(conn)  # raises: written by a newer returnpath
    if vet is not None and 0 < before < known:
        # The nodes that may still run on the schema the database has: `vet` refuses while one
        # is alive (returnpath migrate), for migrated beneath it, a node writes what the new
        # schema does not expect, and its restarted workers refuse the database.
        vet(await nodes(conn))
    version = before
    for number, script in migrations():
        if number <= version:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
            now = await schema_version(conn)
            if now is not None and now < number:  # nobody did it meanwhile
                try:
                    await conn.execute(script)
                except psycopg.errors.InsufficientPrivilege as exc:
                    raise cannot_create(conn, exc) from None
                await conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)")
                await conn.execute("DELETE FROM schema_version")
                await conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (number,))
        version = number
    return before, version
