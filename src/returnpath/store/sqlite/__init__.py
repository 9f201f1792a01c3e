"""The embedded SQLite backend (one node, any number of worker processes)."""

from .store import SqliteStore

__all__ = ["SqliteStore"]
