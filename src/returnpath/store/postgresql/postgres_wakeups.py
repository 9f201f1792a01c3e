"""Wake-ups across processes and nodes on PostgreSQL: LISTEN/NOTIFY, polling kept as the fallback.

Every worker claims its work from the database: the delivery engine's poller, the returned-mail
worker and the webhook dispatcher each look every `[delivery] poll_interval` (1 s). A wake-up
tells the idle ones that there is something to claim now. Only work that another process may
have to take is notified, one channel per kind (payload: the sending store's random token, so
that a process does not hear its own notices twice; no personal data):

- `returnpath_deliveries`: deliveries queued without a lease (`returnpath send`, forwarded
  copies of returned mail; `serve` leases what it accepts to its own engine and hands it over
  in memory) and deliveries released (a worker died, a node restarted or stopped);
- `returnpath_returns`: returned mail received by an inbound server (any node's returned-mail
  worker may claim it), and returned messages released;
- `returnpath_posts`: feedback-loop posts replayed or released. Posts made by the events a
  worker records (the hot path: every settled delivery of an account with loops) are not
  notified: that worker's own dispatcher hears of them in-process and posts them.

Sending. NOTIFY is not free: at commit it takes a lock that every notifying transaction of the
cluster waits for, and it writes to a queue that every listener must read. So it is never sent
per event: a group of writes (postgres_database.py) sends at most one per channel, inside its
transaction (delivered only if it commits, and after its commit is visible), only when one of
its writes made such work (`Tx.wake`), and one process sends at most one per channel per GAP:
work committed within GAP of the last notice is notified once GAP has passed. Settling
deliveries sends none. The committing process's own subscribers are called at once after the
commit (as on SQLite).

Listening. One connection per process, of its own (not the pool's), in autocommit, LISTENs on
every channel once something subscribes; it calls the subscribers of a channel for each notice
of another process. When the connection is lost (the database restarted, the network failed;
the connection is checked every CHECK_EVERY) it reconnects with back-off, and each time it
is listening (the first time too) it wakes every subscriber once: work may have been committed
while nobody listened.

Why polling stays: a notice is best effort. Nothing is notified while the listener is away,
retries fall due with nobody committing anything, a lease runs out without a commit, and a
worker that was busy when told does not claim more. Workers poll as before; a notice only ends
their wait early, and a burst of notices makes one claim (each worker waits on one flag).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Iterable

import psycopg
from psycopg import sql

from ...core.ports import WORK_KINDS, WorkKind
from ...errors import StoreError
from ..wakeups import LocalWakeups
from .postgres_database import CONNECT_TIMEOUT, Connection, PostgresDatabase, Tx

log = logging.getLogger("returnpath.store")

CHANNELS: dict[WorkKind, str] = {kind: f"returnpath_{kind}" for kind in WORK_KINDS}
KIND_OF = {channel: kind for kind, channel in CHANNELS.items()}
GAP = 0.03  # seconds: one process sends at most one NOTIFY per channel this often
CHECK_EVERY = 30.0  # seconds without a notice after which the listener checks its connection
RECONNECT_FIRST = 0.5  # seconds before the listener's first try to reconnect, doubled up to
RECONNECT_MAX = 5.0

NOTIFY = "SELECT pg_notify(channel, %(token)s) FROM unnest(%(channels)s::text[]) AS channel"


class PostgresWakeups(LocalWakeups):
    """`core.ports.Wakeups` over LISTEN/NOTIFY for one store (one process)."""

    def __init__(self, db: PostgresDatabase) -> None:
        super().__init__()
        self.db = db
        self.token = secrets.token_hex(8)  # names this store's notices
        self._sent: dict[WorkKind, float] = {}  # monotonic time of the last NOTIFY per kind
        self._later: dict[WorkKind, asyncio.TimerHandle] = {}  # kinds whose NOTIFY waits for GAP
        self._sending: set[asyncio.Task[None]] = set()
        self._listener: asyncio.Task[None] | None = None
        db.before_commit = self._before_commit
        db.after_commit = self._after_commit

    def subscribe(self, kind: WorkKind, callback: Callable[[], None]) -> None:
        super().subscribe(kind, callback)
        if self._listener is None:
            self._listener = asyncio.get_running_loop().create_task(self._listen(), name="store wake-ups")

    async def close(self) -> None:
        """Stop listening; send the notices still waiting for GAP (the database is still open)."""
        if self._listener is not None:
            self._listener.cancel()
            await asyncio.gather(self._listener, return_exceptions=True)
            self._listener = None
        waiting = list(self._later)
        for timer in self._later.values():
            timer.cancel()
        self._later.clear()
        if waiting:
            await self._send(waiting)
        await asyncio.gather(*self._sending, return_exceptions=True)

    # ---- sending -----------------------------------------------------------------------------

    async def _before_commit(self, tx: Tx) -> None:
        """In a group's transaction that made work for others: NOTIFY its channels, except
        those notified less than GAP ago, whose NOTIFY is sent when GAP has passed."""
        now = time.monotonic()
        due = []
        for kind in sorted(tx.wake):
            last = self._sent.get(kind)
            if last is None or now - last >= GAP:
                due.append(kind)
                self._sent[kind] = now
                if (timer := self._later.pop(kind, None)) is not None:
                    timer.cancel()  # this notice covers the work that waited for it
            elif kind not in self._later:
                loop = asyncio.get_running_loop()
                self._later[kind] = loop.call_later(last + GAP - now, self._send_later, kind)
        if due:
            await tx.execute(NOTIFY, {"token": self.token, "channels": [CHANNELS[k] for k in due]})

    def _send_later(self, kind: WorkKind) -> None:
        self._later.pop(kind, None)
        task = asyncio.get_running_loop().create_task(self._send([kind]))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, kinds: Iterable[WorkKind]) -> None:
        """NOTIFY these channels in a write of their own (it joins the next group)."""
        wanted = sorted(kinds)

        async def op(tx: Tx) -> None:
            await tx.execute(NOTIFY, {"token": self.token, "channels": [CHANNELS[k] for k in wanted]})
            self._sent.update(dict.fromkeys(wanted, time.monotonic()))

        try:
            await self.db.write(op)
        except StoreError as exc:  # the work is in the database: the pollers will find it
            log.debug("wake-ups: could not notify %s: %s", ", ".join(wanted), exc)

    def _after_commit(self, tx: Tx) -> None:
        """This process's own subscribers hear at once (its notices are not heard back)."""
        kinds = set(tx.wake)
        if tx.posts:
            kinds.add("posts")
        if kinds:
            self.wake(sorted(kinds))

    # ---- listening ---------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Listen on every channel for as long as the store is open, reconnecting when the
        connection is lost; wake every subscriber each time it is listening."""
        delay = RECONNECT_FIRST
        lost: str | None = None  # why the connection went away (said once per outage)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.db.url, autocommit=True, connect_timeout=max(2, int(CONNECT_TIMEOUT))
                )
                async with conn:
                    for channel in CHANNELS.values():
                        await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                    if lost is not None:
                        log.info("wake-ups: listening again (the database connection was lost: %s)", lost)
                    lost, delay = None, RECONNECT_FIRST
                    self.wake(WORK_KINDS)  # what was committed while nobody listened
                    await self._hear(conn)
            except (psycopg.Error, TimeoutError) as exc:
                if lost is None:
                    lost = str(exc).strip() or type(exc).__name__
                    log.warning("wake-ups: %s; workers poll until the database is back", lost)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _hear(self, conn: Connection) -> None:
        """Wake the subscribers of each notice of another process; check the connection every
        CHECK_EVERY (one to a host that vanished may never report an error by itself)."""
        while True:
            async for notice in conn.notifies(timeout=CHECK_EVERY):
                kind = KIND_OF.get(notice.channel)
                if kind is not None and notice.payload != self.token:
                    self.wake((kind,))
            await asyncio.wait_for(conn.execute("SELECT 1"), CONNECT_TIMEOUT)
