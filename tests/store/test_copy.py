"""`copy_store`: a node's data moved between backends, against real databases only.

A store filled through the store's own API is copied SQLite -> PostgreSQL -> SQLite, and every
table read back equal to the source's, byte for byte. Until `returnpath.store.postgresql` is on
this branch, the PostgreSQL schema is created from the pgstore worktree's 0001_schema.sql
(`postgres_schema` below); once it lands, `copy_store` opens it through `PostgresStore`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from returnpath.core import ids
from returnpath.core.events import EventKind
from returnpath.core.feedback import Format, Loop
from returnpath.core.model import Attempt, Returned, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage, NodeStatus
from returnpath.core.retry import RetryPolicy, settle
from returnpath.core.senders import SendingDomain
from returnpath.dkim.keys import KeyAlgorithm, generate_key
from returnpath.dkim.sealing import seal, sealing_key, unseal
from returnpath.errors import InputError, StoreError
from returnpath.logs import cursor_name
from returnpath.store import copy as copy_module
from returnpath.store.copy import BOOKKEEPING, TABLES, copy_store
from returnpath.store.postgresql import PostgresStore
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.sqlite_database import migrations as sqlite_migrations
from returnpath.usecases.accounts import create_account

from .test_store import _outcome

NOW = 1_800_000_000.0
SECRET = b"the instance's secret"
DKIM_KEY = generate_key(KeyAlgorithm.ED25519, "rp1e")
PG_SCHEMA = Path("/work/wt-pgstore/src/returnpath/store/postgresql/migrations/0001_schema.sql")
HAS_POSTGRES_STORE = importlib.util.find_spec("returnpath.store.postgresql") is not None
# Bytes that a text round trip would change: NUL, CR without LF, high bytes, invalid UTF-8.
ODD = bytes(range(256)) + b"\r\n.\r\n\rX\x00\xff\xfe"


async def _ready_postgres(url: str) -> None:
    """PostgresStore.open's part in a copy, until that class is on this branch: the schema
    from the pgstore worktree, and its version row."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
        row = await cur.fetchone()
        if row is not None and not row[0]:
            await conn.execute(PG_SCHEMA.read_text(encoding="utf-8"))  # type: ignore[arg-type]
            await conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
            await conn.execute("INSERT INTO schema_version VALUES (1)")


@pytest.fixture(autouse=True)
def postgres_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    if not HAS_POSTGRES_STORE:
        monkeypatch.setattr(copy_module, "_ready_postgres", _ready_postgres)


def _sqlite_url(path: Path) -> str:
    return "sqlite:///" + str(path)  # an absolute path: sqlite:////tmp/...


async def _fill(path: Path, messages: int = 3) -> None:
    """A store with a row in every table, through the store's API, as a node leaves it."""
    store = SqliteStore(path, node="node-a")
    await store.open()
    try:
        new = await create_account(store, "app", NOW)
        account = new.account
        await create_account(store, "other", NOW, sender_domains=["example.com"])
        await store.update_account(account.id, disabled=True)
        loop = Loop(ids.new_id(NOW), account.id, "https://hooks.example.com/rp", frozenset(EventKind), "whsec_c2VjcmV0")
        await store.create_loop(loop, NOW)
        paused = Loop(
            ids.new_id(NOW), account.id, "https://h.example.com/", frozenset(), "whsec_eA==", Format.JSON, False
        )
        await store.create_loop(paused, NOW)
        await store.add_domain(
            SendingDomain(account.id, "example.com", "bounces.example.com", NOW, "rp1", "rp1e"),
            [seal(sealing_key(SECRET), "example.com", DKIM_KEY, NOW)],
        )
        # Removed and added again: the old bounce domain kept.
        await store.remove_domain(account.id, "example.com", NOW)
        await store.add_domain(SendingDomain(account.id, "example.com", "rp.example.com", NOW, "rp2", "rp2e"))
        for n in range(messages):
            deliveries = tuple(
                NewDelivery(ids.new_id(NOW), f"r{n}.{i}@example.net", f"b{i}@bounces.test") for i in range(2)
            )
            submission = Submission(
                mail_from="a@example.com",
                recipients=tuple(d.recipient for d in deliveries),
                mime=ODD + bytes([n % 256]) * n,
                tags=("t",),
            )
            await store.submit(
                NewMessage(account.id, ids.new_id(NOW), submission, deliveries, NOW + n, NOW + 1000),
                owner=None,
                lease_until=None,
            )
        policy = RetryPolicy(first=10)
        for job in await store.claim("w1", NOW, NOW + 60, 100):
            outcome = _outcome(Verdict.TEMPORARY, 451)
            attempt = Attempt(
                1, NOW + 0.5, outcome.remote, outcome.step, outcome.code, outcome.status, outcome.text, outcome.verdict
            )
            await store.settle(job, attempt, settle(job, outcome, NOW + 0.5, policy))
        returned = Returned(ids.new_id(NOW), "", ("b0@bounces.test",), (), "192.0.2.1", NOW + 2, ODD * 3)
        await store.receive(returned)
        await store.set_cursor("log:node-a", 2)
        await store.heartbeat(NodeStatus("node-a", "host-a", 4242, "0.4.0", "submission=127.0.0.1:8025", NOW, NOW + 5))
    finally:
        await store.close()
    # The tables no API call of this test reaches.
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("INSERT INTO auth_failures VALUES ('addr:192.0.2.9', ?, 3)", (NOW,))
        conn.execute("INSERT INTO auth_logins VALUES ('app', '192.0.2.8', ?)", (NOW,))
    conn.close()


