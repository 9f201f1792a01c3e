"""The plans PostgreSQL keeps for the statements every message runs.

A prepared statement keeps the plan it was given until its tables are analyzed again, and a
node's tables grow by thousands of rows a minute: a plan chosen when a table was small must
still find one row by its key when it is not (queries.sql, settle_deliveries). Each test looks
at the generic plan (`plan_cache_mode = force_generic_plan`, the plan psycopg's prepared
statements settle on) of a statement, on tables analyzed at the size where the planner would
rather scan them for ten rows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from returnpath.core import ids
from returnpath.core.model import Account, Submission
from returnpath.core.ports import NewDelivery, NewMessage
from returnpath.store.postgresql import PostgresStore, postgres_outbox, postgres_store

NOW = 1_800_000_000.0


def generic_plan(conn: psycopg.Connection[Any], query: str) -> dict[str, Any]:
    """The generic plan of `query` (psycopg's %(name)s placeholders), as EXPLAIN's JSON."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", query)))
    text = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m[1]) + 1}", query)
    conn.execute(f"PREPARE statement AS {text}")
    conn.execute("SET plan_cache_mode = force_generic_plan")
    row = conn.execute(f"EXPLAIN (FORMAT JSON) EXECUTE statement({', '.join(['NULL'] * len(names))})").fetchone()
    assert row is not None
    plan: dict[str, Any] = row[0][0]["Plan"]
    return plan


def reads_of(plan: dict[str, Any], table: str) -> Iterator[tuple[str, str | None]]:
    """(node type, index) of every node of `plan` that reads `table`'s rows."""
    if plan.get("Relation Name") == table and plan["Node Type"] != "ModifyTable":
        yield plan["Node Type"], plan.get("Index Name")
    for child in plan.get("Plans", []):
        yield from reads_of(child, table)


@pytest.fixture
async def analyzed_small(pg_url: str) -> str:
    """A store whose tables hold 500 deliveries and as many loop posts, analyzed as autovacuum
    does a minute after a node started."""
    store = PostgresStore(pg_url)
    await store.open()
    try:
        account = Account(ids.new_id(NOW), "app", "app")
        await store.create_account(account, "token", "hash", NOW)
        for _ in range(5):
            deliveries = tuple(NewDelivery(ids.new_id(NOW), f"r{i}@example.net", "b@bounces.test") for i in range(100))
            submission = Submission("a@example.com", tuple(d.recipient for d in deliveries), b"Subject: x\r\n\r\nx\r\n")
            message = NewMessage(account.id, ids.new_id(NOW), submission, deliveries, NOW, NOW + 100)
            await store.submit(message, owner=None, lease_until=NOW)
    finally:
        await store.close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO loops (id, account_id, url, format, active, secret, created_at, updated_at)"
            " VALUES ('loop', %s, 'https://example.com/', 'json', true, 'secret', %s, %s)",
            (account.id, NOW, NOW),
        )
        conn.execute(
            "INSERT INTO loop_posts (id, loop_id, event_id, event_time, created_at, expires_at, state, attempts,"
            " next_attempt_at) SELECT 'p' || n, 'loop', n, %s, %s, %s, 'pending', 0, %s FROM generate_series(1, 500) n",
            (NOW, NOW, NOW + 100, NOW),
        )
        conn.execute("ANALYZE")
    return pg_url


def test_a_lone_settle_finds_its_delivery_by_the_primary_key(analyzed_small: str) -> None:
    with psycopg.connect(analyzed_small) as conn:
        plan = generic_plan(conn, postgres_store._SETTLE_ONE)
    assert list(reads_of(plan, "deliveries")) == [("Index Scan", "deliveries_pkey")]


def test_a_lone_post_settle_finds_its_post_by_the_primary_key(analyzed_small: str) -> None:
    with psycopg.connect(analyzed_small) as conn:
        plan = generic_plan(conn, postgres_outbox._SETTLE_ONE)
    reads = list(reads_of(plan, "loop_posts"))
    assert ("Index Scan", "loop_posts_pkey") in reads
    assert {kind for kind, _ in reads} == {"Index Scan"}  # the owner's held posts by their index


@pytest.mark.parametrize(
    ("module", "name", "table"),
    [(postgres_store, "settle_deliveries", "deliveries"), (postgres_outbox, "settle_posts", "loop_posts")],
)
def test_the_statement_for_many_scans_what_a_lone_one_finds_by_its_key(
    analyzed_small: str, module: Any, name: str, table: str
) -> None:
    """Why the lone statements are there: the planner takes the ANY for ten rows, and at this size
    it would rather scan the table for ten. (When PostgreSQL plans this otherwise, this test is
    the one to update, not the ones above.)"""
    with psycopg.connect(analyzed_small) as conn:
        plan = generic_plan(conn, module.Q[name])
    assert "Seq Scan" in {kind for kind, _ in reads_of(plan, table)}


def test_the_statement_for_many_is_the_one_for_one_but_for_the_rows_it_names() -> None:
    many, one = postgres_store.Q["settle_deliveries"], postgres_store._SETTLE_ONE
    assert one.replace("d.id = %(one)s", "d.id = ANY(ARRAY(SELECT id FROM settle))") == many
