"""How a loop that polls the store waits between polls, and says that a poll failed.

The delivery poller and the returned-mail worker try the store every `[delivery] poll_interval`,
or sooner when woken. While the database is away (StoreError), a traceback at every poll from
every worker would bury everything else in the log: the outage is said once when it begins and
once when it ends. Any other error is a bug, and is logged with its traceback each time.
"""

from __future__ import annotations

import asyncio
import logging
from types import TracebackType

from .errors import StoreError


class Outage:
    """A context for one poll: `with outage: ...` swallows the poll's error after saying it (as
    above); `doing` names the poll ("claiming due deliveries")."""

    def __init__(self, log: logging.Logger, doing: str) -> None:
        self.log = log
        self.doing = doing
        self.down = False  # the store was unavailable at the last poll

    def __enter__(self) -> Outage:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> bool:
        if error is None:
            if self.down:
                self.log.info("%s works again", self.doing)
            self.down = False
            return False
        if isinstance(error, StoreError):
            if not self.down:
                self.log.warning("%s failed, trying again at every poll: %s", self.doing, error)
            self.down = True
            return True
        if isinstance(error, Exception):
            self.log.error("%s failed", self.doing, exc_info=(kind, error, trace))  # type: ignore[arg-type]
            return True
        return False  # cancellation and the like go on


async def woken(event: asyncio.Event, within: float) -> bool:
    """Wait for `event` for up to `within` seconds; whether it came.

    With asyncio.timeout, not wait_for: Python 3.11's wait_for runs the wait as a task of its
    own, and a cancel (the pollers' stop()) that came as that wait ended left the poller
    "cancelling" for ever, waiting on the inner task (seen once in CI: engine.stop hung; a task
    dump showed it). asyncio.timeout waits in the caller's task, so a cancel reaches it directly.
    """
    try:
        async with asyncio.timeout(within):
            await event.wait()
    except TimeoutError:
        return False
    return True
