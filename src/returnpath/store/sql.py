"""Named SQL queries kept in .sql files.

A file holds queries separated by `-- name: <name>` lines; the text up to the next such line
is the query. Keeping SQL in files keeps each backend's dialect in one place.
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
        elif name:
            lines.append(line)
    if name:
        queries[name] = "\n".join(lines).strip()
    return queries
