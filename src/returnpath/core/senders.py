"""The sender domains an account may use: how they are written, and which addresses they allow.

An account may be bound to a list of domains; an empty list allows any sender. An entry is a
domain (`example.com`: exactly that domain) or a wildcard (`*.example.com`: any subdomain of it,
at any depth, but not `example.com` itself — list both to allow both). Domains are compared in
ASCII and without case, so internationalised domains are written as A-labels (`xn--...`).

The envelope sender is what is checked (MAIL FROM over SMTP; over HTTP `envelope`, or the From
header's address when there is none), and the null sender is refused when the list is not empty:
it names no domain, so it cannot be shown to be one of them.

A *sending domain* (`SendingDomain`) belongs to one account. Mail of that account whose `From:`
address is in the domain, or in a subdomain of it, is DKIM-signed with the domain's keys
(dkim/signer.py) and sent with an envelope sender at the domain's *bounce domain*, so that both
DKIM and SPF align with `From:` for DMARC (RFC 7489 3.1). Mail of other domains keeps the
instance's `bounce_domain` and is not signed. The store keeps which selectors sign
(`rsa_selector`, `ed25519_selector`) and those made for a rotation and not yet in use
(`pending_*`); the keys themselves are files in the data folder (dkim/keys.py), never in the
store. Everything here is pure.

A rotation (`returnpath domains rotate`) goes: ACTIVE with new keys made under new selectors,
kept as pending (state ROTATING) while the old ones go on signing; once both new records are
seen in DNS, `switched` makes the pending selectors the signing ones and lists the old ones as
`retired`, with the time of the switch. Their records must stay published a while: mail
signed just before the switch may sit in a receiver's queue, or be verified again later (a
forward, a report), so they are only *removable* RETIRED_KEEP after it (issue 11: 7 days).

A removed domain no longer signs, nor gives its bounce domain to new mail, but mail sent before
the removal can still bounce: the store keeps its row, removed, and the inbound server goes on
accepting its bounce domain for `bounce_kept` — the longest a delivery is retried (`[delivery.retry]
lifetime`; a message's `maxdelivertime` is capped by it) plus LATE_DSN for a DSN that comes after
the last attempt (a receiver that accepted the message and bounces it later, a slow
queue). Then the supervisor's purge deletes the row.
"""

from __future__ import annotations

import email.utils
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from ..errors import InputError

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})+$")
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")  # a domain, no wildcard


def parse_domains(values: Iterable[str]) -> tuple[str, ...]:
    """The entries of a list such as `example.com,*.example.org` (given as one or more comma- or
    space-separated strings), lowercased, checked, without duplicates, in the order given.
    Raises InputError naming an entry that is not a domain or wildcard."""
    found: list[str] = []
    for value in values:
        for entry in value.replace(",", " ").split():
            domain = entry.lower().rstrip(".")
            if len(domain) > 253 or not _DOMAIN.match(domain):
                raise InputError(
                    f"sender domain {entry!r}: write a domain such as example.com, or *.example.com for its subdomains"
                )
            if domain not in found:
                found.append(domain)
    return tuple(found)


def allows(domains: tuple[str, ...], address: str) -> bool:
    """Whether an account bound to `domains` may use `address` as its sender ("" is the null
    sender)."""
    if not domains:
        return True
    _, at, domain = address.rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not domain:
        return False
    for entry in domains:
        if entry.startswith("*."):
            if domain.endswith(entry[1:]):
                return True
        elif domain == entry:
            return True
    return False


# ---- sending domains: those an account signs its mail for (issue 11) -------------------------


class DomainState(enum.StrEnum):
    """Where a sending domain stands in a rotation of its keys."""

    ACTIVE = "active"  # signs with its rsa and ed25519 selectors
    ROTATING = "rotating"  # signs so still; pending selectors wait for their records in DNS


# How long a retired selector's record stays published after the switch (issue 11).
RETIRED_KEEP = 7 * 86400.0

# How long after a delivery's last attempt its DSN may still come back (a receiver that accepted
# the message and bounces it later; RFC 5321 4.5.4.1 suggests giving up after 4-5 days, so a
# week covers the receivers that follow it).
LATE_DSN = 7 * 86400.0


def bounce_kept(retry_lifetime: float) -> float:
    """How long after its removal a domain's bounce domain is still accepted (module docstring)."""
    return retry_lifetime + LATE_DSN


