"""The DNS questions of the checks, asked the way receivers ask them.

Blocking dnspython, through the resolver delivery uses (`[dns] nameservers`, else
/etc/resolv.conf; delivery/routes.py). A name that does not exist and a name without records
of the type asked both give no records: for every check here they mean the same thing ("not
published"). An answer that did not come — SERVFAIL, a timeout, no server reachable — raises
`Unanswered`: the check then says it cannot tell, rather than calling the record missing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.exception
import dns.name
import dns.resolver
import dns.reversename

from ..delivery.routes import dnspython_resolver


class Unanswered(Exception):
    """The DNS gave no answer for a name (SERVFAIL, timeout, no server): it cannot be checked."""


class Lookups:
    """TXT, MX, address and PTR questions; every answer lowercased where names are compared."""

    def __init__(self, nameservers: Sequence[tuple[str, int]] = (), timeout: float = 10.0) -> None:
        self.nameservers = list(nameservers)
        self.timeout = timeout
        self._resolver: dns.resolver.Resolver | None = None

    def _ask(self, name: str, rdtype: str) -> list[object]:
        try:
            if self._resolver is None:
                self._resolver = dnspython_resolver(dns.resolver.Resolver, self.nameservers)
            answer = self._resolver.resolve(name, rdtype, lifetime=self.timeout, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except dns.resolver.LifetimeTimeout:
            raise Unanswered(f"no answer within {self.timeout:g} s from {self.asked()} for {name} {rdtype}") from None
        except dns.resolver.NoNameservers:
            raise Unanswered(f"the DNS servers failed (SERVFAIL) for {name} {rdtype}") from None
        except dns.exception.DNSException as exc:
            raise Unanswered(f"{name} {rdtype}: {exc}") from None
        return list(answer)

    def asked(self) -> str:
        """The servers the questions go to, and where they were configured: a timeout names
        them, as a resolver that does not answer (a wrong `[dns] nameservers`, a firewall) is
        the likelier cause when every question times out."""
        if self.nameservers:
            servers = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in self.nameservers)
            return f"{servers} ([dns] nameservers)"
        found = [str(server) for server in self._resolver.nameservers] if self._resolver else []
        return f"{', '.join(found) or 'no server'} (/etc/resolv.conf)"

    def txt(self, name: str) -> list[str]:
        """The TXT values at `name`, each record's strings joined (RFC 7208 3.3, RFC 6376 3.6.2.2)."""
        return [
            b"".join(record.strings).decode("ascii", "replace")  # type: ignore[attr-defined]
            for record in self._ask(name, "TXT")
        ]

    def mx(self, name: str) -> list[tuple[int, str]]:
        """The MX records of `name` as (preference, host), best first; "." for a null MX."""
        found = []
        for record in self._ask(name, "MX"):
            exchange: dns.name.Name = record.exchange  # type: ignore[attr-defined]
            host = "." if exchange == dns.name.root else exchange.to_text(omit_final_dot=True).lower()
            found.append((int(record.preference), host))  # type: ignore[attr-defined]
        return sorted(found)

    def addresses(self, name: str, family: int | None = None) -> list[str]:
        """The IPv4 (family 4), IPv6 (6) or both (None) addresses of `name`."""
        found: list[str] = []
        for version, rdtype in ((4, "A"), (6, "AAAA")):
            if family in (None, version):
                found += [str(ipaddress.ip_address(record.address)) for record in self._ask(name, rdtype)]  # type: ignore[attr-defined]
        return found

    def ptr(self, address: str) -> list[str]:
        """The names in the PTR records of `address`, lowercase, without the final dot."""
        name = dns.reversename.from_address(address).to_text()
        return [record.target.to_text(omit_final_dot=True).lower() for record in self._ask(name, "PTR")]  # type: ignore[attr-defined]
