"""The private PostgreSQL of bench/postgres.py and the fixtures of tests/postgres_fixtures.py.

The PostgreSQL store's tests stand on these, so they are tested like the rest: against the
real server. Never skipped: without PostgreSQL, pg_cluster fails and says what to install.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest
from bench.postgres import SETTINGS, PrivateCluster, private_postgres
from psycopg_pool import AsyncConnectionPool


def test_sync_connection_runs_queries(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE t (id bigint PRIMARY KEY, note text NOT NULL)")
        conn.execute("INSERT INTO t VALUES (%s, %s), (%s, %s)", (1, "één", 2, "two"))
        conn.commit()
        rows = conn.execute("SELECT id, note FROM t ORDER BY id").fetchall()
    assert rows == [(1, "één"), (2, "two")]


async def test_async_connection_and_pool_run_queries(pg_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE t (id bigint PRIMARY KEY)")
        await conn.execute("INSERT INTO t SELECT generate_series(1, 100)")
        cur = await conn.execute("SELECT count(*), current_user, current_setting('server_encoding') FROM t")
        assert await cur.fetchone() == (100, "returnpath", "UTF8")
    # The store will hold a pool: a few connections at once, to the same test database.
    pool = AsyncConnectionPool(pg_url, min_size=2, max_size=4, open=False)
    async with pool, pool.connection() as a, pool.connection() as b:
        pid_a = await (await a.execute("SELECT pg_backend_pid()")).fetchone()
        pid_b = await (await b.execute("SELECT pg_backend_pid()")).fetchone()
    assert pid_a != pid_b


def test_each_test_database_is_its_own(pg_cluster: PrivateCluster, pg_url: str) -> None:
    other_url = pg_cluster.create_database("t_isolation_other")
    try:
        assert other_url != pg_url
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
        with psycopg.connect(other_url, autocommit=True) as conn:
            found = conn.execute("SELECT to_regclass('only_here')").fetchone()
            assert found == (None,)
            conn.execute("CREATE TABLE only_here (x int)")  # the same name, no clash
    finally:
        pg_cluster.drop_database("t_isolation_other")
    with psycopg.connect(pg_cluster.url, autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert "t_isolation_other" not in names
    assert pg_url.rsplit("/", 1)[1] in names


def test_drop_ends_sessions_left_open(pg_cluster: PrivateCluster) -> None:
    url = pg_cluster.create_database("t_left_open")
    conn = psycopg.connect(url)
    try:
        pg_cluster.drop_database("t_left_open")  # WITH (FORCE): does not wait for conn
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 1")
    finally:
        conn.close()


def test_outage_then_back_on_the_same_port_with_the_data(pg_cluster: PrivateCluster, pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    port = pg_cluster.port
    held = psycopg.connect(pg_url, autocommit=True)
    try:
        pg_cluster.stop()
        assert not pg_cluster.running()
        # A session open across the outage is gone, and nobody new gets in.
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pg_url, connect_timeout=2)
    finally:
        held.close()
        pg_cluster.start()
    assert pg_cluster.port == port
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]


def test_crash_then_recovery_keeps_committed_rows(pg_cluster: PrivateCluster, pg_url: str) -> None:
    # An immediate stop is a crash (no shutdown checkpoint): what was committed comes back
    # from the WAL, because commits were flushed (fsync, synchronous_commit).
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE committed (x int)")
        conn.execute("INSERT INTO committed VALUES (7)")
    pg_cluster.stop("immediate")
    pg_cluster.start()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT x FROM committed").fetchall() == [(7,)]


def test_durable_and_loopback_only_settings(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:

        def show(name: str) -> str:
            row = conn.execute(f"SHOW {name}").fetchone()
            assert row is not None
            return str(row[0])

        assert show("fsync") == "on"
        assert show("synchronous_commit") == "on"
        assert show("full_page_writes") == "on"
        assert show("listen_addresses") == "127.0.0.1"
        assert show("max_connections") == SETTINGS["max_connections"] == "200"
        assert show("shared_buffers") == "128MB"
        assert show("server_encoding") == "UTF8"


def test_server_runs_as_the_postgres_user_when_we_are_root(pg_cluster: PrivateCluster, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # While the connection is open: its backend process exits when it closes.
        uid = Path(f"/proc/{row[0]}").stat().st_uid
    # initdb and postgres refuse root; when we are root they run as Debian's postgres user.
    assert uid != 0
    assert uid == (Path(pg_cluster.data).stat().st_uid)
    if os.geteuid() != 0:
        assert uid == os.geteuid()


def test_several_clusters_at_once(pg_cluster: PrivateCluster) -> None:
    with private_postgres(options={"application_name": "second"}) as second:
        assert second.port != pg_cluster.port
        assert second.base != pg_cluster.base
        url = second.create_database("t_second")
        with psycopg.connect(url) as a, psycopg.connect(pg_cluster.url) as b:
            assert a.execute("SHOW application_name").fetchone() == ("second",)
            assert b.execute("SELECT 1").fetchone() == (1,)
        base, port = second.base, second.port
    # Gone: folder and server.
    assert not base.exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_database_names_are_checked(pg_cluster: PrivateCluster) -> None:
    with pytest.raises(ValueError):
        pg_cluster.create_database('x"; DROP DATABASE returnpath; --')
    with pytest.raises(ValueError):
        pg_cluster.drop_database("Mixed")
