"""Named SQL queries kept in .sql files.

A file holds queries separated by `-- name: <name>` lines; the text up to the next such line
is the query. Keeping SQL in files keeps each backend's dialect in one place.

The comments on lines of their own are for readers of the file and are not loaded: a query is
sent (and, with psycopg, converted for the server) as text at every execution, and psycopg
keeps that conversion only for queries of at most 4 KB (psycopg._queries'
MAX_CACHED_STATEMENT_LENGTH). With its comments, settle_deliveries was 4.7 KB: converted again
at every settle, 1.6% of a PostgreSQL worker's CPU at one connection (py-spy, bench/relay.py
--load lean:1), and sent at twice its length.
"""

from __future__ import annotations

from importlib import resources


def load_queries(package: str, filename: str) -> dict[str, str]:
    text = resources.files(package).joinpath(filename).read_text(encoding="utf-8")
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("-- name:"):
            if name:
                queries[name] = "\n".join(lines).strip()
            name, lines = line.split(":", 1)[1].strip(), []
        elif name and not line.lstrip().startswith("--"):
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip()
    return queries
