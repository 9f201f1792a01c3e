"""Does a domain's SPF record let an address send for it? A small RFC 7208 evaluator.

Written here rather than taken from pyspf (the library Debian ships as python3-spf): pyspf
asks the DNS through a module-level function (`spf.DNSLookup`) that can only be replaced for
the whole process, not given per query, so it cannot be pointed at `[dns] nameservers` (or the
tests' DNS server) through its public surface; its last release is from 2020; and a checklist
needs to say *which* term matched or why none did, which it does not report. What is
evaluated, after RFC 7208 4.6 and 5:

- the one `v=spf1` TXT record of the domain (none: "none"; two: permerror, 4.5);
- the mechanisms `all`, `ip4`, `ip6` (with prefix lengths), `a` and `mx` (with a domain and
  dual prefix lengths, `a:host/24//64`), `include` (recursively), `exists`, and the modifier
  `redirect`, with their qualifiers (+ pass, - fail, ~ softfail, ? neutral);
- the limit of 10 terms that cause DNS lookups (include, a, mx, ptr, exists, redirect) over the
  whole evaluation, and of 10 MX hosts per `mx` (4.6.4): past them, permerror, which receivers
  treat as a failure of SPF;
- `ptr` is counted but never matches (5.5: "SHOULD NOT be used"; receivers may skip it), and a
  term with macros (`%{i}`, 7) is not expanded: the result is "temperror", cannot check.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from .lookups import Lookups, Unanswered

LOOKUP_LIMIT = 10  # RFC 7208 4.6.4
MX_LIMIT = 10

_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}
_A_OR_MX = re.compile(r"^(a|mx)(?=$|[:/])", re.I)
_DUAL_CIDR = re.compile(r"^(?P<domain>[^/]*)(?:/(?P<v4>\d+))?(?://(?P<v6>\d+))?$")


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The result (RFC 7208 2.6: pass, fail, softfail, neutral, none, permerror, temperror),
    the term that decided it (with the domain whose record has it), and why."""

    result: str
    term: str
    reason: str


class _Error(Exception):
    def __init__(self, result: str, reason: str) -> None:
        super().__init__(reason)
        self.result, self.reason = result, reason


class SpfEvaluator:
    """One evaluation of `check_host(address, domain)`; counts its DNS lookups."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups
        self.count = 0

    def check(self, address: str, domain: str) -> SpfResult:
        ip = ipaddress.ip_address(address)
        try:
            return self._check_host(ip, domain.lower().rstrip("."))
        except _Error as exc:
            return SpfResult(exc.result, "", exc.reason)
        except Unanswered as exc:
            return SpfResult("temperror", "", str(exc))

    def _lookup(self, term: str) -> None:
        self.count += 1
        if self.count > LOOKUP_LIMIT:
            raise _Error("permerror", f"more than {LOOKUP_LIMIT} DNS lookups (reached at {term}; RFC 7208 4.6.4)")

    def _record(self, domain: str) -> str | None:
        found = [v for v in self.lookups.txt(domain) if v.lower() == "v=spf1" or v.lower().startswith("v=spf1 ")]
        if len(found) > 1:
            raise _Error("permerror", f"{domain} has {len(found)} SPF records; it must have one (RFC 7208 4.5)")
        return found[0] if found else None

    def _check_host(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str) -> SpfResult:
        record = self._record(domain)
        if record is None:
            return SpfResult("none", "", f"{domain} has no SPF record")
        redirect = None
        for term in record.split()[1:]:
            name, eq, value = term.partition("=")
            if eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name):  # a modifier
                if name.lower() == "redirect":
                    redirect = value
                continue
            qualifier = _QUALIFIERS.get(term[0])
            body = term[1:] if qualifier else term
            if self._matches(ip, domain, body, term):
                return SpfResult(qualifier or "pass", f"{term} (in {domain})", f"{ip} matched {term} of {domain}")
        if redirect is not None:
            target = self._domain_spec(redirect, "redirect=" + redirect)
            self._lookup("redirect=" + redirect)
            result = self._check_host(ip, target)
            if result.result == "none":
                raise _Error("permerror", f"redirect={target}: {target} has no SPF record")
            return result
        return SpfResult("neutral", "", f"no term of {domain}'s record matched {ip} (default ?all)")

    def _domain_spec(self, spec: str, term: str) -> str:
        if "%" in spec:
            raise _Error("temperror", f"{term} uses macros, which this check does not expand")
        return spec.lower().rstrip(".")

    def _matches(self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, body: str, term: str) -> bool:
        if dns_term := _A_OR_MX.match(body):  # a, a:host, a/24, mx:host/24//64, ...
            spec = body[dns_term.end() :]
            return self._a_or_mx(ip, domain, dns_term[1].lower(), spec.removeprefix(":"), term)
        mechanism, colon, argument = body.partition(":")
        mechanism = mechanism.lower()
        if mechanism == "all" and not colon:
            return True
        if mechanism in ("ip4", "ip6"):
            try:
                network = ipaddress.ip_network(argument, strict=False)
            except ValueError:
                raise _Error("permerror", f"{term}: {argument!r} is not a network") from None
            if network.version != int(mechanism[-1]):
                raise _Error("permerror", f"{term}: not an IPv{mechanism[-1]} network")
            return ip.version == network.version and ip in network
        if mechanism == "include":
            self._lookup(term)
            result = self._check_host(ip, self._domain_spec(argument, term))
            if result.result in ("temperror",):
                raise _Error("temperror", result.reason)
            if result.result in ("permerror", "none"):
                raise _Error("permerror", f"{term}: {result.reason}")
            return result.result == "pass"
        if mechanism == "exists":
            self._lookup(term)
            return bool(self.lookups.addresses(self._domain_spec(argument, term), 4))
        if mechanism == "ptr":
            self._lookup(term)
            return False
        raise _Error("permerror", f"{term!r} is not an SPF mechanism")

    def _a_or_mx(
        self, ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, kind: str, spec: str, term: str
    ) -> bool:
        parsed = _DUAL_CIDR.match(spec)
        if parsed is None:
            raise _Error("permerror", f"{term}: not a domain with prefix lengths")
        target = self._domain_spec(parsed["domain"], term) if parsed["domain"] else domain
        prefix = parsed["v4"] if ip.version == 4 else parsed["v6"]
        length = int(prefix) if prefix is not None else ip.max_prefixlen
        if length > ip.max_prefixlen:
            raise _Error("permerror", f"{term}: prefix length {length} is too long")
        self._lookup(term)
        if kind == "a":
            hosts = [target]
        else:
            hosts = [host for _, host in self.lookups.mx(target) if host != "."]
            if len(hosts) > MX_LIMIT:
                raise _Error("permerror", f"{term}: {target} has more than {MX_LIMIT} MX hosts (RFC 7208 4.6.4)")
        network = ipaddress.ip_network(f"{ip}/{length}", strict=False)
        return any(
            ipaddress.ip_address(found) in network
            for host in hosts
            for found in self.lookups.addresses(host, ip.version)
        )


def evaluate(lookups: Lookups, address: str, domain: str) -> SpfResult:
    """What `domain`'s SPF says of mail from `address` (check_host, RFC 7208 4)."""
    return SpfEvaluator(lookups).check(address, domain)
