"""A fake DNS: the one collaborator the delivery tests fake, because the public DNS is not ours."""

from __future__ import annotations

from dataclasses import dataclass, field

from returnpath.delivery.routes import DnsStatus


@dataclass
class FakeDns:
    """A `Resolver` with fixed answers. Names it does not know do not exist (NXDOMAIN)."""

    mx_records: dict[str, list[tuple[int, str]] | DnsStatus] = field(default_factory=dict)
    hosts: dict[str, list[str] | DnsStatus] = field(default_factory=dict)
    questions: list[str] = field(default_factory=list)

    async def mx(self, domain: str) -> list[tuple[int, str]] | DnsStatus:
        self.questions.append(f"MX {domain}")
        return self.mx_records.get(domain, DnsStatus.NO_DOMAIN)

    async def addresses(self, host: str) -> list[str] | DnsStatus:
        self.questions.append(f"A {host}")
        return self.hosts.get(host, DnsStatus.NO_DOMAIN)
