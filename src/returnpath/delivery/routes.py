"""Where to send mail for a domain: static routes, or the domain's MX records.

`[delivery.routes]` maps a domain (or "*" for every domain) to `host:port` and overrides the
DNS; it is for smarthosts and test set-ups. Otherwise RFC 5321 section 5 decides: the MX hosts
in order of preference (random order among equal preferences, to spread the load), the domain
itself when it has no MX record (the "implicit MX", from its A/AAAA records), and a null MX
(RFC 7505: one record `0 .`) means the domain accepts no mail at all.

The answer is a `Destination` (the server addresses to try, in order) or the `Outcome` that
ends every delivery to the domain for now: permanent for a null MX or a domain that does not
exist, temporary when the DNS could not answer.

The DNS is behind the small `Resolver` port, so that tests can give their own answers.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import dns.asyncresolver
import dns.exception
import dns.name
import dns.nameserver
import dns.resolver

from ..config import Settings, parse_hostport
from ..core.model import Outcome, Step, Verdict
from ..smtp.client import Target

SMTP_PORT = 25
# Postfix tries at most five server addresses per delivery (smtp_mx_address_limit): beyond
# that, a long list of dead backups only delays the retry.
MAX_TARGETS = 5
DNS_TIMEOUT = 30.0  # seconds for one DNS question, all retries included


class DnsStatus(enum.Enum):
    """A DNS question that got no records, other than "the name has none of that type"."""

    NO_DOMAIN = "nxdomain"  # the name does not exist
    FAILED = "failed"  # timeout, SERVFAIL, no server answered: ask again later


class Resolver(Protocol):
    """The DNS as delivery needs it."""

    async def mx(self, domain: str) -> list[tuple[int, str]] | DnsStatus:
        """The MX records of `domain` as (preference, host), the host without its final dot
        ("." for a null MX); [] when the domain exists but has no MX record."""
        ...

    async def addresses(self, host: str) -> list[str] | DnsStatus:
        """The IPv4 and IPv6 addresses of `host`, in the order to try them; [] if it has none."""
        ...


@dataclass(frozen=True, slots=True)
class Destination:
    """The servers that take mail for a domain, in the order to try them."""

    domain: str
    targets: tuple[Target, ...]


class Routes:
    """Answers "where does mail for this domain go?" from the settings and the DNS."""

    def __init__(
        self, settings: Settings, resolver: Resolver, *, mx_port: int = SMTP_PORT, rng: random.Random | None = None
    ) -> None:
        self.static = {
            domain.lower(): parse_hostport(target, f"delivery.routes.{domain!r}")
            for domain, target in settings.delivery.routes.items()
        }
        self.resolver = resolver
        self.mx_port = mx_port  # 25; tests point MX hosts at a sink's port
        self.rng = rng or random.Random()

    async def resolve(self, domain: str) -> Destination | Outcome:
        """The destination of `domain`, or the outcome for all of its deliveries."""
        domain = domain.lower().rstrip(".")
        static = self.static.get(domain) or self.static.get("*")
        hosts = [static] if static else await self._mx_hosts(domain)
        if isinstance(hosts, Outcome):
            return hosts
        return await self._targets(domain, hosts)

    async def _mx_hosts(self, domain: str) -> list[tuple[str, int]] | Outcome:
        """The hosts to try by RFC 5321 section 5.1, best preference first."""
        records = await self.resolver.mx(domain)
        if records is DnsStatus.NO_DOMAIN:
            return _failure(Verdict.PERMANENT, "5.1.2", f"Host or domain name not found: {domain} (NXDOMAIN)")
        if records is DnsStatus.FAILED:
            return _failure(
                Verdict.TEMPORARY, "4.4.3", f"DNS lookup of the MX records of {domain} failed; will try again"
            )
        assert not isinstance(records, DnsStatus)
        if not records:
            return [(domain, self.mx_port)]  # the implicit MX: the domain's own A/AAAA records
        if any(host in (".", "") for _, host in records):
            return _failure(Verdict.PERMANENT, "5.1.10", f"Domain {domain} does not accept mail (null MX, RFC 7505)")
        shuffled = list(records)
        self.rng.shuffle(shuffled)  # then a stable sort: random order among equal preferences
        shuffled.sort(key=lambda record: record[0])
        hosts = [host.lower().rstrip(".") for _, host in shuffled]
        return [(host, self.mx_port) for host in dict.fromkeys(hosts)]

    async def _targets(self, domain: str, hosts: Sequence[tuple[str, int]]) -> Destination | Outcome:
        """Every address of every host, in order; looked up together."""
        answers = await asyncio.gather(*(self._addresses(host) for host, _ in hosts))
        targets = [
            Target(host, address, port)
            for (host, port), answer in zip(hosts, answers, strict=True)
            if not isinstance(answer, DnsStatus)
            for address in answer
        ]
        if targets:
            return Destination(domain, tuple(targets[:MAX_TARGETS]))
        names = ", ".join(host for host, _ in hosts)
        if DnsStatus.FAILED in answers:
            return _failure(Verdict.TEMPORARY, "4.4.3", f"DNS lookup of the address of {names} failed; will try again")
        return _failure(Verdict.PERMANENT, "5.4.4", f"Host or domain name not found: no address for {names}")

    async def _addresses(self, host: str) -> list[str] | DnsStatus:
        try:
            return [str(ipaddress.ip_address(host))]  # an address literal needs no lookup
        except ValueError:
            return await self.resolver.addresses(host)


def _failure(verdict: Verdict, status: str, text: str) -> Outcome:
    # Routing happens before any connection: the attempt ended at the connect step.
    return Outcome(verdict, Step.CONNECT, None, status, text, None)


AnyResolver = TypeVar("AnyResolver", dns.resolver.Resolver, dns.asyncresolver.Resolver)


def dnspython_resolver(kind: type[AnyResolver], nameservers: Sequence[tuple[str, int]] = ()) -> AnyResolver:
    """A dnspython resolver (`kind`: blocking or asyncio) asking `nameservers` (`[dns]
    nameservers`, as (address, port)), or those of /etc/resolv.conf when none are given.
    Raises dns.exception.DNSException when /etc/resolv.conf names none."""
    if not nameservers:
        return kind()
    resolver = kind(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port) for host, port in nameservers]
    return resolver


class DnsResolver:
    """The `Resolver` on the real DNS.

    MX records come from dnspython, asking `[dns] nameservers` or else those of
    /etc/resolv.conf. Addresses come from the system's resolver (getaddrinfo), which also reads
    /etc/hosts, so that a static route to a name like "localhost" works.
    """

    def __init__(self, timeout: float = DNS_TIMEOUT, nameservers: Sequence[tuple[str, int]] = ()) -> None:
        self.timeout = timeout
        self.nameservers = list(nameservers)
        self._resolver: dns.asyncresolver.Resolver | None = None  # made on first use

    async def mx(self, domain: str) -> list[tuple[int, str]] | DnsStatus:
        if self._resolver is None:
            try:
                self._resolver = dnspython_resolver(dns.asyncresolver.Resolver, self.nameservers)
            except dns.exception.DNSException:
                return DnsStatus.FAILED
        try:
            answer = await self._resolver.resolve(domain, "MX", lifetime=self.timeout, search=False)
        except dns.resolver.NXDOMAIN:
            return DnsStatus.NO_DOMAIN
        except dns.resolver.NoAnswer:
            return []
        except dns.exception.DNSException:  # timeout, SERVFAIL from every server, ...
            return DnsStatus.FAILED
        return [
            (
                int(record.preference),
                "." if record.exchange == dns.name.root else record.exchange.to_text(omit_final_dot=True),
            )
            for record in answer
        ]

    async def addresses(self, host: str) -> list[str] | DnsStatus:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            missing = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
            return [] if exc.errno in missing else DnsStatus.FAILED
        except (OSError, UnicodeError):
            return DnsStatus.FAILED
        return list(dict.fromkeys(str(info[4][0]) for info in infos))
