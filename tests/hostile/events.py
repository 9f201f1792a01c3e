"""Events in a real store, made the way the delivery engine makes them: a message submitted,
its deliveries claimed, each attempt settled (delivered, or refused for `rcpt-550` recipients)."""

from __future__ import annotations

import time

from returnpath.core import ids
from returnpath.core.model import Account, Attempt, Outcome, Step, Submission, Verdict
from returnpath.core.ports import NewDelivery, NewMessage, Store
from returnpath.core.retry import RetryPolicy, settle

MIME = b"From: app@example.test\r\nSubject: hello\r\n\r\nHello.\r\n"


async def an_account(store: Store) -> Account:
    now = time.time()
    account = Account(ids.new_id(now), "app", "app")
    await store.create_account(account, "token-app", "hash", now)
    return account


async def record_outcomes(store: Store, account: Account, recipients: list[str]) -> list[str]:
    """One message to `recipients`, each delivery attempted once; returns the delivery ids."""
    now = time.time()
    deliveries = tuple(NewDelivery(ids.new_id(now), r, f"b{i}@bounces.example.test") for i, r in enumerate(recipients))
    submission = Submission(mail_from="app@example.test", recipients=tuple(recipients), mime=MIME)
    message = NewMessage(account.id, ids.new_id(now), submission, deliveries, now, now + 3600)
    await store.submit(message, owner=None, lease_until=now + 60)
    jobs = {job.delivery_id: job for job in await store.claim("test", now, now + 60, len(recipients))}
    for delivery in deliveries:
        job = jobs[delivery.id]
        refused = delivery.recipient.startswith("rcpt-550")
        verdict, step, code = (Verdict.PERMANENT, Step.RCPT, 550) if refused else (Verdict.ACCEPTED, Step.EOM, 250)
        outcome = Outcome(verdict, step, code, f"{code // 100}.0.0", f"{code} reply", "127.0.0.1[127.0.0.1]:25")
        attempt = Attempt(1, now, outcome.remote, step, code, outcome.status, outcome.text, verdict)
        await store.settle(job, attempt, settle(job, outcome, now, RetryPolicy()))
    return [delivery.id for delivery in deliveries]
