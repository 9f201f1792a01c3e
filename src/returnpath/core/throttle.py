"""Throttling password guesses across connections and worker processes: the rule.

A delay per connection does not slow a guesser who opens fifty connections, and the worker
processes of `serve` share the listening sockets, so a count kept in one process's memory sees
only the connections that landed there. The failed SMTP AUTH attempts are therefore counted in
the store, which every worker shares, twice: per client address and per username. A count runs
in a window that begins with its first failure; once it reaches its limit, further attempts are
refused with `454 4.7.0` without their password being checked, until the window has passed.

A check is counted *before* the password is checked (and uncounted when it was right), so that
fifty parallel guesses cannot all be checked while the count still reads zero.

Balancing lock-out: a per-username limit lets an attacker who knows a username lock its owner
out. So it does not apply to an address that has logged in as that username before (within
KNOWN_FOR): applications submit from a few fixed servers, which keep working while the
username is under attack from elsewhere; only a new address has to wait for the window. The
per-address limit applies to every username from that address, and a successful login does not
reset it (it only uncounts its own attempt).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# How long a successful login makes its address known for the username.
KNOWN_FOR = 30 * 86400.0
# Longer usernames are counted under their first this many characters.
MAX_USERNAME = 256


@dataclass(frozen=True, slots=True)
class AuthLimits:
    """Failures allowed per address and per username within `window` seconds; 0: no limit."""

    per_address: int
    per_username: int
    window: float

    @property
    def active(self) -> bool:
        return self.per_address > 0 or self.per_username > 0


@dataclass(frozen=True, slots=True)
class AuthCounts:
    """What the store knows of an attempt's address and username now."""

    address: int  # failed (or being checked) attempts from the address in its current window
    username: int  # the same for the username
    known: bool  # the address logged in as the username within KNOWN_FOR


def refusal(limits: AuthLimits, counts: AuthCounts) -> str | None:
    """Why an attempt may not be checked ("address" or "username"), or None when it may."""
    if limits.per_address and counts.address >= limits.per_address:
        return "address"
    if limits.per_username and not counts.known and counts.username >= limits.per_username:
        return "username"
    return None


def client_address(peer: str | None) -> str:
    """The address failures are counted under: an IPv4 address, or the /64 of an IPv6 one (a
    single host is usually given a whole /64, so counting per address would not hold it)."""
    if not peer:
        return "unknown"
    try:
        ip = ipaddress.ip_address(peer.partition("%")[0])
    except ValueError:
        return peer[:64]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def username_of(login: str) -> str:
    return login[:MAX_USERNAME]
