"""Fixtures shared by every test folder: settings on a temporary data folder, a real store,
the relay service over it, and an account with its credentials."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from returnpath.config import Settings, Size
from returnpath.store.sqlite import SqliteStore
from returnpath.usecases.accounts import NewAccount, create_account
from returnpath.usecases.relay import Relay

pytest_plugins = ["tests.postgres_fixtures"]  # pg_cluster, pg_url: a private PostgreSQL (bench/postgres.py)

SECRET = "test-secret-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(secret=SECRET, bounce_domain="bounces.example.test", hostname="relay.example.test")
    s.smtp.inbound.reserve_free_space = Size(1024 * 1024)  # the tests' disk may have less free than 1 GB
    s.base = tmp_path
    return s


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(settings.sqlite_path)
    await s.open()
    yield s
    await s.close()


@pytest.fixture
def relay(store: SqliteStore, settings: Settings) -> Relay:
    return Relay(store, settings)


@pytest.fixture
async def account(store: SqliteStore) -> NewAccount:
    return await create_account(store, "app", time.time())


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--long", action="store_true", help="the hostile crash matrix for 10 minutes and 50 kills, not its CI version"
    )
