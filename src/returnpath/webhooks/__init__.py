"""Feedback loops (webhooks): every outcome posted to the applications that asked for it.

    model.py       Loop, OutboxItem: the values
    payloads.py    the variables posted for each event (SMTPeter's names), form or JSON
    signing.py     Standard Webhooks signatures and secrets
    targets.py     which URLs may be posted to
    policy.py      what an answer means: done, retry when, dead; the endpoint's circuit breaker
    ports.py       the Outbox the dispatcher works from and the Poster it posts with
    poster.py      the Poster over httpx
    h11poster.py   the Poster over h11 and asyncio streams (five times less CPU per post)
    dispatcher.py  claims due items, posts them within limits, records what came of each

The first five are pure. INTEGRATION.md says what the store, API and CLI still owe.
"""
