"""The PostgreSQL store's own cases: its versioned schema (`schema_version`, migrations under an
advisory lock), and an outage of the server, which the pool gets over by itself."""

from __future__ import annotations

import asyncio
import socket
import time

import psycopg
import pytest
from bench.postgres import PrivateCluster

from returnpath.core import ids
from returnpath.core.model import Account, Submission
from returnpath.core.ports import NewDelivery, NewMessage
from returnpath.errors import StoreError
from returnpath.store.postgresql import PostgresStore
from returnpath.store.postgresql import postgres_database as database
from returnpath.store.postgresql.postgres_database import migrations, newest

NOW = 1_800_000_000.0


def version(url: str) -> int | None:
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,):
            return None
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        return row[0] if row else None


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        return {row[0] for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


async def test_an_empty_database_gets_the_whole_schema(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    await store.open()
    await store.close()
    assert version(pg_url) == newest() >= 1
    assert {"accounts", "deliveries", "events", "attempts", "loop_posts", "nodes", "schema_version"} <= tables(pg_url)
    with psycopg.connect(pg_url) as conn:  # every table logged (no UNLOGGED ones)
        assert conn.execute("SELECT count(*) FROM pg_class WHERE relpersistence = 'u'").fetchone() == (0,)
    await store.open()  # and opening it again finds it as it is
    await store.close()


async def test_a_database_it_cannot_reach_is_named_with_the_servers_reason(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What an operator with a wrong [storage] url reads: the URL (its password hidden) and
    libpq's reason, on one line, without the pool's warnings while it retried."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    cases = (
        (f"postgresql://rp:secret@127.0.0.1:{port}/x", f"postgresql://rp:***@127.0.0.1:{port}/x", "Connection refused"),
        (pg_url.rsplit("/", 1)[0] + "/no_such_db", "/no_such_db", 'database "no_such_db" does not exist'),
    )
    for url, shown, reason in cases:
        # `serve` and every command open the store; `returnpath migrate` migrates it unopened,
        # and used to call a wrong database name "the database is unavailable", naming no URL.
        for call in (PostgresStore(url).open, PostgresStore(url).migrate):
            with pytest.raises(StoreError) as raised:
                await call()
            message = str(raised.value)
            assert message.startswith("cannot connect to the database ") and shown in message and reason in message
            assert "\n" not in message and "secret" not in message
    assert not [r for r in caplog.records if r.name.startswith("psycopg")]


async def test_a_database_of_a_newer_returnpath_is_refused_untouched(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (%s)", (newest() + 1,))
    store = PostgresStore(pg_url)
    with pytest.raises(StoreError, match="written by a newer returnpath"):
        await store.open()
    with pytest.raises(StoreError, match="written by a newer returnpath"):
        await store.migrate()
    assert tables(pg_url) == {"schema_version"} and version(pg_url) == newest() + 1


async def test_an_older_database_is_refused_at_open_and_brought_up_by_migrate(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = PostgresStore(pg_url)
    await store.open()  # at the newest version there is ...
    account = Account(ids.new_id(NOW), "app", "app")
    await store.create_account(account, "token", "hash", NOW)
    await store.close()
    # ... until a newer returnpath brings one more step.
    known = migrations()
    step = (known[-1][0] + 1, "CREATE TABLE later_step (x integer); INSERT INTO later_step VALUES (1);")
    monkeypatch.setattr(database, "migrations", lambda: [*known, step])
    with pytest.raises(StoreError, match="run `returnpath migrate`"):
        await store.open()
    assert await store.migrate() == (step[0] - 1, step[0])
    assert version(pg_url) == step[0] and "later_step" in tables(pg_url)
    await store.open()
    try:
        assert await store.accounts() == [account]  # the data stayed
    finally:
        await store.close()
    assert await store.migrate() == (step[0], step[0])  # nothing left to do


async def test_bodies_stored_after_version_10_are_compressed_with_lz4_and_older_ones_still_read(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = migrations()
    assert known[9][0] == 10
    monkeypatch.setattr(database, "migrations", lambda: known[:9])  # a database of version 9
    store = PostgresStore(pg_url)
    await store.open()
    account = Account(ids.new_id(NOW), "app", "app")
    await store.create_account(account, "token", "hash", NOW)

    async def submit(text: bytes) -> str:
        mime = b"Subject: big\r\n\r\n" + text * (60_000 // len(text)) + b"\r\n"
        message = NewMessage(
            account.id,
            ids.new_id(NOW),
            Submission("a@example.com", ("b@example.net",), mime),
            (NewDelivery(ids.new_id(NOW), "b@example.net", "b@bounces.test"),),
            NOW,
            NOW + 100,
        )
        await store.submit(message, owner=None, lease_until=NOW)
        assert await store.mime(message.id) == mime
        return message.id

    older = await submit(b"the body of a message of version 9, ")
    await store.close()
    monkeypatch.setattr(database, "migrations", lambda: known)
    assert await store.migrate() == (9, newest())
    await store.open()
    try:
        newer = await submit(b"the body of a message of version 10, ")
        with psycopg.connect(pg_url) as conn:
            method = "SELECT pg_column_compression(mime) FROM messages WHERE id = %s"
            assert conn.execute(method, (older,)).fetchone() == ("pglz",)
            assert conn.execute(method, (newer,)).fetchone() == ("lz4",)
            column = "SELECT attcompression FROM pg_attribute WHERE attrelid = 'returns'::regclass AND attname = 'raw'"
            assert conn.execute(column).fetchone() == ("l",)
        assert (await store.mime(older) or b"").startswith(b"Subject: big\r\n\r\nthe body of a message of version 9")
    finally:
        await store.close()


async def test_a_database_with_tables_but_no_version_is_refused(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE someone_elses (x integer)")
    with pytest.raises(StoreError, match="not a returnpath database"):
        await PostgresStore(pg_url).open()


async def test_concurrent_migrations_apply_each_step_once(pg_url: str) -> None:
    stores = [PostgresStore(pg_url) for _ in range(4)]
    results = await asyncio.gather(*(store.migrate() for store in stores))
    assert all(after == newest() for _, after in results)
    assert version(pg_url) == newest()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)
        # 0001 creates the row of stored bytes once: run twice, it would be there twice (or fail).
        assert conn.execute("SELECT count(*) FROM stored_bytes").fetchone() == (1,)
    assert [number for number, _ in migrations()] == list(range(1, newest() + 1))


async def test_the_store_works_again_after_the_server_comes_back(pg_cluster: PrivateCluster, pg_url: str) -> None:
    store = PostgresStore(pg_url, min_connections=2, max_connections=4)
    await store.open()
    try:
        account = Account(ids.new_id(NOW), "app", "app")
        await store.create_account(account, "token", "hash", NOW)
        pg_cluster.stop()
        try:
            # Down for 17 s, with callers trying all along: the pool's own tries to reconnect
            # come at 0, 1, 3, 7, 15 and 31 s, so that on its own it would find the server
            # back only some 13 s after it came back.
            away = time.monotonic() + 17
            calls = 0
            while time.monotonic() < away:
                with pytest.raises(StoreError, match="the database is unavailable"):
                    await store.account(account.id)
                calls += 1
            # Once the pool had waited CONNECT_TIMEOUT in vain, each call waited for the next
            # try of a connection (REVIVE_EVERY), not for the pool again: a client is told sooner.
            assert calls > 17 / database.CONNECT_TIMEOUT + 2
            with pytest.raises(StoreError, match="the database is unavailable"):
                await store.set_cursor("logs", 1)
        finally:
            pg_cluster.start()
        # Without reopening, and within one call's wait for a connection (CONNECT_TIMEOUT).
        assert await store.account(account.id) == account
        await store.set_cursor("logs", 2)
        assert await store.cursor("logs") == 2
    finally:
        await store.close()


async def test_open_without_a_server_is_a_store_error(pg_cluster: PrivateCluster) -> None:
    url = pg_cluster.url_for("no_such_database_here")
    with pytest.raises(StoreError, match="cannot connect"):
        await PostgresStore(url).open()


async def test_a_connection_lost_while_idle_is_replaced_before_a_caller_gets_it(
    pg_cluster: PrivateCluster, pg_url: str
) -> None:
    """The server restarted while the pool's connections lay idle: the first call after must
    not fail on one of them. (Connections taken again within CHECK_IDLE are not checked: under
    load that check was a round trip for every read and every group of writes.)"""
    store = PostgresStore(pg_url, min_connections=2, max_connections=4)
    await store.open()
    try:
        account = Account(ids.new_id(NOW), "app", "app")
        await store.create_account(account, "token", "hash", NOW)
        pg_cluster.stop()
        pg_cluster.start()
        await asyncio.sleep(database.CHECK_IDLE)
        assert await store.account(account.id) == account
        await store.set_cursor("logs", 3)
        assert await store.cursor("logs") == 3
    finally:
        await store.close()
