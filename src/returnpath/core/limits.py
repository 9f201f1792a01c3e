"""How many connections and messages the servers take from whom: counts and a sliding window.

Pure: the servers (smtp/server.py, http/guard.py) tell these what happened and ask what to do;
`now` is an argument. One of each lives in each worker process, for each listening port: the
kernel hands a connection to one process, so the counts are per process (`serve` divides a
total among its workers; a per-address limit applies in each).
"""

from __future__ import annotations

import ipaddress
from collections import deque
from enum import Enum
from typing import Any

WINDOW = 60.0  # seconds: messages_per_minute_per_address counts over this window


class Refusal(Enum):
    """Why a connection is not taken."""

    TOTAL = "too many connections"
    ADDRESS = "too many connections from your address"


def client_address(peer: Any) -> str | None:
    """The client's IP address from a peer name (as asyncio gives it), in one spelling per
    address: an IPv4 client on a dual-stack socket (`::ffff:a.b.c.d`) counts as `a.b.c.d`."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return None
    text = peer[0].partition("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return str(ip)


class ConnectionLimit:
    """Open connections, in total and per client address, against their limits."""

    def __init__(self, total: int, per_address: int) -> None:
        self.total = total
        self.per_address = per_address
        self.open_count = 0
        self.by_address: dict[str | None, int] = {}

    def open(self, address: str | None) -> Refusal | None:
        """Count a new connection from `address`, or say why it is refused (then nothing is counted)."""
        if self.open_count >= self.total:
            return Refusal.TOTAL
        count = self.by_address.get(address, 0)
        if count >= self.per_address:
            return Refusal.ADDRESS
        self.open_count += 1
        self.by_address[address] = count + 1
        return None

    def close(self, address: str | None) -> None:
        """A connection that `open` counted has ended."""
        self.open_count -= 1
        count = self.by_address.get(address, 0) - 1
        if count > 0:
            self.by_address[address] = count
        else:
            self.by_address.pop(address, None)


class RateLimit:
    """At most `limit` events per client address in any WINDOW seconds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.recent: dict[str | None, deque[float]] = {}
        self.swept = 0.0

    def allow(self, address: str | None, now: float) -> bool:
        """Whether one more event from `address` at `now` is within the limit; if so, count it."""
        times = self.recent.get(address)
        if times is None:
            times = self.recent[address] = deque()
        while times and times[0] <= now - WINDOW:
            times.popleft()
        if len(self.recent) > 1024 and now - self.swept > WINDOW:
            self._sweep(now)
            self.recent[address] = times
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True

    def _sweep(self, now: float) -> None:
        """Forget addresses with nothing in the window, so that memory follows the active clients."""
        self.swept = now
        self.recent = {a: t for a, t in self.recent.items() if t and t[-1] > now - WINDOW}


class MessageMemory:
    """Message data this process holds in memory (the top-level `message_memory`), against its
    limit: a message's bytes are counted as they arrive, over SMTP DATA or as an HTTP body, and
    given back once it is stored or refused. Past the limit the message whose bytes would go
    over it is refused, to be sent again later (SMTP 452 4.3.1, HTTP 503), and its bytes are
    no longer kept: so many clients sending large messages at once cannot take the process's
    memory, whatever max_connections allows (1,000 connections of 25 MB each would be 25 GB,
    four times that once parsed). Those already being received go on. 0: no limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def hold(self) -> Held:
        """A new message's share, empty so far."""
        return Held(self)

    def fits(self, size: int) -> bool:
        """Whether a message of `size` bytes would fit in what is free now."""
        return not self.limit or self.held + size <= self.limit


class Held:
    """What one message holds of its process's MessageMemory; `release` gives it back."""

    def __init__(self, memory: MessageMemory) -> None:
        self.memory = memory
        self.size = 0

    def take(self, size: int) -> bool:
        """Count `size` more bytes, or say (False) that they would go over the limit: then
        nothing is counted, and what this message held is given back."""
        if not self.memory.fits(size):
            self.release()
            return False
        self.memory.held += size
        self.size += size
        return True

    def release(self) -> None:
        self.memory.held -= self.size
        self.size = 0

    def __enter__(self) -> Held:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
