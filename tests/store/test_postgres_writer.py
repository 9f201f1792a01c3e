"""The PostgreSQL store's writer (store/postgresql/postgres_database.py): writes asked for together are
committed together, Batched writes of one kind in one call, and a write that fails fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest

from returnpath.core import ids
from returnpath.core.model import Account, Attempt, DeliveryState, Outcome, Step, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage
from returnpath.core.retry import RetryPolicy, settle
from returnpath.errors import StoreError
from returnpath.store.postgresql import PostgresStore
from returnpath.store.postgresql.postgres_database import Batched, PostgresDatabase, Tx

NOW = 1_800_000_000.0


@pytest.fixture
async def db(pg_url: str) -> AsyncIterator[PostgresDatabase]:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE numbers (n integer PRIMARY KEY)")
        conn.execute("INSERT INTO numbers VALUES (3)")
    database = PostgresDatabase(pg_url)
    await database.open()
    yield database
    await database.close()


class Inserts:
    """A Batched kind: inserts its numbers with one statement, and remembers each call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    async def run(self, tx: Tx, numbers: list[int]) -> list[int]:
        self.calls.append(numbers)
        cur = await tx.execute("INSERT INTO numbers SELECT unnest(%s::integer[]) RETURNING -n", (numbers,))
        return [row[0] for row in await cur.fetchall()]


async def numbers(db: PostgresDatabase) -> list[int]:
    async def op(tx: Tx) -> list[int]:
        return [row[0] for row in await (await tx.execute("SELECT n FROM numbers ORDER BY n")).fetchall()]

    return await db.read(op)


async def insert(tx: Tx, n: int) -> None:
    await tx.execute("INSERT INTO numbers VALUES (%s)", (n,))


async def test_batched_writes_of_a_kind_run_in_one_call_each_with_its_own_value(db: PostgresDatabase) -> None:
    inserts, others = Inserts(), Inserts()
    values = await asyncio.gather(
        db.write(Batched(inserts.run, 1)),
        db.write(lambda tx: insert(tx, 20)),  # a plain write among them
        db.write(Batched(others.run, 10)),
        db.write(Batched(inserts.run, 2)),
        db.write(Batched(others.run, 11)),
        db.write(Batched(inserts.run, 4)),
    )
    assert values == [-1, None, -10, -2, -11, -4]
    assert inserts.calls == [[1, 2, 4]] and others.calls == [[10, 11]]
    assert await numbers(db) == [1, 2, 3, 4, 10, 11, 20]


async def test_a_failing_batched_write_fails_alone(db: PostgresDatabase) -> None:
    """3 is taken: its insert fails the batch's statement, so the group is rolled back and each
    write run again alone; only 3's caller hears of the failure, and each other number is
    inserted once."""
    inserts = Inserts()
    values = await asyncio.gather(
        db.write(Batched(inserts.run, 1)),
        db.write(Batched(inserts.run, 3)),
        db.write(lambda tx: insert(tx, 20)),
        db.write(Batched(inserts.run, 2)),
        return_exceptions=True,
    )
    assert values[0] == -1 and values[2] is None and values[3] == -2
    assert isinstance(values[1], StoreError) and "duplicate key" in str(values[1])
    assert inserts.calls == [[1, 3, 2], [1], [3], [2]]
    assert await numbers(db) == [1, 2, 3, 20]


async def test_a_group_of_one_statement_runs_without_a_transaction_when_its_items_allow(db: PostgresDatabase) -> None:
    """Batched.one_statement may be a function of the group's items (a settle's is: one
    statement only while every settle is of another delivery): when it says yes, the
    statement runs without BEGIN and COMMIT, else in a transaction, and either way each
    write has its value and is committed."""
    seen: list[tuple[list[int], bool]] = []

    async def run(tx: Tx, numbers: list[int]) -> list[int]:
        cur = await tx.execute("INSERT INTO numbers SELECT unnest(%s::integer[]) RETURNING -n", (numbers,))
        in_transaction = tx.conn.info.transaction_status is psycopg.pq.TransactionStatus.INTRANS
        seen.append((numbers, in_transaction))
        return [row[0] for row in await cur.fetchall()]

    def fewer_than_three(numbers: list[int]) -> bool:
        return len(numbers) < 3

    assert await asyncio.gather(*(db.write(Batched(run, n, one_statement=fewer_than_three)) for n in (1, 2))) == [
        -1,
        -2,
    ]
    assert await asyncio.gather(*(db.write(Batched(run, n, one_statement=fewer_than_three)) for n in (4, 5, 6))) == [
        -4,
        -5,
        -6,
    ]
    assert seen == [([1, 2], False), ([4, 5, 6], True)]
    assert await numbers(db) == [1, 2, 3, 4, 5, 6]


async def test_a_settle_that_cannot_be_stored_fails_alone_among_settles(pg_url: str) -> None:
    """PostgreSQL's text cannot hold NUL: an attempt whose reply text has one cannot be stored.
    Settled together with others, it fails alone; its delivery stays as it was, still held."""
    store = PostgresStore(pg_url)
    await store.open()
    try:
        account = Account(ids.new_id(NOW), "app", "app")
        await store.create_account(account, "token", "hash", NOW)
        recipients = ("a@example.net", "b@example.net", "c@example.net")
        deliveries = tuple(NewDelivery(ids.new_id(NOW), r, "b@bounces.test") for r in recipients)
        submission = Submission(mail_from="a@example.com", recipients=recipients, mime=b"Subject: x\r\n\r\nx\r\n")
        await store.submit(
            NewMessage(account.id, ids.new_id(NOW), submission, deliveries, NOW, NOW + 100), owner=None, lease_until=NOW
        )
        jobs = await store.claim("w1", NOW, NOW + 60, 10)
        ok = Attempt(1, NOW + 1, None, Step.EOM, 250, None, "ok", Verdict.ACCEPTED)
        bad = Attempt(1, NOW + 1, None, Step.EOM, 250, None, "o\x00k", Verdict.ACCEPTED)
        outcome = Outcome(Verdict.ACCEPTED, Step.EOM, 250, None, "ok", None)
        results = await asyncio.gather(
            *(
                store.settle(job, bad if i == 1 else ok, settle(job, outcome, NOW + 1, RetryPolicy()))
                for i, job in enumerate(jobs)
            ),
            return_exceptions=True,
        )
        assert isinstance(results[0], int) and isinstance(results[2], int)
        assert isinstance(results[1], StoreError)
        views = [await store.delivery(account.id, job.delivery_id) for job in jobs]
        assert [(v.state, len(v.history)) for v in views if v is not None] == [
            (DeliveryState.DELIVERED, 1),
            (DeliveryState.QUEUED, 0),
            (DeliveryState.DELIVERED, 1),
        ]
        # Still w1's: nobody else claims it before its lease runs out.
        assert await store.claim("w2", NOW + 2, NOW + 60, 10) == []
        assert len(await store.events()) == 2
    finally:
        await store.close()
