"""Versioned schema migrations of the SQLite file (`PRAGMA user_version`)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from returnpath.errors import StoreError
from returnpath.store.sqlite import SqliteStore
from returnpath.store.sqlite.sqlite_database import migrate, migrations


def newest() -> int:
    steps = migrations()
    return steps[-1][0] if steps else 1


def version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


async def test_a_new_file_is_at_the_newest_version(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "new.db")
    await store.open()
    await store.close()
    assert version(tmp_path / "new.db") == newest() >= 1


async def test_a_file_from_before_versions_is_brought_up_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # accounts as 0.1 made them, user_version 0
        conn.execute(
            "CREATE TABLE accounts (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
            "smtp_username TEXT NOT NULL UNIQUE, smtp_password_hash TEXT NOT NULL, "
            "api_token_hash TEXT NOT NULL UNIQUE, created_at REAL NOT NULL)"
        )
        conn.execute("INSERT INTO accounts VALUES ('a1', 'app', 'app', 'h', 't', 1.0)")
    store = SqliteStore(path)
    await store.open()
    try:
        assert [a.name for a in await store.accounts()] == ["app"]
    finally:
        await store.close()
    assert version(path) == newest()


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "twice.db", isolation_level=None)
    first = migrate(conn)
    tables = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    assert migrate(conn) == first
    assert conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall() == tables
    conn.close()


async def test_a_file_from_a_newer_returnpath_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {newest() + 1}")
    store = SqliteStore(path)
    with pytest.raises(StoreError, match="newer than this returnpath"):
        await store.open()
    assert version(path) == newest() + 1
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0
