"""Reading a domain's DKIM key records back from DNS, as the world sees them.

A rotation (usecases/domains.py) switches to its new keys only once their records are
published: a verifier that finds no record for a signature's selector fails it (RFC 6376
6.1.2), so signing with a key before its record is out would fail mail at every receiver.
`key_problems` asks DNS for the records of some keys and says, per selector, what is wrong
(None when the record carries the key), with records.record_problem's sentences.

The resolver is a parameter (a dnspython async resolver), made by `make_resolver` from the
`[dns]` settings in production and pointed at a loopback server in tests. A lookup that fails
(time-out, SERVFAIL) is not "no record": it raises `LookupFailed`, and the caller tries again
later rather than concluding anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import dns.asyncresolver
import dns.exception
import dns.resolver

from ..config import DnsSettings
from ..delivery.routes import dnspython_resolver
from ..errors import ReturnpathError
from .keys import DomainKey
from .records import record_name, record_problem


class LookupFailed(ReturnpathError):
    """DNS gave no answer (time-out, SERVFAIL, no server): nothing is known."""


def make_resolver(settings: DnsSettings) -> dns.asyncresolver.Resolver:
    """A resolver asking `[dns] nameservers`, or the system's (/etc/resolv.conf) when none."""
    try:
        resolver = dnspython_resolver(dns.asyncresolver.Resolver, settings.servers())
    except dns.exception.DNSException as exc:  # no /etc/resolv.conf, or none in it
        raise LookupFailed(f"no DNS server to ask: {exc}; set [dns] nameservers") from exc
    resolver.timeout = resolver.lifetime = settings.timeout
    return resolver


async def txt_values(resolver: dns.asyncresolver.Resolver, name: str) -> list[str]:
    """The TXT records at `name`, each one's strings joined (RFC 6376 3.6.2.2); none when the
    name or its TXT records do not exist; LookupFailed when DNS does not say."""
    try:
        answer = await resolver.resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as exc:  # time-out, SERVFAIL from every server, ...
        raise LookupFailed(f"no answer for {name} TXT: {exc}") from exc
    return [b"".join(record.strings).decode("ascii", "replace") for record in answer]


async def key_problems(
    resolver: dns.asyncresolver.Resolver, domain: str, keys: Sequence[DomainKey]
) -> dict[str, str | None]:
    """For each key, by selector: None when its record in `domain` carries it, else what is
    wrong. LookupFailed when DNS does not answer for one of them."""
    return {
        key.selector: record_problem(key, await txt_values(resolver, record_name(key.selector, domain))) for key in keys
    }
