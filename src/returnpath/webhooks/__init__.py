"""Feedback loops (webhooks): every outcome posted to the applications that asked for it.

    model.py       Loop, Post: the values
    payloads.py    the variables posted for each event (SMTPeter's names), form or JSON
    signing.py     Standard Webhooks signatures and secrets
    targets.py     which URLs may be posted to
    policy.py      what an answer means: done, retry when, dead; the endpoint's circuit breaker
    ports.py       the Outbox the dispatcher works from and the Poster it posts with
    h11poster.py   the Poster over h11 and asyncio streams
    dispatcher.py  claims due items, posts them within limits, records what came of each

The first five are pure. The SQLite outbox is store/sqlite/sqlite_outbox.py; ../loops.py has the
use cases the API and CLI share.
"""