def _sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


async def _pg_rows(url: str, columns: dict[str, list[str]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows in SQLite's column order, booleans as SQLite's 0 and 1."""
    found = {}
    async with await psycopg.AsyncConnection.connect(url) as conn:
        for table in TABLES:
            cur = await conn.execute(f"SELECT {', '.join(columns[table])} FROM {table}")  # type: ignore[arg-type]
            rows = [tuple(int(v) if isinstance(v, bool) else v for v in row) for row in await cur.fetchall()]
            found[table] = sorted(rows, key=repr)
    return found


def _columns(path: Path) -> dict[str, list[str]]:
    conn = sqlite3.connect(path)
    try:
        return {t: [r[1] for r in conn.execute(f"PRAGMA table_info({t})")] for t in TABLES}
    finally:
        conn.close()


def _digest(path: Path) -> str:
    """The file's bytes and its write-ahead log's. (Reading a WAL file makes SQLite create an
    empty -wal and -shm beside it when they are not there: that is not a write of data.)"""
    wal = path.with_name(path.name + "-wal")
    return hashlib.sha256(path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")).hexdigest()


async def test_sqlite_to_postgresql_to_sqlite_keeps_every_row(tmp_path: Path, pg_url: str) -> None:
    source, back = tmp_path / "source.db", tmp_path / "back.db"
    await _fill(source)
    before = _digest(source)
    expected = _sqlite_rows(source)
    assert all(expected[t] for t in TABLES), [t for t in TABLES if not expected[t]]  # a row in every table

    seen: list[tuple[str, int]] = []
    counts = await copy_store(_sqlite_url(source), pg_url, batch=2, progress=lambda t, n: seen.append((t, n)))
    assert counts == {t: len(expected[t]) for t in TABLES}
    assert ("deliveries", 6) in seen and ("deliveries", 2) in seen  # batches of 2
    assert _digest(source) == before  # the source was not written
    assert await _pg_rows(pg_url, _columns(source)) == expected
    async with await psycopg.AsyncConnection.connect(pg_url) as conn:
        cur = await conn.execute("SELECT DISTINCT pg_typeof(trackbounces)::text FROM messages")
        assert await cur.fetchall() == [("boolean",)]
        cur = await conn.execute("SELECT disabled FROM accounts WHERE name = 'app'")
        assert await cur.fetchone() == (True,)  # a boolean, not the integer 1

    assert await copy_store(pg_url, _sqlite_url(back)) == counts
    assert _sqlite_rows(back) == expected
    mime = sqlite3.connect(back).execute("SELECT mime FROM messages ORDER BY created_at").fetchall()
    assert [m for (m,) in mime] == [ODD + bytes([n]) * n for n in range(3)]  # byte-exact

    # The copy is a store this returnpath opens and goes on with.
    store = SqliteStore(back)
    await store.open()
    try:
        assert [a.name for a in await store.accounts()] == ["app", "other"]
        assert await store.cursor("log:node-a") == 2
        # The DKIM key, sealed, went there and back as it was: it opens with the same secret.
        [sealed] = await store.dkim_keys("example.com")
        assert unseal(sealing_key(SECRET), sealed).pem() == DKIM_KEY.pem()
    finally:
        await store.close()


async def test_postgresql_ids_continue_after_the_copied_ones(tmp_path: Path, pg_url: str) -> None:
    source = tmp_path / "source.db"
    await _fill(source)
    conn = sqlite3.connect(source)
    with conn:  # gaps, as retention leaves them: the sequences must go past the highest id
        conn.execute("UPDATE events SET id = id + 1000 WHERE id = (SELECT max(id) FROM events)")
        conn.execute("UPDATE attempts SET id = id + 500 WHERE id = (SELECT max(id) FROM attempts)")
    top_event, top_attempt = conn.execute(
        "SELECT (SELECT max(id) FROM events), (SELECT max(id) FROM attempts)"
    ).fetchone()
    conn.close()
    await copy_store(_sqlite_url(source), pg_url)
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as pg:
        cur = await pg.execute(
            "INSERT INTO events (kind, delivery_id, message_id, account_id, time, data) "
            "VALUES ('delivery', 'd', 'm', 'a', 0, '{}') RETURNING id"
        )
        assert await cur.fetchone() == (top_event + 1,)
        cur = await pg.execute(
            "INSERT INTO attempts (delivery_id, number, time, step, text, verdict) "
            "VALUES ('d', 1, 0, 'rcpt', 'x', 'accepted') RETURNING id"
        )
        assert await cur.fetchone() == (top_attempt + 1,)
        # Event ids kept their order: the copied events read in id order are the source's.
        cur = await pg.execute("SELECT id FROM events ORDER BY id")
        assert [r[0] for r in await cur.fetchall()][-2:] == [top_event, top_event + 1]


async def test_sqlite_to_sqlite_and_sqlite_ids_continue(tmp_path: Path) -> None:
    source, target = tmp_path / "a.db", tmp_path / "new" / "b.db"
    await _fill(source)
    counts = await copy_store(_sqlite_url(source), _sqlite_url(target))
    expected = _sqlite_rows(source)
    assert _sqlite_rows(target) == expected and counts == {t: len(expected[t]) for t in TABLES}
    conn = sqlite3.connect(target)
    top = conn.execute("SELECT max(id) FROM events").fetchone()[0]
    with conn:
        cur = conn.execute(
            "INSERT INTO events (kind, delivery_id, message_id, account_id, time, data) VALUES ('x', 'd', 'm', 'a', 0, '{}')"
        )
    assert cur.lastrowid == top + 1
    conn.close()


async def test_a_target_that_holds_data_is_refused_and_left_as_it_was(tmp_path: Path, pg_url: str) -> None:
    source, other = tmp_path / "source.db", tmp_path / "other.db"
    await _fill(source)
    await _fill(other, messages=1)
    await copy_store(_sqlite_url(other), pg_url)
    columns = _columns(source)
    before = await _pg_rows(pg_url, columns)
    with pytest.raises(InputError, match=r"the target .* already holds 2 accounts: copy only into an empty store"):
        await copy_store(_sqlite_url(source), pg_url)
    assert await _pg_rows(pg_url, columns) == before
    with pytest.raises(InputError, match="already holds 2 accounts"):
        await copy_store(_sqlite_url(source), _sqlite_url(other))
    assert _sqlite_rows(other) == {t: sorted(rows, key=repr) for t, rows in before.items()}


async def test_a_failing_copy_leaves_the_target_empty(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source.db"
    await _fill(source)
    real = copy_module._Postgres.write

    async def fail_at_returns(self: Any, table: str, *args: Any) -> int:
        if table == "returns":
            raise StoreError("the disk is full")
        return await real(self, table, *args)

    monkeypatch.setattr(copy_module._Postgres, "write", fail_at_returns)
    with pytest.raises(StoreError, match="the disk is full"):
        await copy_store(_sqlite_url(source), pg_url)
    rows = await _pg_rows(pg_url, _columns(source))
    assert {t: len(r) for t, r in rows.items() if r} == {"stored_bytes": 1}  # the schema's seed only
    monkeypatch.undo()
    if not HAS_POSTGRES_STORE:
        monkeypatch.setattr(copy_module, "_ready_postgres", _ready_postgres)
    await copy_store(_sqlite_url(source), pg_url)  # and it can be copied into afterwards


async def test_sources_and_urls_that_cannot_be_copied_say_why(tmp_path: Path, pg_url: str) -> None:
    with pytest.raises(InputError, match=r"the source .*missing\.db does not exist"):
        await copy_store(_sqlite_url(tmp_path / "missing.db"), _sqlite_url(tmp_path / "t.db"))
    with pytest.raises(InputError, match="expected sqlite:///PATH or postgresql://"):
        await copy_store("mysql://x@y/z", _sqlite_url(tmp_path / "t.db"))
    # An absolute path given with three slashes, as a user might: it is relative, and the error says so.
    absolute = tmp_path / "absolute.db"
    sqlite3.connect(absolute).close()
    three_slashes = "sqlite:///" + str(absolute).lstrip("/")
    with pytest.raises(
        InputError, match=f"does not exist \\(relative to .*write sqlite:////{absolute.relative_to('/')}\\)"
    ):
        await copy_store(three_slashes, _sqlite_url(tmp_path / "t.db"))
    with pytest.raises(InputError, match="holds no returnpath store"):
        await copy_store(pg_url, _sqlite_url(tmp_path / "t.db"))
    with pytest.raises(
        StoreError, match=r"cannot connect to the database postgresql://rp:\*\*\*@127\.0\.0\.1:1/x"
    ) as refused:
        await copy_store("postgresql://rp:secret@127.0.0.1:1/x", _sqlite_url(tmp_path / "t.db"))
    assert "\n" not in str(refused.value)  # libpq's hint joined to its line: one line for the CLI
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("CREATE TABLE accounts (id TEXT)").connection.close()
    newest = sqlite_migrations()[-1][0]
    with pytest.raises(StoreError, match=f"schema version 0, this returnpath's is {newest}: run `returnpath migrate`"):
        await copy_store(_sqlite_url(old), _sqlite_url(tmp_path / "t.db"))
    same = tmp_path / "same.db"
    with pytest.raises(InputError, match="the same file"):
        await copy_store(_sqlite_url(same), "sqlite:///" + str(tmp_path / "." / "same.db"))


async def test_a_store_of_a_newer_returnpath_is_named_as_the_source_or_the_target(tmp_path: Path, pg_url: str) -> None:
    """Refused, and the refusal says which of the two stores was written by a newer release."""
    source = tmp_path / "source.db"
    await _fill(source)
    store = PostgresStore(pg_url)
    await store.open()  # the schema, empty
    await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match=r"^the target postgresql://\S+: the database is at schema version 99"):
        await copy_store(_sqlite_url(source), pg_url)
    with pytest.raises(StoreError, match=r"^the source postgresql://\S+: the database is at schema version 99"):
        await copy_store(pg_url, _sqlite_url(tmp_path / "t.db"))
    newer = tmp_path / "newer.db"
    await _fill(newer, messages=1)
    sqlite3.connect(newer).execute("PRAGMA user_version = 99").connection.close()
    with pytest.raises(StoreError, match=r"^the target \S+newer\.db: the database is at schema version 99"):
        await copy_store(_sqlite_url(source), _sqlite_url(newer))


async def test_the_schemas_share_every_table_and_column(tmp_path: Path, pg_url: str) -> None:
    """TABLES lists every table, and both backends have the same columns: a migration that
    adds one to a backend alone, or a table copy.py does not know, fails here."""
    path = tmp_path / "s.db"
    store = SqliteStore(path)
    await store.open()
    await store.close()
    await copy_module._ready_postgres(pg_url)
    lite, pg = copy_module._Sqlite(path), copy_module._Postgres(pg_url)
    await lite.prepare_target()
    await pg.begin_write()
    try:
        a, b = await lite.schema(), await pg.schema()
    finally:
        await lite.close()
        await pg.close()
    assert set(a) == set(b) == set(TABLES)
    assert set(TABLES) > BOOKKEEPING
    for table in TABLES:
        assert [c.name for c in a[table]] == [c.name for c in b[table]], table


@pytest.fixture
def big_source(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "big.db"


async def test_copy_rate_20000_deliveries(big_source: Path, pg_url: str) -> None:
    """20,000 deliveries of 20,000 messages with 2 KB of MIME each, SQLite -> PostgreSQL; the
    rate is printed (pytest -s) for the commit message."""
    store = SqliteStore(big_source)
    await store.open()
    try:
        account = (await create_account(store, "app", NOW)).account
        mime = (b"x" * 78 + b"\r\n") * 26  # about 2 KB
        for n in range(20_000):
            d = NewDelivery(ids.new_id(NOW), f"r{n}@example.net", "b@bounces.test")
            s = Submission(mail_from="a@example.com", recipients=(d.recipient,), mime=mime)
            await store.submit(
                NewMessage(account.id, ids.new_id(NOW), s, (d,), NOW, NOW + 1000), owner=None, lease_until=None
            )
    finally:
        await store.close()
    started = time.perf_counter()
    counts = await copy_store(_sqlite_url(big_source), pg_url)
    took = time.perf_counter() - started
    rows = sum(counts.values())
    conn = sqlite3.connect(big_source)
    megabytes = conn.execute("SELECT sum(length(mime)) FROM messages").fetchone()[0] / 1e6
    conn.close()
    print(
        f"\ncopy sqlite -> postgresql: {rows} rows, {megabytes:.1f} MB of MIME in {took:.2f} s: "
        f"{rows / took:,.0f} rows/s, {megabytes / took:.1f} MB/s of MIME"
    )
    assert counts["deliveries"] == 20_000 and counts["messages"] == 20_000


def test_rows_are_fetched_by_size_so_that_big_messages_do_not_fill_memory() -> None:
    columns = [copy_module.Column("id", "text"), copy_module.Column("mime", "bytes")]
    chunks = copy_module._Chunks(columns)
    assert chunks.size == 1  # a row of a table with bytes may be 25 MB: one first
    assert chunks.next([("a", b"x" * 2048)]) == copy_module.CHUNK_ROWS  # small ones: many
    assert chunks.next([("a", b"x" * 25_000_000)]) == 1
    assert chunks.next([("a", b"x" * 1_000_000)] * 2) == 4
    assert copy_module._Chunks([copy_module.Column("id", "int")]).size == copy_module.CHUNK_ROWS


async def test_the_log_writers_cursors_follow_each_backends_scheme(tmp_path: Path, pg_url: str) -> None:
    """SQLite's one log writer has one cursor for every event (`logs`), a shared store's one per
    node (`logs/<node>`): a PostgreSQL node named like the SQLite node it replaces must go on
    where that one stopped, not write every copied event to its log files again."""
    source, back = tmp_path / "source.db", tmp_path / "back.db"
    await _fill(source)  # events recorded by node-a
    store = SqliteStore(source, node="node-a")
    await store.open()
    try:
        newest = max(event.id for event in await store.events(after=0, limit=100))
        await store.set_cursor(cursor_name(None), newest - 1)  # one event not in the files yet
    finally:
        await store.close()

    await copy_store(_sqlite_url(source), pg_url)
    target = PostgresStore(pg_url, node="node-a")
    await target.open()
    try:
        assert await target.cursor(cursor_name("node-a")) == newest - 1
        assert [e.id for e in await target.events(after=newest - 1, limit=10, node="node-a")] == [newest]
        assert [n.name for n in await target.nodes()] == ["node-a"]  # listed while one waits
        await target.set_cursor(cursor_name("node-a"), newest)  # the PostgreSQL node wrote it
    finally:
        await target.close()

    await copy_store(pg_url, _sqlite_url(back))
    again = SqliteStore(back)
    await again.open()
    try:
        assert await again.cursor(cursor_name(None)) == newest
    finally:
        await again.close()


async def test_an_sqlite_node_whose_events_are_all_written_is_not_listed_on_the_shared_store(
    tmp_path: Path, pg_url: str
) -> None:
    """SQLite keeps a stopped node's row in `nodes`; copied, it was listed by `returnpath nodes`
    on the PostgreSQL nodes as silent for ever (until `nodes --forget`), though the node had
    stopped cleanly with every event in its log files: a node that stops on a shared store
    leaves the list. Its cursor still goes along, for a PostgreSQL node of its name."""
    source = tmp_path / "source.db"
    await _fill(source)
    store = SqliteStore(source, node="node-a")
    await store.open()
    try:
        assert [n.name for n in await store.nodes()] == ["node-a"]
        newest = max(event.id for event in await store.events(after=0, limit=100))
        await store.set_cursor(cursor_name(None), newest)  # every event in the files
    finally:
        await store.close()

    copied = await copy_store(_sqlite_url(source), pg_url)
    assert copied["nodes"] == 0
    target = PostgresStore(pg_url, node="node-b")
    await target.open()
    try:
        assert await target.nodes() == []
        assert await target.cursor(cursor_name("node-a")) == newest
    finally:
        await target.close()
