"""`core.ports.Store` on SQLite. The SQL lives in queries.sql; this module maps rows to values."""

from __future__ import annotations

import json
import sqlite3
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

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
from ...core.ports import NewMessage, NodeStatus, SealedKey, StoredEvent, WorkKind
from ...core.retry import Settlement
from ...core.senders import SendingDomain
from ...core.throttle import AuthCounts, AuthLimits
from ...errors import InputError, StoreFull
from .. import rows as from_row
from ..sql import load_queries
from ..wakeups import LocalWakeups
from .sqlite_database import SqliteDatabase
from .sqlite_outbox import WINDOW, SqliteOutbox, fan_out, loop_from_row

Q = load_queries(__package__, "queries.sql")


class SqliteStore:
    """The embedded store: one file, one node (the data folder's lock keeps others out)."""

    shared = False

    def __init__(self, path: Path | str, *, node: str = "", loop_window: float = WINDOW) -> None:
        self.path = Path(path)
        self.node = node  # written into the attempts and events recorded here
        self.db = SqliteDatabase(self.path)
        self.loop_window = loop_window  # the retry window of a feedback loop's post
        # In-process only: this process's workers hear of the work it commits at once; the other
        # worker processes of the node find it by polling (SQLite has no LISTEN/NOTIFY).
        self.wakeups = LocalWakeups()  # core.ports.Wakeups
        self.outbox = SqliteOutbox(self.db, self.wakeups)  # core.ports.Outbox, for the dispatcher

    async def open(self) -> None:
        self.db.open()

    async def close(self) -> None:
        self.db.close()

    async def migrate(self, vet: Callable[[list[NodeStatus]], None] | None = None) -> tuple[int, int]:
        """Bring the file to the newest schema (`open` does it too: nothing else uses the file).
        No `vet`: the one node's `serve` holds the data folder's lock, which `returnpath` checks."""
        return self.db.migrate()

    # ---- nodes -----------------------------------------------------------------------------

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
        await self.db.write(lambda c: c.execute(Q["heartbeat"], params))

    async def nodes(self) -> list[NodeStatus]:
        rows = await self.db.read(lambda c: c.execute(Q["nodes"], {"now": _time.time()}).fetchall())
        return [NodeStatus(*row) for row in rows]

    async def hold_logs(self, holder: str, now: float, until: float, dead_before: float) -> list[str]:
        params = {"holder": holder, "now": now, "until": until, "dead_before": dead_before}

        def op(conn: sqlite3.Connection) -> list[str]:
            conn.execute(Q["release_log_holds"], params)
            return sorted(row[0] for row in conn.execute(Q["hold_logs"], params).fetchall())

        return await self.db.write(op)

    async def forget_node(self, name: str, cursor: str, dead_before: float) -> tuple[float, int] | None:
        def op(conn: sqlite3.Connection) -> tuple[float, int] | None:
            row = conn.execute(Q["forgetting_node"], {"name": name, "cursor": cursor}).fetchone()
            if row is None:
                return None
            if row[0] < dead_before and row[1] == 0:
                conn.execute(Q["forget_node"], {"name": name})
            return float(row[0]), int(row[1])

        return await self.db.write(op)

    # ---- accounts ------------------------------------------------------------------------

    async def create_account(self, account: Account, api_token_hash: str, smtp_password_hash: str, now: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    Q["insert_account"],
                    {
                        "id": account.id,
                        "name": account.name,
                        "smtp_username": account.smtp_username,
                        "smtp_password_hash": smtp_password_hash,
                        "api_token_hash": api_token_hash,
                        "created_at": now,
                    },
                )
            except sqlite3.IntegrityError:
                raise InputError(f"an account named {account.name!r} exists already") from None

        await self.db.write(op)

    async def account_by_token(self, api_token_hash: str) -> Account | None:
        row = await self.db.read(lambda c: c.execute(Q["account_by_token"], (api_token_hash,)).fetchone())
        return from_row.account(row) if row else None

    async def account_by_username(self, smtp_username: str) -> tuple[Account, str] | None:
        row = await self.db.read(lambda c: c.execute(Q["account_by_username"], (smtp_username,)).fetchone())
        return from_row.account_and_hash(row)

    async def accounts(self) -> list[Account]:
        rows = await self.db.read(lambda c: c.execute(Q["accounts"]).fetchall())
        return [from_row.account(row) for row in rows]

    async def account(self, account_id: str) -> Account | None:
        row = await self.db.read(lambda c: c.execute(Q["account_by_id"], (account_id,)).fetchone())
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
            "disabled": None if disabled is None else int(disabled),
            "sender_domains": None if sender_domains is None else json.dumps(list(sender_domains)),
        }

        def op(conn: sqlite3.Connection) -> Account | None:
            if conn.execute(Q["update_account"], params).rowcount == 0:
                return None
            return from_row.account(conn.execute(Q["account_by_id"], (account_id,)).fetchone())

        return await self.db.write(op)

    async def remove_account(self, account_id: str, *, force: bool = False) -> int | None:
        def op(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(Q["account_by_id"], (account_id,)).fetchone()
            if row is None:
                return None
            pending = conn.execute(Q["account_pending_deliveries"], (account_id,)).fetchone()[0]
            if pending and not force:
                raise InputError(
                    f"account {row[1]!r} has {pending} queued or deferred deliveries; "
                    "remove it when they are done, or with --force to drop them"
                )
            deliveries = int(conn.execute(Q["account_delivery_count"], (account_id,)).fetchone()[0])
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
                conn.execute(Q[query], (account_id,))
            return deliveries

        return await self.db.write(op)

    # ---- failed logins (core/throttle.py) ------------------------------------------------

    async def auth_lookup(
        self, address: str, username: str, smtp_username: str, now: float, limits: AuthLimits
    ) -> tuple[str | None, tuple[Account, str] | None]:
        def op(conn: sqlite3.Connection) -> tuple[str | None, tuple[Account, str] | None]:
            refused = throttle.failures_refusal(limits, _auth_counts(conn, address, username, now, limits))
            return refused, from_row.account_and_hash(
                conn.execute(Q["account_by_username"], (smtp_username,)).fetchone()
            )

        return await self.db.read(op)

    async def reserve_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> str | None:
        def op(conn: sqlite3.Connection) -> str | None:
            conn.execute(Q["prune_auth_failures"], (now - limits.window,))
            refused = throttle.refusal(limits, _auth_counts(conn, address, username, now, limits))
            if refused is None:
                conn.executemany(Q["count_auth_failure"], [(key, now) for key in throttle.busy_keys(address, username)])
            return refused

        return await self.db.write(op)

    async def release_auth(self, address: str, username: str, now: float) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(Q["uncount_auth_failure"], [(key,) for key in throttle.busy_keys(address, username)])
            conn.execute(Q["prune_auth_logins"], (now - throttle.KNOWN_FOR,))
            conn.execute(Q["remember_auth_login"], (username, address, now))

        await self.db.write(op)

    async def fail_auth(self, address: str, username: str, now: float, limits: AuthLimits) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(Q["prune_auth_failures"], (now - limits.window,))
            conn.executemany(Q["uncount_auth_failure"], [(key,) for key in throttle.busy_keys(address, username)])
            conn.executemany(Q["count_auth_failure"], [(key, now) for key in throttle.failure_keys(address, username)])

        await self.db.write(op)

    # ---- messages and deliveries ---------------------------------------------------------

    async def submit(self, message: NewMessage, *, owner: str | None, lease_until: float) -> None:
        await self.db.write(lambda conn: _insert_message(conn, message, owner, lease_until))
        if owner is None:
            self.wakeups.wake(("deliveries",))

    async def claim(self, owner: str, now: float, lease_until: float, limit: int) -> list[DeliveryJob]:
        def op(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                Q["claim"], {"owner": owner, "until": lease_until, "now": now, "limit": limit}
            ).fetchall()
            return [row[0] for row in rows]

        claimed = await self.db.write(op)
        if not claimed:
            return []
        return await self.db.read(lambda c: _jobs(c, claimed, owner))

    async def renew(self, owner: str, delivery_ids: Sequence[str], lease_until: float) -> None:
        if delivery_ids:
            ids = json.dumps(list(delivery_ids))
            await self.db.write(lambda c: c.execute(Q["renew"], (lease_until, owner, ids)))

    async def release(self, owner: str | None = None, *, node: str | None = None) -> int:
        suffix: str
        args: tuple[str, ...] | dict[str, str]
        if owner is not None:
            suffix, args = "owner", (owner,)
        elif node is not None:
            suffix, args = "node", {"prefix": f"{node}/"}
        else:
            suffix, args = "all", ()

        def op(conn: sqlite3.Connection) -> dict[WorkKind, int]:
            return {
                "returns": int(conn.execute(Q[f"release_returns_{suffix}"], args).rowcount),
                "posts": int(conn.execute(Q[f"release_posts_{suffix}"], args).rowcount),
                "deliveries": int(conn.execute(Q[f"release_{suffix}"], args).rowcount),
            }

        released = await self.db.write(op)
        self.wakeups.wake(kind for kind, count in released.items() if count)
        return released["deliveries"]

    async def settle(self, job: DeliveryJob, attempt: Attempt, settlement: Settlement) -> int | None:
        event = settlement.event

        def op(conn: sqlite3.Connection) -> tuple[int | None, int]:
            if job.owner is not None:
                row = conn.execute(Q["lease_owner"], (job.delivery_id,)).fetchone()
                if row is None or row[0] != job.owner:
                    # Its lease ran out and another worker (another node) took it over: that
                    # one records its own attempts; this one's is not recorded.
                    return None, 0
            conn.execute(Q["insert_attempt"], (job.delivery_id, *from_row.attempt_columns(attempt), self.node))
            conn.execute(
                Q["update_delivery"],
                {
                    "state": settlement.state.value,
                    "attempts": attempt.number,
                    "now": attempt.time,
                    "next": settlement.next_attempt_at,
                    "id": job.delivery_id,
                },
            )
            if event is None:
                return None, 0
            return _insert_event(conn, event, attempt.time, self.loop_window, self.node)

        event_id, posts = await self.db.write(op)
        if posts:
            self.outbox.committed()
        return event_id

    async def views(self, delivery_ids: Sequence[str]) -> dict[str, DeliveryView]:
        if not delivery_ids:
            return {}
        ids = json.dumps(list(delivery_ids))

        def op(conn: sqlite3.Connection) -> dict[str, DeliveryView]:
            return {row[0]: _view(conn, row, history=False) for row in conn.execute(Q["deliveries_by_id"], (ids,))}

        return await self.db.read(op)

    # ---- returned messages ---------------------------------------------------------------

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

        def op(conn: sqlite3.Connection) -> None:
            if limit is not None:
                stored = int(conn.execute(Q["stored_returns"]).fetchone()[0])
                if stored + size > limit:
                    raise StoreFull(f"returned mail takes {stored} bytes; {size} more would pass the limit of {limit}")
            conn.execute(Q["insert_return"], row)
            conn.execute(Q["add_stored_returns"], (size,))

        await self.db.write(op)
        self.wakeups.wake(("returns",))

    async def stored_returns(self) -> int:
        row = await self.db.read(lambda c: c.execute(Q["stored_returns"]).fetchone())
        return int(row[0]) if row else 0

    async def forwards_since(self, account_id: str, since: float) -> int:
        row = await self.db.read(lambda c: c.execute(Q["forwards_since"], (account_id, since)).fetchone())
        return int(row[0])

    async def claim_returns(self, owner: str, now: float, lease_until: float, limit: int) -> list[Returned]:
        rows = await self.db.write(
            lambda conn: conn.execute(
                Q["claim_returns"], {"owner": owner, "until": lease_until, "now": now, "limit": limit}
            ).fetchall()
        )
        # RETURNING gives the rows in no promised order (SQLite's docs); oldest first, as on PostgreSQL.
        return sorted((from_row.returned(row) for row in rows), key=lambda r: r.received_at)

    async def returned(self, return_id: str) -> Returned | None:
        row = await self.db.read(lambda c: c.execute(Q["return_by_id"], (return_id,)).fetchone())
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
        def op(conn: sqlite3.Connection) -> list[tuple[int, int]]:
            # A delivery fails once: if another report failed it since the worker looked,
            # this one's failure event is not recorded (its bounce event is).
            failed_before = {d for d in failed if conn.execute(Q["fail_delivery"], (now, d)).rowcount == 0}
            inserted = [
                _insert_event(conn, event, now, self.loop_window, self.node)
                for event in events
                if not (event.kind is EventKind.FAILURE and event.delivery_id in failed_before)
            ]
            for message in forwards:
                _insert_message(conn, message, None, None)
            conn.execute(Q["finish_return"], (kind, now, return_id))
            return inserted

        inserted = await self.db.write(op)
        made: list[WorkKind] = ["posts"] if any(posts for _, posts in inserted) else []
        self.wakeups.wake(made + (["deliveries"] if forwards else []))
        return [event_id for event_id, _ in inserted]

    async def delivery(self, account_id: str, delivery_id: str) -> DeliveryView | None:
        def op(conn: sqlite3.Connection) -> DeliveryView | None:
            row = conn.execute(Q["delivery"], (delivery_id, account_id)).fetchone()
            return _view(conn, row, history=True) if row else None

        return await self.db.read(op)

    async def message_deliveries(self, account_id: str, message_id: str) -> list[DeliveryView]:
        def op(conn: sqlite3.Connection) -> list[DeliveryView]:
            rows = conn.execute(Q["message_deliveries"], (message_id, account_id)).fetchall()
            return [_view(conn, row, history=False) for row in rows]

        return await self.db.read(op)

    async def mime(self, message_id: str) -> bytes | None:
        rows = await self.db.read(lambda c: c.execute(Q["mime"], (json.dumps([message_id]),)).fetchall())
        return bytes(rows[0][1]) if rows else None

    async def sign_message(self, message_id: str, mime: bytes) -> bytes:
        def op(conn: sqlite3.Connection) -> bytes:
            conn.execute(Q["sign_message"], (mime, len(mime), message_id))
            return bytes(conn.execute(Q["mime"], (json.dumps([message_id]),)).fetchone()[1])

        return await self.db.write(op)

    # ---- retention ([retention]; the supervisor's periodic purge) -------------------------

    async def purge_bodies(self, before: float, now: float, batch: int) -> int:
        params = {"before": before, "now": now, "batch": batch, "nothing": b""}
        return await self.db.write(lambda c: int(c.execute(Q["purge_bodies"], params).rowcount))

    async def purge_returns(self, before: float, now: float, batch: int) -> int:
        params = {"before": before, "now": now, "batch": batch, "nothing": b""}

        def op(conn: sqlite3.Connection) -> int:
            sizes = [row[0] for row in conn.execute(Q["purge_returns"], params).fetchall()]
            conn.execute(Q["add_stored_returns"], (-sum(sizes),))
            return len(sizes)

        return await self.db.write(op)

    async def purge_events(self, before: float, logged: int, batch: int) -> int:
        params = {"before": before, "logged": logged, "batch": batch}
        return await self.db.write(lambda c: int(c.execute(Q["purge_events"], params).rowcount))

    async def queue_summary(self) -> dict[str, int]:
        rows = await self.db.read(lambda c: c.execute(Q["queue_summary"]).fetchall())
        summary = {state.value: 0 for state in DeliveryState}
        summary.update({state: count for state, count in rows})
        return summary

    # ---- events --------------------------------------------------------------------------

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
        sql = "SELECT id, kind, delivery_id, message_id, account_id, time, data, node FROM events WHERE id > ?"
        args: list[Any] = [after]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args.extend(k.value for k in kinds)
        if account_id is not None:
            sql += " AND account_id = ?"
            args.append(account_id)
        if since is not None:
            sql += " AND time >= ?"
            args.append(since)
        if node is not None:
            sql += " AND node = ?"
            args.append(node)
        sql += " ORDER BY id LIMIT ?"
        args.append(limit)
        rows = await self.db.read(lambda c: c.execute(sql, args).fetchall())
        return [from_row.stored_event(row) for row in rows]

    async def newest_event_id(self) -> int:
        row = await self.db.read(lambda c: c.execute(Q["newest_event_id"]).fetchone())
        return int(row[0])

    async def cursor(self, name: str) -> int:
        row = await self.db.read(lambda c: c.execute(Q["cursor"], (name,)).fetchone())
        return int(row[0]) if row else 0

    async def set_cursor(self, name: str, value: int) -> None:
        await self.db.write(lambda c: c.execute(Q["set_cursor"], (name, value)))

    async def move_cursor(self, name: str, old: int, new: int) -> bool:
        params = {"name": name, "old": old, "new": new}
        return await self.db.write(lambda c: c.execute(Q["move_cursor"], params).fetchone() is not None)

    # ---- feedback loops (webhooks/model.py); each scoped by account ----------------------

    async def create_loop(self, loop: Loop, now: float | None = None) -> Loop:
        at = _time.time() if now is None else now

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                Q["insert_loop"],
                {
                    "id": loop.id,
                    "account_id": loop.account_id,
                    "url": loop.url,
                    "format": loop.format.value,
                    "active": int(loop.active),
                    "secret": loop.secret,
                    "now": at,
                },
            )
            conn.executemany(Q["insert_loop_event"], [(loop.id, k.value) for k in sorted(loop.events)])

        await self.db.write(op)
        return loop

    async def loops(self, account_id: str) -> list[Loop]:
        rows = await self.db.read(lambda c: c.execute(Q["loops"], (account_id,)).fetchall())
        return [loop_from_row(row) for row in rows]

    async def loop(self, account_id: str, loop_id: str) -> Loop | None:
        """The account's loop; None when there is none by that id (or it is another account's)."""
        row = await self.db.read(lambda c: c.execute(Q["loop"], (loop_id, account_id)).fetchone())
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

        def op(conn: sqlite3.Connection) -> Loop | None:
            row = conn.execute(Q["loop"], (loop_id, account_id)).fetchone()
            if row is None:
                return None
            old = loop_from_row(row)
            new = replace(
                old,
                url=old.url if url is None else url,
                events=old.events if events is None else frozenset(events),
                format=old.format if format is None else format,
                active=old.active if active is None else active,
            )
            if secret is not None:
                new = replace(new, secret=secret, previous_secret=old.secret, previous_until=previous_until)
            conn.execute(
                Q["update_loop"],
                {
                    "url": new.url,
                    "format": new.format.value,
                    "active": int(new.active),
                    "secret": new.secret,
                    "previous_secret": new.previous_secret,
                    "previous_until": new.previous_until,
                    "now": at,
                    "id": loop_id,
                    "account_id": account_id,
                },
            )
            if new.events != old.events:
                conn.execute(Q["delete_loop_events"], (loop_id,))
                conn.executemany(Q["insert_loop_event"], [(loop_id, k.value) for k in sorted(new.events)])
            return new

        return await self.db.write(op)

    async def delete_loop(self, account_id: str, loop_id: str) -> bool:
        """Remove the loop with its posts; False when the account has no such loop."""
        return await self.db.write(lambda c: c.execute(Q["delete_loop"], (loop_id, account_id)).rowcount > 0)

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
        """A loop's posts, newest event first, each with whether it is
        in flight (leased now) and its event's kind and delivery. `state` is an PostState or
        "in_flight"; `before` the event time and id of the last post of the page before. None
        when the account has no such loop."""
        at = _time.time() if now is None else now
        wanted = None if state is None else str(state)

        def op(conn: sqlite3.Connection) -> list[PostView] | None:
            if conn.execute(Q["loop"], (loop_id, account_id)).fetchone() is None:
                return None
            rows = conn.execute(
                Q["loop_posts"],
                {"loop_id": loop_id, "state": wanted, "now": at, "limit": limit, **from_row.page_after(before)},
            ).fetchall()
            return [PostView(from_row.post(row[:12]), bool(row[12]), EventKind(row[13]), row[14]) for row in rows]

        return await self.db.read(op)

    async def purge_posts(self, done_before: float, dead_before: float, batch: int = 5000) -> int:
        """Delete done posts last attempted before `done_before` and dead ones before
        `dead_before`, at most `batch` of them; how many. Pending posts are never deleted."""
        params = {"done": done_before, "dead": dead_before, "batch": batch}
        return await self.db.write(lambda c: int(c.execute(Q["purge_posts"], params).rowcount))

    async def loop_post(self, account_id: str, loop_id: str, item_id: str) -> Post | None:
        """One item of the account's loop; None when there is none by that id there."""
        row = await self.db.read(lambda c: c.execute(Q["loop_post"], (item_id, loop_id, account_id)).fetchone())
        return from_row.post(row) if row else None

    async def replay_post(self, account_id: str, loop_id: str, item_id: str, now: float | None = None) -> bool:
        """Post a done or dead item again: pending, attempts 0, due now, a new retry window; its
        last status and error stay until the next attempt. False when there is no such item
        (of this account's loop) or it is pending already."""
        at = _time.time() if now is None else now
        params = {
            "id": item_id,
            "loop_id": loop_id,
            "account_id": account_id,
            "now": at,
            "expires": at + self.loop_window,
        }
        replayed = await self.db.write(lambda c: c.execute(Q["replay_post"], params).rowcount > 0)
        if replayed:
            self.wakeups.wake(("posts",))
        return replayed

    async def replay_dead(self, account_id: str, loop_id: str, now: float | None = None) -> int:
        """Replay every dead item of the loop; returns how many."""
        at = _time.time() if now is None else now
        params = {"loop_id": loop_id, "account_id": account_id, "now": at, "expires": at + self.loop_window}
        replayed = await self.db.write(lambda c: int(c.execute(Q["replay_dead"], params).rowcount))
        if replayed:
            self.wakeups.wake(("posts",))
        return replayed

    # ---- sending domains (core/domains.py) and their DKIM keys, sealed -----------------------

    async def add_domain(self, domain: SendingDomain, keys: Sequence[SealedKey] = ()) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = conn.execute(Q["domain"], (domain.domain,)).fetchone()
            if row is not None:
                raise senders.taken(from_row.sending_domain(row), domain.account_id)
            conn.execute(Q["keep_bounce_domain"], (domain.domain,))
            conn.execute(Q["insert_domain"], from_row.domain_params(domain))
            _insert_keys(conn, keys)

        await self.db.write(op)

    async def domain(self, name: str) -> SendingDomain | None:
        row = await self.db.read(lambda c: c.execute(Q["domain"], (name,)).fetchone())
        return from_row.sending_domain(row) if row else None

    async def domains(self, account_id: str | None = None) -> list[SendingDomain]:
        if account_id is None:
            rows = await self.db.read(lambda c: c.execute(Q["domains"]).fetchall())
        else:
            rows = await self.db.read(lambda c: c.execute(Q["account_domains"], (account_id,)).fetchall())
        return [from_row.sending_domain(row) for row in rows]

    async def update_domain(self, domain: SendingDomain, was: SendingDomain, keys: Sequence[SealedKey] = ()) -> bool:
        params = from_row.domain_update_params(domain, was)

        def op(conn: sqlite3.Connection) -> bool:
            if conn.execute(Q["update_domain"], params).rowcount == 0:
                return False
            _insert_keys(conn, keys)
            return True

        return await self.db.write(op)

    async def dkim_keys(self, domain: str) -> list[SealedKey]:
        rows = await self.db.read(lambda c: c.execute(Q["dkim_keys"], (domain,)).fetchall())
        return [from_row.sealed_key(row) for row in rows]

    async def import_dkim_keys(self, keys: Sequence[SealedKey]) -> int:
        def op(conn: sqlite3.Connection) -> int:
            return sum(conn.execute(Q["insert_dkim_key"], from_row.sealed_key_params(key)).rowcount for key in keys)

        return await self.db.write(op)

    async def remove_domain(self, account_id: str, name: str, now: float) -> bool:
        return await self.db.write(lambda c: c.execute(Q["remove_domain"], (now, account_id, name)).rowcount > 0)

    async def bounce_domains(self, removed_since: float) -> list[str]:
        rows = await self.db.read(lambda c: c.execute(Q["bounce_domains"], (removed_since,) * 2).fetchall())
        return [row[0] for row in rows]

    async def purge_removed_domains(self, before: float) -> int:
        def op(conn: sqlite3.Connection) -> int:
            kept = conn.execute(Q["purge_kept_bounce_domains"], (before,)).rowcount
            return int(conn.execute(Q["purge_removed_domains"], (before,)).rowcount + kept)

        return await self.db.write(op)


