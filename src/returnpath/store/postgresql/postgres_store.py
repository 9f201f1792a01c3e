"""`core.ports.Store` on PostgreSQL, for several nodes sharing one database. The SQL lives in
queries.sql; this module maps rows to values. Semantics are SQLite's (../sqlite/sqlite_store.py) in
every method: the conformance suite (tests/store) runs against both."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from psycopg_pool import PoolTimeout

from ...core import senders, throttle
from ...core.events import Event, EventKind, log_record
from ...core.feedback import Format, Loop, Post, PostState, PostView
from ...core.model import (
    Account,
    Attempt,
    DeliveryJob,
    DeliveryState,
    DeliveryView,
    Returned,
)
from ...core.ports import NewMessage, NodeStatus, Outbox, SealedKey, Store, StoredEvent, WorkKind
from ...core.retry import Settlement
from ...core.senders import SendingDomain
from ...core.throttle import AuthCounts, AuthLimits
from ...errors import InputError, StoreError, StoreFull
from .. import rows as from_row
from ..sql import load_queries
from . import postgres_database as database
from .postgres_database import PostgresDatabase, Tx
from .postgres_outbox import WINDOW, PostgresOutbox, insert_event, loop_from_row
from .postgres_wakeups import PostgresWakeups

Q = load_queries(__package__, "queries.sql")
_SETTLE_ONE = database.lone(Q["settle_deliveries"], "settle")

_Settle = tuple[DeliveryJob, Attempt, Settlement]  # the arguments of one store.settle
_Submit = tuple[NewMessage, str | None, float | None]  # a message, its deliveries' owner, their lease
# settle_deliveries' fields of a settle, in the order _settle_round gives them.
_SETTLE_FIELDS = (
    "id",
    "owner",
    "attempts",
    "time",
    "remote",
    "step",
    "code",
    "status",
    "text",
    "verdict",
    "state",
    "next",
    "kind",
    "event_delivery",
    "event_message",
    "event_account",
    "event_time",
    "data",
    "n",
)


class PostgresStore:
    """The store of one node in a database that several nodes may share (`shared`)."""

    shared = True

    def __init__(
        self,
        url: str,
        *,
        node: str = "",
        loop_window: float = WINDOW,
        min_connections: int = 2,
        max_connections: int = 10,
    ) -> None:
        self.url = url
        self.node = node  # written into the events and attempts this store records
        self.loop_window = loop_window  # the retry window of a feedback loop's post
        self.db = PostgresDatabase(url, min_connections=min_connections, max_connections=max_connections)
        self.wakeups = PostgresWakeups(self.db)  # LISTEN/NOTIFY: work for other processes
        self.outbox: Outbox = PostgresOutbox(self.db, self.wakeups)  # for the dispatcher

    async def open(self) -> None:
        """Connect; create the schema in an empty database. Never migrates one that has a
        schema: other nodes may be using it (`migrate` does that, when asked)."""
        await self.db.open()
        try:
            async with self.db.pool.connection() as conn:
                if await database.check(conn) == 0:
                    await database.migrate(conn)
        except StoreError:
            await self.db.close()
            raise
        except (psycopg.Error, PoolTimeout) as exc:
            await self.db.close()
            raise database.unavailable(exc) from None

    async def close(self) -> None:
        await self.wakeups.close()
        await self.db.close()

    async def migrate(self, vet: Callable[[list[NodeStatus]], None] | None = None) -> tuple[int, int]:
        """Bring the schema to the newest version; (before, after). Works on a store that is
        not open too (`returnpath migrate` with an older database, which `open` refuses).
        When there is something to migrate, `vet` sees the nodes first and may refuse."""
        conn = await database.connect(self.url)
        try:
            async with conn:
                return await database.migrate(conn, vet)
        except psycopg.Error as exc:
            raise database.unavailable(exc) from None

    # ---- nodes -------------------------------------------------------------------------------

    async def heartbeat(self, status: NodeStatus) -> None:
        params = {
            "name": status.name,
            "host": status.host,
            "pid": status.pid,
            "version": status.version,
            "listen": status.listen,
            "started_at": status.started_at,
            "heartbeat_at": status.heartbeat_at,
        }

        async def op(tx: Tx) -> None:
            await tx.execute(Q["heartbeat"], params)

        await self.db.write(op)

    async def nodes(self) -> list[NodeStatus]:
        async def op(tx: Tx) -> list[tuple[Any, ...]]:
            return await (await tx.execute(Q["nodes"], {"now": _time.time()})).fetchall()

        return [NodeStatus(*row) for row in await self.db.read(op)]

    async def hold_logs(self, holder: str, now: float, until: float, dead_before: float) -> list[str]:
        params = {"holder": holder, "now": now, "until": until, "dead_before": dead_before}

        async def op(tx: Tx) -> list[str]:
            await tx.execute(Q["release_log_holds"], params)
            return sorted(row[0] for row in await (await tx.execute(Q["hold_logs"], params)).fetchall())

        return await self.db.write(op)

    async def forget_node(self, name: str, cursor: str, dead_before: float) -> tuple[float, int] | None:
        async def op(tx: Tx) -> tuple[float, int] | None:
            row = await (await tx.execute(Q["forgetting_node"], {"name": name, "cursor": cursor})).fetchone()
            if row is None:
                return None
            if row[0] < dead_before and row[1] == 0:
                await tx.execute(Q["forget_node"], {"name": name})
            return float(row[0]), int(row[1])

        return await self.db.write(op)

    # ---- accounts ----------------------------------------------------------------------------

    async def create_account(self, account: Account, api_token_hash: str, smtp_password_hash: str, now: float) -> None:
        params = {
            "id": account.id,
            "name": account.name,
            "smtp_username": account.smtp_username,
            "smtp_password_hash": smtp_password_hash,
            "api_token_hash": api_token_hash,
            "created_at": now,
        }

        async def op(tx: Tx) -> None:
            # ON CONFLICT DO NOTHING rather than catching the IntegrityError: an error would
            # roll back the group of writes this one is committed with (postgres_database.py).
            if await (await tx.execute(Q["insert_account"], params)).fetchone() is None:
                raise InputError(f"an account named {account.name!r} exists already")

        await self.db.write(op)

    async def account_by_token(self, api_token_hash: str) -> Account | None:
        row = await self._one(Q["account_by_token"], (api_token_hash,))
        return from_row.account(row) if row else None

    async def account_by_username(self, smtp_username: str) -> tuple[Account, str] | None:
        return from_row.account_and_hash(await self._one(Q["account_by_username"], (smtp_username,)))

    async def accounts(self) -> list[Account]:
        return [from_row.account(row) for row in await self._all(Q["accounts"])]

    async def account(self, account_id: str) -> Account | None:
        row = await self._one(Q["account_by_id"], (account_id,))
        return from_row.account(row) if row else None

    async def update_account(
        self,
        account_id: str,
        *,
        api_token_hash: str | None = None,
        smtp_password_hash: str | None = None,
        disabled: bool | None = None,
        sender_domains: Sequence[str] | None = None,
    ) -> Account | None:
        params = {
            "id": account_id,
            "api_token_hash": api_token_hash,
            "smtp_password_hash": smtp_password_hash,
            "disabled": disabled,
            "sender_domains": None if sender_domains is None else json.dumps(list(sender_domains)),
        }

        async def op(tx: Tx) -> Account | None:
            row = await (await tx.execute(Q["update_account"], params)).fetchone()
            return from_row.account(row) if row else None

        return await self.db.write(op)

    async def remove_account(self, account_id: str, *, force: bool = False) -> int | None:
        async def op(tx: Tx) -> int | None:
            row = await (await tx.execute(Q["account_by_id"], (account_id,))).fetchone()
            if row is None:
                return None
            pending = await _count(tx, Q["account_pending_deliveries"], (account_id,))
            if pending and not force:
                raise InputError(
                    f"account {row[1]!r} has {pending} queued or deferred deliveries; "
                    "remove it when they are done, or with --force to drop them"
                )
            deliveries = await _count(tx, Q["account_delivery_count"], (account_id,))
            for query in (
                "delete_account_attempts",
                "delete_account_events",
                "delete_account_deliveries",
                "delete_account_messages",
                "delete_account_loops",
                "delete_account_domains",
                "delete_account_kept_bounce_domains",
                "delete_account",
            ):
                await tx.execute(Q[query], (account_id,))
            return deliveries

        return await self.db.write(op)

    # ---- failed logins (core/throttle.py) ----------------------------------------------------

    async def auth_lookup(
        self, address: str, username: str, smtp_username: str, now: float, limits: AuthLimits
    ) -> tuple[str | None, tuple[Account, str] | None]:
        params = _auth_params(address, username, now, limits) | {"smtp_username": smtp_username}
        row = await self._one(Q["auth_lookup"], params)
        assert row is not None  # one row, always
        return throttle.failures_refusal(limits, _auth_counts_of(row[:5])), from_row.account_and_hash(row[5:])

    async def reserve_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> str | None:
        async def op(tx: Tx) -> str | None:
            await tx.execute(Q["lock_auth"], (list(throttle.failure_keys(address, username)),))
            await tx.execute(Q["prune_auth_failures"], (now - limits.window,))
            refused = throttle.refusal(limits, await _auth_counts(tx, address, username, now, limits))
            if refused is None:
                await tx.executemany(
                    Q["count_auth_failure"], [(key, now) for key in throttle.busy_keys(address, username)]
                )
            return refused

        return await self.db.write(op)

    async def release_auth(self, address: str, username: str, now: float) -> None:
        async def op(tx: Tx) -> None:
            await tx.executemany(Q["uncount_auth_failure"], [(key,) for key in throttle.busy_keys(address, username)])
            await tx.execute(Q["prune_auth_logins"], (now - throttle.KNOWN_FOR,))
            await tx.execute(Q["remember_auth_login"], (username, address, now))

        await self.db.write(op)

    async def fail_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute(Q["prune_auth_failures"], (now - limits.window,))
            await tx.executemany(Q["uncount_auth_failure"], [(key,) for key in throttle.busy_keys(address, username)])
            failed = throttle.failure_keys(address, username)
            await tx.executemany(Q["count_auth_failure"], [(key, now) for key in failed])

        await self.db.write(op)

    # ---- messages and deliveries -------------------------------------------------------------

    async def submit(self, message: NewMessage, *, owner: str | None, lease_until: float) -> None:
        # Batched: the submissions a group commits are stored by one statement (insert_messages),
        # and one alone in its group needs no BEGIN and COMMIT of its own when it wakes nobody.
        submission: _Submit = (message, owner, lease_until)
        await self.db.write(database.Batched(self._submit_many, submission, one_statement=owner is not None))

    async def _submit_many(self, tx: Tx, submissions: list[_Submit]) -> list[None]:
        await _insert_messages(tx, submissions)
        if any(owner is None for _, owner, _ in submissions):
            tx.wake.add("deliveries")  # not handed to an engine of this process: any engine may claim it
        return [None] * len(submissions)

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[DeliveryJob]:
        params = {"owner": owner, "until": lease_until, "now": now, "limit": limit}

        async def op(tx: Tx) -> list[DeliveryJob]:
            rows = await (await tx.execute(Q["claim"], params)).fetchall()
            # Each message's body is on one of its rows (queries.sql, claim).
            mimes = {row[1]: bytes(row[12]) for row in rows if row[12] is not None}
            return [from_row.job(row, mimes, owner) for row in rows]

        return await self.db.write_apart(op)

    async def renew(self, owner: str, delivery_ids: Sequence[str], lease_until: float) -> None:
        if not delivery_ids:
            return
        args = (lease_until, owner, list(delivery_ids))

        async def op(tx: Tx) -> None:
            await tx.execute(Q["renew"], args)

        await self.db.write(op)

    async def release(self, owner: str | None = None, *, node: str | None = None) -> int:
        args: tuple[str, ...]
        if owner is not None:
            suffix, args = "owner", (owner,)
        elif node is not None:
            suffix, args = "node", (node,)
        else:
            suffix, args = "all", ()

        async def op(tx: Tx) -> int:
            released: dict[WorkKind, int] = {
                "returns": (await tx.execute(Q[f"release_returns_{suffix}"], args)).rowcount,
                "posts": (await tx.execute(Q[f"release_posts_{suffix}"], args)).rowcount,
                "deliveries": (await tx.execute(Q[f"release_{suffix}"], args)).rowcount,
            }
            tx.wake.update(kind for kind, count in released.items() if count > 0)
            return released["deliveries"]

        return await self.db.write(op)

    async def settle(self, job: DeliveryJob, attempt: Attempt, settlement: Settlement) -> int | None:
        # Batched: the settles a group commits are recorded by one statement (_settle_many),
        # where each alone would cost three round trips (postgres_database.py's docstring has figures),
        # and a group of nothing but settles of distinct deliveries needs no BEGIN and COMMIT.
        settle: _Settle = (job, attempt, settlement)
        return await self.db.write(database.Batched(self._settle_many, settle, one_statement=_one_round))

    async def _settle_many(self, tx: Tx, settles: list[_Settle]) -> list[int | None]:
        """Record settles as each alone would have been (lease_owner, settle_delivery,
        insert_event and insert_post in turn): with settle_deliveries, for a round of distinct
        deliveries at a time. Two settles of one delivery in a group (the engine does not make
        them, but the port allows it) go in rounds one after the other, so the second finds the
        first done."""
        results: list[int | None] = [None] * len(settles)
        for positions in database.rounds([job.delivery_id for job, _, _ in settles]):
            await self._settle_round(tx, [settles[index] for index in positions], positions, results)
        return results

    async def _settle_round(
        self, tx: Tx, settles: list[_Settle], positions: list[int], results: list[int | None]
    ) -> None:
        """Settle distinct deliveries with one settle_deliveries; their event ids go into
        `results` at `positions`."""
        rows = [
            dict(
                zip(
                    _SETTLE_FIELDS,
                    (
                        job.delivery_id,
                        job.owner,
                        *from_row.attempt_columns(attempt),
                        settlement.state.value,
                        settlement.next_attempt_at,
                        *_event_columns(settlement.event),
                        n,
                    ),
                    strict=True,
                )
            )
            for n, (job, attempt, settlement) in enumerate(settles, 1)
        ]
        rows.sort(key=lambda row: row["id"])  # locked in this order (queries.sql, settle_deliveries)
        params = {
            "settles": json.dumps(rows),
            "node": self.node,
            "lock": database.EVENTS_LOCK,
            "window": self.loop_window,
        }
        query = Q["settle_deliveries"]
        if len(rows) == 1:
            query, params["one"] = _SETTLE_ONE, rows[0]["id"]
        stored = await (await tx.execute(query, params)).fetchall()
        for n, event_id, _ in stored:
            results[positions[n - 1]] = int(event_id)
        if stored:
            tx.posts += int(stored[0][2])  # the posts the statement inserted, on every row

    async def views(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryView]:
        if not delivery_ids:
            return {}

        async def op(tx: Tx) -> dict[str, DeliveryView]:
            rows = await (await tx.execute(Q["deliveries_by_id"], (list(delivery_ids),))).fetchall()
            return {row[0]: await _view(tx, row, history=False) for row in rows}

        return await self.db.read(op)

    # ---- returned messages -------------------------------------------------------------------

    async def receive(self, returned: Returned, *, limit: int | None = None) -> None:
        size = len(returned.raw)
        row = (
            returned.id,
            returned.mailfrom,
            json.dumps(list(returned.rcptto)),
            json.dumps(list(returned.deliveries)),
            returned.client,
            returned.received_at,
            size,
            returned.raw,
        )

        async def op(tx: Tx) -> None:
            if limit is not None:
                # FOR UPDATE: receivers on several nodes check the total one at a time.
                stored = await _count(tx, Q["stored_returns"] + " FOR UPDATE", ())
                if stored + size > limit:
                    raise StoreFull(f"returned mail takes {stored} bytes; {size} more would pass the limit of {limit}")
            await tx.execute(Q["insert_return"], row)
            await tx.execute(Q["add_stored_returns"], (size,))
            tx.wake.add("returns")

        await self.db.write(op)

    async def stored_returns(self) -> int:
        row = await self._one(Q["stored_returns"], ())
        return int(row[0]) if row else 0

    async def forwards_since(self, account_id: str, since: float) -> int:
        row = await self._one(Q["forwards_since"], (account_id, since))
        return int(row[0]) if row else 0

    async def claim_returns(self, owner: str, now: float, lease_until: float, limit: int) -> list[Returned]:
        params = {"owner": owner, "until": lease_until, "now": now, "limit": limit}

        async def op(tx: Tx) -> list[tuple[Any, ...]]:
            return await (await tx.execute(Q["claim_returns"], params)).fetchall()

        # One statement, as the deliveries' claim: beside the writer's groups, so that an idle
        # worker's poll (one a second) never holds up a submission's commit.
        rows = await self.db.write_apart(op)
        return sorted((from_row.returned(row) for row in rows), key=lambda r: r.received_at)

    async def returned(self, return_id: str) -> Returned | None:
        row = await self._one(Q["return_by_id"], (return_id,))
        return from_row.returned(row) if row else None

    async def finish_return(
        self,
        return_id: str,
        kind: str,
        events: Sequence[Event],
        failed: Sequence[str],
        forwards: Sequence[NewMessage],
        now: float,
    ) -> list[int]:
        async def op(tx: Tx) -> list[int]:
            # A delivery fails once: if another report failed it since the worker looked,
            # this one's failure event is not recorded (its bounce event is).
            failed_before = set()
            for delivery_id in failed:
                if (await tx.execute(Q["fail_delivery"], (now, delivery_id))).rowcount == 0:
                    failed_before.add(delivery_id)
            if forwards:
                await _insert_messages(tx, [(message, None, None) for message in forwards])
                tx.wake.add("deliveries")
            await tx.execute(Q["finish_return"], (kind, now, return_id))
            # The events last: their lock is held until the commit (database.EVENTS_LOCK).
            return [
                await insert_event(tx, event, now, self.loop_window, self.node)
                for event in events
                if not (event.kind is EventKind.FAILURE and event.delivery_id in failed_before)
            ]

        return await self.db.write(op)

    async def delivery(self, account_id: str, delivery_id: str) -> DeliveryView | None:
        async def op(tx: Tx) -> DeliveryView | None:
            row = await (await tx.execute(Q["delivery"], (delivery_id, account_id))).fetchone()
            return await _view(tx, row, history=True) if row else None

        return await self.db.read(op)

    async def message_deliveries(self, account_id: str, message_id: str) -> list[DeliveryView]:
        async def op(tx: Tx) -> list[DeliveryView]:
            rows = await (await tx.execute(Q["message_deliveries"], (message_id, account_id))).fetchall()
            return [await _view(tx, row, history=False) for row in rows]

        return await self.db.read(op)

    async def mime(self, message_id: str) -> bytes | None:
        row = await self._one(Q["mime"], ([message_id],))
        return bytes(row[1]) if row else None

    async def sign_message(self, message_id: str, mime: bytes) -> bytes:
        async def op(tx: Tx) -> bytes:
            await tx.execute(Q["sign_message"], (mime, len(mime), message_id))
            row = await (await tx.execute(Q["mime"], ([message_id],))).fetchone()
            assert row is not None  # a message is deleted with its account only, after its deliveries
            return bytes(row[1])

        return await self.db.write(op)

    # ---- retention ---------------------------------------------------------------------------

    async def purge_bodies(self, before: float, now: float, batch: int) -> int:
        return await self._change(Q["purge_bodies"], {"before": before, "now": now, "batch": batch, "nothing": b""})

    async def purge_returns(self, before: float, now: float, batch: int) -> int:
        params = {"before": before, "now": now, "batch": batch, "nothing": b""}

        async def op(tx: Tx) -> int:
            sizes = [row[0] for row in await (await tx.execute(Q["purge_returns"], params)).fetchall()]
            await tx.execute(Q["add_stored_returns"], (-sum(sizes),))
            return len(sizes)

        return await self.db.write(op)

    async def purge_events(self, before: float, logged: int, batch: int) -> int:
        return await self._change(Q["purge_events"], {"before": before, "logged": logged, "batch": batch})

    async def purge_posts(self, done_before: float, dead_before: float, batch: int = 5000) -> int:
        """Delete done posts last attempted before `done_before` and dead ones before
        `dead_before`, at most `batch` of them; how many. Pending posts are never deleted."""
        return await self._change(Q["purge_posts"], {"done": done_before, "dead": dead_before, "batch": batch})

    async def queue_summary(self) -> dict[str, int]:
        summary = {state.value: 0 for state in DeliveryState}
        summary.update({state: count for state, count in await self._all(Q["queue_summary"])})
        return summary

    # ---- events ------------------------------------------------------------------------------

    async def events(
        self,
        *,
        after: int = 0,
        limit: int = 1000,
        kinds: Sequence[EventKind] = (),
        account_id: str | None = None,
        since: float | None = None,
        node: str | None = None,
    ) -> list[StoredEvent]:
        # Built here rather than in queries.sql: the filters are optional.
        where: list[sql.Composable] = [sql.SQL("id > %s")]
        args: list[Any] = [after]
        for column, value in (("account_id", account_id), ("node", node)):
            if value is not None:
                where.append(sql.SQL("{} = %s").format(sql.Identifier(column)))
                args.append(value)
        if kinds:
            where.append(sql.SQL("kind = ANY(%s)"))
            args.append([k.value for k in kinds])
        if since is not None:
            where.append(sql.SQL("time >= %s"))
            args.append(since)
        query = sql.SQL(
            "SELECT id, kind, delivery_id, message_id, account_id, time, data, node FROM events"
            " WHERE {} ORDER BY id LIMIT %s"
        ).format(sql.SQL(" AND ").join(where))
        args.append(limit)

        async def op(tx: Tx) -> list[tuple[Any, ...]]:
            return await (await tx.conn.execute(query, args)).fetchall()

        return [from_row.stored_event(row) for row in await self.db.read(op)]

    async def newest_event_id(self) -> int:
        row = await self._one(Q["newest_event_id"])
        return int(row[0]) if row else 0

    async def cursor(self, name: str) -> int:
        row = await self._one(Q["cursor"], (name,))
        return int(row[0]) if row else 0

    async def set_cursor(self, name: str, value: int) -> None:
        async def op(tx: Tx) -> None:
            await tx.execute(Q["set_cursor"], (name, value))

        await self.db.write(op)

    async def move_cursor(self, name: str, old: int, new: int) -> bool:
        async def op(tx: Tx) -> bool:
            cur = await tx.execute(Q["move_cursor"], {"name": name, "old": old, "new": new})
            return await cur.fetchone() is not None

        return await self.db.write(op)

    # ---- feedback loops; each scoped by account ----------------------------------------------

    async def create_loop(self, loop: Loop, now: float | None = None) -> Loop:
        params = {
            "id": loop.id,
            "account_id": loop.account_id,
            "url": loop.url,
            "format": loop.format.value,
            "active": loop.active,
            "secret": loop.secret,
            "now": _time.time() if now is None else now,
        }

        async def op(tx: Tx) -> None:
            await tx.execute(Q["insert_loop"], params)
            await tx.executemany(Q["insert_loop_event"], [(loop.id, k.value) for k in sorted(loop.events)])

        await self.db.write(op)
        return loop

    async def loops(self, account_id: str) -> list[Loop]:
        return [loop_from_row(row) for row in await self._all(Q["loops"], (account_id,))]

    async def loop(self, account_id: str, loop_id: str) -> Loop | None:
        """The account's loop; None when there is none by that id (or it is another account's)."""
        row = await self._one(Q["loop"], (loop_id, account_id))
        return loop_from_row(row) if row else None

    async def update_loop(
        self,
        account_id: str,
        loop_id: str,
        *,
        url: str | None = None,
        events: Iterable[EventKind] | None = None,
        format: Format | None = None,
        active: bool | None = None,
        secret: str | None = None,
        previous_until: float | None = None,
        now: float | None = None,
    ) -> Loop | None:
        """Change what is given; None when the account has no such loop. New event kinds apply
        to events stored from now on. A new `secret` rotates it: the old one is kept as the
        previous secret, signed with too until `previous_until`."""
        at = _time.time() if now is None else now
        kinds = None if events is None else frozenset(events)

        async def op(tx: Tx) -> Loop | None:
            row = await (await tx.execute(Q["loop"] + " FOR UPDATE OF l", (loop_id, account_id))).fetchone()
            if row is None:
                return None
            old = loop_from_row(row)
            new = replace(
                old,
                url=old.url if url is None else url,
                events=old.events if kinds is None else kinds,
                format=old.format if format is None else format,
                active=old.active if active is None else active,
            )
            if secret is not None:
                new = replace(new, secret=secret, previous_secret=old.secret, previous_until=previous_until)
            await tx.execute(
                Q["update_loop"],
                {
                    "url": new.url,
                    "format": new.format.value,
                    "active": new.active,
                    "secret": new.secret,
                    "previous_secret": new.previous_secret,
                    "previous_until": new.previous_until,
                    "now": at,
                    "id": loop_id,
                    "account_id": account_id,
                },
            )
            if new.events != old.events:
                await tx.execute(Q["delete_loop_events"], (loop_id,))
                await tx.executemany(Q["insert_loop_event"], [(loop_id, k.value) for k in sorted(new.events)])
            return new

        return await self.db.write(op)

    async def delete_loop(self, account_id: str, loop_id: str) -> bool:
        """Remove the loop with its posts; False when the account has no such loop."""
        return await self._change(Q["delete_loop"], (loop_id, account_id)) > 0

    async def loop_posts(
        self,
        account_id: str,
        loop_id: str,
        *,
        state: PostState | str | None = None,
        now: float | None = None,
        limit: int = 100,
        before: tuple[float, int] | None = None,
    ) -> list[PostView] | None:
        """A loop's posts, newest event first, each with whether it is in flight (leased now)
        and its event's kind and delivery. None when the account has no such loop."""
        params = {
            "loop_id": loop_id,
            "state": None if state is None else str(state),
            "now": _time.time() if now is None else now,
            "limit": limit,
            **from_row.page_after(before),
        }

        async def op(tx: Tx) -> list[PostView] | None:
            if await (await tx.execute(Q["loop"], (loop_id, account_id))).fetchone() is None:
                return None
            rows = await (await tx.execute(Q["loop_posts"], params)).fetchall()
            return [PostView(from_row.post(row[:12]), bool(row[12]), EventKind(row[13]), row[14]) for row in rows]

        return await self.db.read(op)

    async def loop_post(self, account_id: str, loop_id: str, item_id: str) -> Post | None:
        """One post of the account's loop; None when there is none by that id there."""
        row = await self._one(Q["loop_post"], (item_id, loop_id, account_id))
        return from_row.post(row) if row else None

    async def replay_post(self, account_id: str, loop_id: str, item_id: str, now: float | None = None) -> bool:
        """Post a done or dead post again: pending, attempts 0, due now, a new retry window; its
        last status and error stay until the next attempt. False when there is no such post
        (of this account's loop) or it is pending already."""
        at = _time.time() if now is None else now
        params = {
            "id": item_id,
            "loop_id": loop_id,
            "account_id": account_id,
            "now": at,
            "expires": at + self.loop_window,
        }
        return await self._change(Q["replay_post"], params, wake="posts") > 0

    async def replay_dead(self, account_id: str, loop_id: str, now: float | None = None) -> int:
        """Replay every dead post of the loop; returns how many."""
        at = _time.time() if now is None else now
        params = {"loop_id": loop_id, "account_id": account_id, "now": at, "expires": at + self.loop_window}
        return await self._change(Q["replay_dead"], params, wake="posts")

    # ---- sending domains (core/domains.py) and their DKIM keys, sealed -------------------------

    async def add_domain(self, domain: SendingDomain, keys: Sequence[SealedKey] = ()) -> None:
        async def op(tx: Tx) -> None:
            # (Refused below as taken: the transaction rolls back, keep_bounce_domain with it.)
            await tx.execute(Q["keep_bounce_domain"], (domain.domain,))
            if await (await tx.execute(Q["insert_domain"], from_row.domain_params(domain))).fetchone() is None:
                row = await (await tx.execute(Q["domain"], (domain.domain,))).fetchone()
                if row is None:  # removed again meanwhile: as if it had been added and removed
                    return
                raise senders.taken(from_row.sending_domain(row), domain.account_id)
            await _insert_keys(tx, keys)

        await self.db.write(op)

    async def domain(self, name: str) -> SendingDomain | None:
        row = await self._one(Q["domain"], (name,))
        return from_row.sending_domain(row) if row else None

    async def domains(self, account_id: str | None = None) -> list[SendingDomain]:
        rows = await (self._all(Q["domains"]) if account_id is None else self._all(Q["account_domains"], (account_id,)))
        return [from_row.sending_domain(row) for row in rows]

    async def update_domain(self, domain: SendingDomain, was: SendingDomain, keys: Sequence[SealedKey] = ()) -> bool:
        params = from_row.domain_update_params(domain, was)

        async def op(tx: Tx) -> bool:
            if (await tx.execute(Q["update_domain"], params)).rowcount == 0:
                return False
            await _insert_keys(tx, keys)
            return True

        return await self.db.write(op)

    async def dkim_keys(self, domain: str) -> list[SealedKey]:
        return [from_row.sealed_key(row) for row in await self._all(Q["dkim_keys"], (domain,))]

    async def import_dkim_keys(self, keys: Sequence[SealedKey]) -> int:
        async def op(tx: Tx) -> int:
            return sum([(await tx.execute(Q["insert_dkim_key"], from_row.sealed_key_params(k))).rowcount for k in keys])

        return await self.db.write(op)

    async def remove_domain(self, account_id: str, name: str, now: float) -> bool:
        return await self._change(Q["remove_domain"], (now, account_id, name)) > 0

    async def bounce_domains(self, removed_since: float) -> list[str]:
        return [row[0] for row in await self._all(Q["bounce_domains"], (removed_since,) * 2)]

    async def purge_removed_domains(self, before: float) -> int:
        async def op(tx: Tx) -> int:
            kept = (await tx.execute(Q["purge_kept_bounce_domains"], (before,))).rowcount
            return kept + (await tx.execute(Q["purge_removed_domains"], (before,))).rowcount

        return await self.db.write(op)

    # ---- helpers -----------------------------------------------------------------------------

    async def _one(self, query: str, args: Sequence[Any] | dict[str, Any] = ()) -> tuple[Any, ...] | None:
        async def op(tx: Tx) -> tuple[Any, ...] | None:
            return await (await tx.execute(query, args)).fetchone()

        return await self.db.read(op)

    async def _all(self, query: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async def op(tx: Tx) -> list[tuple[Any, ...]]:
            return await (await tx.execute(query, args)).fetchall()

        return await self.db.read(op)

    async def _change(self, query: str, args: Sequence[Any] | dict[str, Any], *, wake: WorkKind | None = None) -> int:
        """Run one writing statement; how many rows it changed. `wake`: the kind of work that
        changed rows are, for the other processes' workers."""

        async def op(tx: Tx) -> int:
            changed = (await tx.execute(query, args)).rowcount
            if wake is not None and changed > 0:
                tx.wake.add(wake)
            return changed

        return await self.db.write(op)


def _event_columns(event: Event | None) -> tuple[Any, ...]:
    """An event as settle_deliveries takes it (NULLs for none)."""
    if event is None:
        return (None,) * 6
    return (event.kind.value, event.delivery_id, event.message_id, event.account_id, event.time, json.dumps(event.data))


async def _count(tx: Tx, query: str, args: Sequence[Any]) -> int:
    row = await (await tx.execute(query, args)).fetchone()
    return int(row[0]) if row else 0


async def _insert_keys(tx: Tx, keys: Sequence[SealedKey]) -> None:
    """Store a domain's new keys; InputError (the transaction rolled back) for a used selector."""
    for key in keys:
        if (await tx.execute(Q["insert_dkim_key"], from_row.sealed_key_params(key))).rowcount == 0:
            raise from_row.selector_used(key)


async def _insert_messages(tx: Tx, submissions: Sequence[_Submit]) -> None:
    """Insert messages with their deliveries (insert_messages), each delivery leased to the
    owner it was submitted for, if any."""
    messages = [
        {
            "id": message.id,
            "account_id": message.account_id,
            "mail_from": message.submission.mail_from,
            "envelope": message.submission.envelope,
            "trackbounces": message.submission.trackbounces,
            "tags": json.dumps(list(message.submission.tags)),
            "maxdelivertime": message.submission.maxdelivertime,
            "dsn": json.dumps(message.submission.dsn.as_dict()) if message.submission.dsn else None,
            "size": len(message.submission.mime),
            "created_at": message.now,
            "forward_of": message.forward_of,
            "sign_domain": message.sign_domain,
            "n": n,
        }
        for n, (message, _, _) in enumerate(submissions, 1)
    ]
    deliveries = [
        {
            "id": d.id,
            "message_id": message.id,
            "account_id": message.account_id,
            "recipient": d.recipient,
            "envelope_sender": d.envelope_sender,
            "time": message.now,
            "expires": message.expires_at,
            "owner": owner,
            "lease": lease_until if owner else None,
        }
        for message, owner, lease_until in submissions
        for d in message.deliveries
    ]
    params = {
        "messages": json.dumps(messages),
        "mimes": [message.submission.mime for message, _, _ in submissions],
        "deliveries": json.dumps(deliveries),
    }
    await tx.execute(Q["insert_messages"], params)


def _one_round(settles: list[_Settle]) -> bool:
    """Whether _settle_many settles these in one statement: each of another delivery."""
    return database.one_round([job.delivery_id for job, _, _ in settles])


async def _auth_counts(tx: Tx, address: str, username: str, now: float, limits: AuthLimits) -> AuthCounts:
    row = await (await tx.execute(Q["auth_counts"], _auth_params(address, username, now, limits))).fetchone()
    assert row is not None  # one row, always
    return _auth_counts_of(row)


def _auth_params(address: str, username: str, now: float, limits: AuthLimits) -> dict[str, Any]:
    """The parameters of the auth_counts query (and of auth_lookup, which begins with it)."""
    address_key, username_key = throttle.failure_keys(address, username)
    address_busy, username_busy = throttle.busy_keys(address, username)
    return {
        "address_key": address_key,
        "username_key": username_key,
        "address_busy": address_busy,
        "username_busy": username_busy,
        "since": now - limits.window,
        "username": username,
        "address": address,
        "known": now - throttle.KNOWN_FOR,
    }


def _auth_counts_of(row: Sequence[Any]) -> AuthCounts:
    """AuthCounts from the auth_counts query's columns."""
    return AuthCounts(int(row[0]), int(row[1]), bool(row[2]), int(row[3]), int(row[4]))


async def _view(tx: Tx, row: Sequence[Any], *, history: bool) -> DeliveryView:
    view = from_row.view(row)
    if history:
        attempts = await (await tx.execute(Q["attempts"], (row[0],))).fetchall()
        view.history = [from_row.attempt(a) for a in attempts]
        events = await (await tx.execute(Q["delivery_events"], (row[0],))).fetchall()
        view.events = [
            log_record(stored.id, stored.event, stored.node) for stored in map(from_row.stored_event, events)
        ]
    return view


if TYPE_CHECKING:

    def _implements_the_port(store: PostgresStore) -> Store:
        return store  # mypy checks here that PostgresStore has every method of core.ports.Store