@dataclass(frozen=True, slots=True)
class SendingDomain:
    account_id: str
    domain: str  # lowercase, A-labels, no final dot
    bounce_domain: str  # the domain of its deliveries' envelope senders
    created_at: float
    rsa_selector: str
    ed25519_selector: str
    pending_rsa_selector: str | None = None  # a rotation's next key, not yet signing
    pending_ed25519_selector: str | None = None
    state: DomainState = DomainState.ACTIVE
    retired: tuple[tuple[str, float], ...] = ()  # (selector, when it stopped signing), oldest first

    @property
    def selectors(self) -> tuple[str, ...]:
        """The selectors that sign now, RSA first."""
        return (self.rsa_selector, self.ed25519_selector)

    @property
    def pending_selectors(self) -> tuple[str, ...]:
        """A rotation's selectors that do not sign yet, RSA first; none outside a rotation."""
        if self.pending_rsa_selector is None or self.pending_ed25519_selector is None:
            return ()
        return (self.pending_rsa_selector, self.pending_ed25519_selector)

    def rotating(self, rsa_selector: str, ed25519_selector: str) -> SendingDomain:
        """The domain with a rotation to these selectors pending."""
        return replace(
            self,
            pending_rsa_selector=rsa_selector,
            pending_ed25519_selector=ed25519_selector,
            state=DomainState.ROTATING,
        )

    def switched(self, now: float) -> SendingDomain:
        """The domain once its pending selectors sign, the old ones retired at `now`."""
        if not self.pending_selectors:
            raise ValueError(f"{self.domain} has no rotation pending")
        return replace(
            self,
            rsa_selector=self.pending_selectors[0],
            ed25519_selector=self.pending_selectors[1],
            pending_rsa_selector=None,
            pending_ed25519_selector=None,
            state=DomainState.ACTIVE,
            retired=(*self.retired, *((selector, now) for selector in self.selectors)),
        )


def parse_domain(value: str, what: str = "domain") -> str:
    """`value` as a sending domain is kept: lowercase, without a final dot; InputError when it
    is not a domain name of at least two labels (internationalised names as A-labels)."""
    domain = value.strip().lower().rstrip(".")
    # An all-numeric last label is an IPv4 address (or part of one), never a domain: no
    # top-level domain is all-numeric (RFC 3696 2), and no key record can be published under it.
    if len(domain) > 253 or not _NAME.match(domain) or domain.rsplit(".", 1)[-1].isdigit():
        raise InputError(
            f"{what} {value!r} is not a domain name: write it as example.com (an internationalised name as xn--...)"
        )
    return domain


def default_bounce_domain(domain: str, instance_bounce_domain: str) -> str:
    """The bounce domain of `domain` when none is given: the first label of the instance's own
    bounce domain under it (``bounces.example.net`` and ``example.com`` give
    ``bounces.example.com``), so that the envelope sender's organisational domain is the
    ``From:`` domain's and SPF aligns (relaxed alignment, RFC 7489 3.1.2)."""
    label = instance_bounce_domain.strip().lower().rstrip(".").split(".", 1)[0]
    return f"{label}.{domain}"


def signing_domain(address_domain: str, domains: Iterable[SendingDomain]) -> SendingDomain | None:
    """The configured domain that signs mail from `address_domain`: the domain itself, or else
    its nearest parent among `domains`; None when there is none."""
    name = address_domain.strip().lower().rstrip(".")
    by_name = {d.domain: d for d in domains}
    while name:
        if name in by_name:
            return by_name[name]
        _, _, name = name.partition(".")
    return None


def from_domain(mime: bytes) -> str | None:
    """The domain of the (first) address in the message's ``From:`` field, lowercase; None
    when the message has no From field or no address with a domain in it."""
    values = fields(mime, b"from")
    if not values:
        return None
    for _, address in email.utils.getaddresses(values[:1]):
        _, at, domain = address.rpartition("@")
        if at and domain:
            return domain.lower().rstrip(".")
    return None


def fields(mime: bytes, name: bytes) -> list[str]:
    """The unfolded values of the header fields called `name` (lowercase), in order."""
    end = mime.find(b"\r\n\r\n")
    header = mime if end < 0 else mime[: end + 2]
    found: list[list[bytes]] = []
    continued = False  # whether a folded line continues the last field found
    for line in header.split(b"\r\n"):
        if line[:1] in (b" ", b"\t"):
            if continued:
                found[-1].append(line)
            continue
        field, colon, value = line.partition(b":")
        continued = bool(colon) and field.strip().lower() == name
        if continued:
            found.append([value])
    return [b" ".join(part.strip() for part in parts).decode("utf-8", "replace") for parts in found]


def taken(existing: SendingDomain, account_id: str) -> InputError:
    """The error for adding a domain that is configured already: to this account, or to
    another (whose name is not given away)."""
    name = existing.domain
    if existing.account_id == account_id:
        return InputError(
            f"the domain {name} is configured already: its records to publish are shown again by "
            f"`returnpath domains show {name}` (GET /v1/domains/{name})"
        )
    return InputError(
        f"the domain {name} belongs to another account: that account must remove it before this one adds it"
    )