def _insert_keys(conn: sqlite3.Connection, keys: Sequence[SealedKey]) -> None:
    """Store a domain's new keys; InputError (the transaction rolled back) for a used selector."""
    for key in keys:
        if conn.execute(Q["insert_dkim_key"], from_row.sealed_key_params(key)).rowcount == 0:
            raise from_row.selector_used(key)


def _insert_message(
    conn: sqlite3.Connection, message: NewMessage, owner: str | None, lease_until: float | None
) -> None:
    submission = message.submission
    conn.execute(
        Q["insert_message"],
        (
            message.id,
            message.account_id,
            submission.mail_from,
            submission.envelope,
            int(submission.trackbounces),
            json.dumps(list(submission.tags)),
            submission.maxdelivertime,
            json.dumps(submission.dsn.as_dict()) if submission.dsn else None,
            len(submission.mime),
            submission.mime,
            message.now,
            message.forward_of,
            message.sign_domain,
        ),
    )
    lease = lease_until if owner else None
    conn.executemany(
        Q["insert_delivery"],
        [
            (
                d.id,
                message.id,
                message.account_id,
                d.recipient,
                d.envelope_sender,
                message.now,
                message.now,
                message.now,
                message.expires_at,
                owner,
                lease,
            )
            for d in message.deliveries
        ],
    )


