"""The PostgreSQL backend: several nodes share one database; work is claimed with
`FOR UPDATE SKIP LOCKED` and leases, so any node may die without losing or duplicating work."""

from .postgres_store import PostgresStore

__all__ = ["PostgresStore"]
