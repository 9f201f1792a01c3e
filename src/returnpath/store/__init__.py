"""Durable state behind the `core.ports.Store` interface, one sub-package per backend."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

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


def schema_versions() -> dict[str, int]:
    """The newest schema version of each backend, by the numbers of its migration files, read
    without importing the backends (psycopg): what `returnpath --version` shows, so that an
    operator sees which schema an installed wheel brings even when its version string did not
    change (pip then keeps the old code: README, Backups and upgrades)."""
    versions = {}
    for backend in ("sqlite", "postgresql"):
        steps = migration_files(resources.files(__package__).joinpath(backend, "migrations"))
        versions[backend] = steps[-1][0] if steps else 1  # SQLite's schema.sql is version 1
    return versions


def migration_files(folder: Traversable) -> list[tuple[int, str]]:
    """A backend's schema versions, in order: (version, SQL) from `folder`'s `NNNN_what.sql`."""
    if not folder.is_dir():
        return []
    return sorted(
        (int(entry.name[:4]), entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql") and entry.name[:4].isdigit()
    )
