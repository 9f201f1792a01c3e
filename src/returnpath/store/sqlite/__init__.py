"""The embedded SQLite backend (one node, any number of worker processes)."""

from .sqlite_store import SqliteStore

__all__ = ["SqliteStore"]
