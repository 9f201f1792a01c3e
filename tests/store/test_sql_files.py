"""The named queries of each backend's queries.sql, as the stores load them."""

from __future__ import annotations

import pytest

from returnpath.store.sql import load_queries

BACKENDS = ("returnpath.store.sqlite", "returnpath.store.postgresql")


@pytest.mark.parametrize("package", BACKENDS)
def test_queries_are_loaded_without_their_comment_lines(package: str) -> None:
    queries = load_queries(package, "queries.sql")
    assert {"claim", "insert_event", "claim_returns"} <= queries.keys()
    for name, query in queries.items():
        assert query, name
        assert not any(line.lstrip().startswith("--") for line in query.splitlines()), name


@pytest.mark.parametrize("package", BACKENDS)
def test_every_query_fits_psycopgs_cache_of_converted_queries(package: str) -> None:
    # psycopg converts a query of more than 4 KB again at every execution (store/sql.py).
    for name, query in load_queries(package, "queries.sql").items():
        assert len(query.encode()) <= 4096, name


def test_a_comment_line_is_dropped_and_the_code_around_it_kept() -> None:
    queries = load_queries("returnpath.store.postgresql", "queries.sql")
    settle = queries["settle_deliveries"]
    assert settle.startswith("WITH settle AS (")
    assert "pg_advisory_xact_lock" in settle
    assert settle.rstrip().endswith("FROM numbered")
