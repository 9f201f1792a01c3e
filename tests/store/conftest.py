"""The fixtures of the conformance suite: a fresh store of each backend (SQLite on a file in
the test's folder, PostgreSQL on a fresh database of the session's private cluster), and a
factory for tests that open stores of their own on the same data."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from returnpath.core.ports import Store
from returnpath.store.postgresql import PostgresStore
from returnpath.store.postgresql.postgres_database import Tx
from returnpath.store.sqlite import SqliteStore

BACKENDS = ["sqlite", "postgresql"]

MakeStore = Callable[..., Store]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """`make_store(**options)`: a new, unopened store of the test's backend over the test's
    data (the same file or database each time), with the backend's constructor options."""
    if request.param == "sqlite":
        return lambda **options: SqliteStore(tmp_path / "store.db", **options)
    url = request.getfixturevalue("pg_url")

    def make(**options: Any) -> Store:
        return PostgresStore(url, **options)

    return make


@pytest.fixture
async def backend(make_store: MakeStore) -> AsyncIterator[Store]:
    store = make_store()
    await store.open()
    yield store
    await store.close()


async def count_rows(store: Store, tables: tuple[str, ...]) -> dict[str, int]:
    """How many rows each table holds, read under the port (for tests of what a removal takes
    with it). "posts" is the table of feedback-loop posts, whatever the backend calls it."""
    if isinstance(store, PostgresStore):
        names = {table: "loop_posts" if table == "posts" else table for table in tables}

        async def count(tx: Tx) -> dict[str, int]:
            found = {}
            for table, name in names.items():
                cur = await tx.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name)))
                row = await cur.fetchone()
                found[table] = row[0] if row else 0
            return found

        return await store.db.read(count)
    assert isinstance(store, SqliteStore)

    def count_sqlite(conn: sqlite3.Connection) -> dict[str, int]:
        have = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        posts = "loop_posts" if "loop_posts" in have else "loop_outbox"  # the name before version 4
        return {
            table: conn.execute(f"SELECT count(*) FROM {posts if table == 'posts' else table}").fetchone()[0]
            for table in tables
        }

    return await store.db.read(count_sqlite)
