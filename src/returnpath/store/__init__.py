"""Durable state behind the `core.ports.Store` interface, one sub-package per backend."""

from __future__ import annotations

from ..config import Settings
from ..core.ports import Store


def open_store(settings: Settings, *, node: str | None = None) -> Store:
    """The store `[storage] url` names (not opened yet), recording as `node` (this node's name
    by default). PostgreSQL's package is imported only when asked for."""
    node = settings.node_name if node is None else node
    window = settings.webhooks.retry_window
    if settings.store_backend == "postgresql":
        from .postgresql import PostgresStore

        return PostgresStore(
            settings.storage.url, node=node, loop_window=window, max_connections=settings.storage.pool_size
        )
    from .sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path, node=node, loop_window=window)