def _auth_counts(conn: sqlite3.Connection, address: str, username: str, now: float, limits: AuthLimits) -> AuthCounts:
    since = now - limits.window

    def failures(key: str) -> int:
        row = conn.execute(Q["auth_failure_count"], (key, since)).fetchone()
        return int(row[0]) if row else 0

    known = conn.execute(Q["auth_known"], (username, address, now - throttle.KNOWN_FOR)).fetchone()[0]
    address_failed, username_failed = map(failures, throttle.failure_keys(address, username))
    address_busy, username_busy = map(failures, throttle.busy_keys(address, username))
    return AuthCounts(address_failed, username_failed, bool(known), address_busy, username_busy)


def _insert_event(conn: sqlite3.Connection, event: Event, now: float, window: float, node: str = "") -> tuple[int, int]:
    """Insert an event and, in the same transaction, its feedback-loop posts. Returns the
    event's id and how many posts it got."""
    row = conn.execute(
        Q["insert_event"],
        (
            event.kind.value,
            event.delivery_id,
            event.message_id,
            event.account_id,
            event.time,
            json.dumps(event.data),
            node,
        ),
    ).fetchone()
    event_id = int(row[0])
    return event_id, fan_out(conn, event_id, event, now, window)


def _jobs(conn: sqlite3.Connection, delivery_ids: list[str], owner: str) -> list[DeliveryJob]:
    rows = conn.execute(Q["jobs"], (json.dumps(delivery_ids),)).fetchall()
    message_ids = sorted({row[1] for row in rows})
    mimes = {mid: bytes(mime) for mid, mime in conn.execute(Q["mime"], (json.dumps(message_ids),))}
    return [from_row.job(row, mimes, owner) for row in rows]


def _view(conn: sqlite3.Connection, row: tuple[Any, ...], *, history: bool) -> DeliveryView:
    view = from_row.view(row)
    if history:
        view.history = [from_row.attempt(a) for a in conn.execute(Q["attempts"], (row[0],))]
        view.events = [
            log_record(stored.id, stored.event, stored.node)
            for stored in map(from_row.stored_event, conn.execute(Q["delivery_events"], (row[0],)))
        ]
    return view
