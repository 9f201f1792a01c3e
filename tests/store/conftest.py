"""The `backend` fixture of the conformance suite: a fresh store of each backend in BACKENDS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from returnpath.store.sqlite import SqliteStore

from .test_store import BACKENDS


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    yield store
    await store.close()
