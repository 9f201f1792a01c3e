"""The dispatcher's surroundings: a real HTTP receiver on loopback, the in-memory outbox, and a
dispatcher with its limits and backoff shrunk to test time (milliseconds, not minutes), once
with each poster (httpx, h11): both adapters pass the same tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from returnpath.webhooks import targets
from returnpath.webhooks.dispatcher import Dispatcher, Limits
from returnpath.webhooks.h11poster import H11Poster
from returnpath.webhooks.policy import Backoff, BreakerPolicy

from .memory import MemoryOutbox
from .receiver import Receiver, receiver  # noqa: F401

TIMEOUT = 0.5  # a post that has not answered by then has failed
FAST_BACKOFF = Backoff(
    first=0.1, factor=2, max_interval=0.4, min_interval=0.02, max_retry_after=2, client_error_attempts=3
)
FAST_BREAKER = BreakerPolicy(threshold=5, cooldown=0.2, factor=2, max_cooldown=0.5)


@pytest.fixture
def outbox() -> MemoryOutbox:
    return MemoryOutbox()


Start = Callable[..., Awaitable[Dispatcher]]


@pytest.fixture
async def start(outbox: MemoryOutbox) -> AsyncIterator[Start]:
    """Start a dispatcher over the outbox (limits may be changed, and the resolver of loop hosts:
    a fake DNS); stopped after the test."""
    started: list[Dispatcher] = []

    async def start(resolve: targets.Resolver = targets.system_resolve, **limits: Any) -> Dispatcher:
        settings = Limits(
            **{"timeout": TIMEOUT, "poll_interval": 0.02, "lease": 30.0, "allow_private_targets": True, **limits}
        )
        poster = H11Poster(timeout=settings.timeout, per_endpoint=settings.per_endpoint)
        dispatcher = Dispatcher(
            outbox, poster, owner="test", limits=settings, backoff=FAST_BACKOFF, breaker=FAST_BREAKER, resolve=resolve
        )
        await dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        await dispatcher.stop(grace=TIMEOUT)
        await dispatcher.poster.close()


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> float:
    """Wait until `condition` holds; returns how long it took."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > within:
            raise AssertionError(f"not within {within}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - began
