"""The sender domains an account may use: how they are written, and which addresses they allow.

An account may be bound to a list of domains; an empty list allows any sender. An entry is a
domain (`example.com`: exactly that domain) or a wildcard (`*.example.com`: any subdomain of it,
at any depth, but not `example.com` itself — list both to allow both). Domains are compared in
ASCII and without case, so internationalised domains are written as A-labels (`xn--...`).

The envelope sender is what is checked (MAIL FROM over SMTP; over HTTP `envelope`, or the From
header's address when there is none), and the null sender is refused when the list is not empty:
it names no domain, so it cannot be shown to be one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..errors import InputError

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?:\*\.)?{_LABEL}(?:\.{_LABEL})+$")


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
