"""Throttling password guesses across connections and worker processes: the rule.

A delay per connection does not slow a guesser who opens fifty connections, and the worker
processes of `serve` share the listening sockets, so a count kept in one process's memory sees
only the connections that landed there. The failed SMTP AUTH attempts are therefore counted in
the store, which every worker shares, twice: per client address and per username. A count runs
in a window that begins with its first failure; once it reaches its limit, further attempts are
refused with `454 4.7.0` without their password being checked, until the window has passed.

Checks in flight. A check is reserved *before* the password is checked, so that fifty parallel
guesses cannot all be checked while the failure count still reads zero; its outcome then either
turns the reservation into a failure or gives it back. Reservations and failures are counted
apart (keys `busy:...` beside the failures' own), and the limits are applied to them so:

- failures alone reaching a limit refuse with "Too many failed authentication attempts";
- from an address not known for the username (below), failures and reservations together
  reaching the per-address or the per-username limit refuse with "Too many authentication
  attempts at once" - no attempt has failed, so the reply does not say one has;
- an address *known* for the username (below) is not held back by reservations and failures
  together, only by its failures alone, and by reservations once it has `AuthLimits.at_once`
  of them in flight (the per-address connection limit; counted in the store, so over all
  workers).

The refusal by failures alone is also asked before the account is looked up (failures_refusal);
the reservations are weighed only when reserving.

The guarantee that a guesser gets only so many passwords checked per window holds: from an
address not known for the username no more than `per_address` checks are ever counted at once,
failed or in flight, so at most `per_address` guesses are checked per window (as when a
reservation simply counted as a failure); from an address known for it - one that has given
its right password within KNOWN_FOR, e.g. an attacker behind the application's NAT - at most
`per_address - 1 + at_once`: once `per_address` have failed no more start, and no more than
`at_once` were in flight. A check that ends in an error (or cancelled) counts as a failure:
nothing shows it was not one. A reservation its process never finished (it died) ends with
the window of its row, as a failure does; so may one still in flight when the row's window
ends (the count under-reads by it until that check ends: one check, not a way round the limit,
since the failures it then adds count in a new window).

Why parallel right logins are not refused: a connection pool opening fifty connections at
once from a fresh server gives the same credentials fifty times. Within a worker process such
identical attempts from one address wait for one check (usecases/relay.py) instead of each
reserving its own, so they take one reservation per worker, not fifty (which stays under the
limit while there are fewer workers than `per_address`); once the address has logged in it is
known, and its pools may reserve up to `at_once`. Many *different* credentials at once from a
fresh address (more than `per_address`) are still refused until it has logged in once: until
then they are indistinguishable from guesses. Giving every address the larger in-flight bound
instead would have let a guesser from a fresh address have `per_address - 1 + at_once` (109 by
default, not 10) passwords checked per window.

Balancing lock-out: a per-username limit lets an attacker who knows a username lock its owner
out. So it does not apply to an address that has logged in as that username before (within
KNOWN_FOR): applications submit from a few fixed servers, which keep working while the
username is under attack from elsewhere; only a new address has to wait for the window. The
per-address limit applies to every username from that address, and a successful login does not
reset it (it only gives back its own reservation).
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
    at_once: int = 0  # checks in flight allowed from an address known for the username; 0: no limit

    @property
    def active(self) -> bool:
        return self.per_address > 0 or self.per_username > 0


@dataclass(frozen=True, slots=True)
class AuthCounts:
    """What the store knows of an attempt's address and username now."""

    address: int  # failed attempts from the address in its current window
    username: int  # the same for the username
    known: bool  # the address logged in as the username within KNOWN_FOR
    address_checking: int = 0  # attempts from the address being checked now (reserved)
    username_checking: int = 0  # the same for the username


def refusal(limits: AuthLimits, counts: AuthCounts) -> str | None:
    """Why an attempt may not be reserved and checked ("address", "username" or "at once"), or
    None when it may."""
    if why := failures_refusal(limits, counts):
        return why
    if counts.known:
        if limits.per_address and limits.at_once and counts.address_checking >= limits.at_once:
            return "at once"
    elif limits.per_address and counts.address + counts.address_checking >= limits.per_address:
        return "at once"
    if limits.per_username and not counts.known and counts.username + counts.username_checking >= limits.per_username:
        return "at once"
    return None


def failures_refusal(limits: AuthLimits, counts: AuthCounts) -> str | None:
    """The refusal by failures alone ("address" or "username"), or None. Checked first, before
    the account is even looked up; the attempts in flight are weighed only when reserving,
    which the same credentials given again at once do not do (usecases/relay.py)."""
    if limits.per_address and counts.address >= limits.per_address:
        return "address"
    if limits.per_username and not counts.known and counts.username >= limits.per_username:
        return "username"
    return None


def failure_keys(address: str, username: str) -> tuple[str, str]:
    """The store's keys of the failures of the address and of the username."""
    return f"addr:{address}", f"user:{username}"


def busy_keys(address: str, username: str) -> tuple[str, str]:
    """The store's keys of their attempts being checked now (reserved)."""
    return f"busy:addr:{address}", f"busy:user:{username}"


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
