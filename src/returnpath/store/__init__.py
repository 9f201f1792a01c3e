"""Durable state behind the `core.ports.Store` interface, one sub-package per backend."""

from __future__ import annotations

from ..config import Settings
from .sqlite import SqliteStore


def open_store(settings: Settings) -> SqliteStore:
    """The store the settings name (not opened yet). SQLite only, for now."""
    return SqliteStore(settings.sqlite_path, loop_window=settings.webhooks.retry_window)
