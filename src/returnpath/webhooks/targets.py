"""Which URLs a loop may post to.

A loop's URL is checked when it is registered and its host again before each post (a name can
be pointed elsewhere after registration): http or https, a host, no user name or password, no
fragment, and every address the host resolves to public. Loopback, private, link-local,
multicast, reserved and other non-global addresses are refused unless the settings allow
private targets (`[webhooks] allow_private_targets`, for tests and single-host set-ups): a
relay that posts wherever it is told would otherwise let any account probe the network it
runs in.

The resolver is a parameter, so the checks are tested without DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import string
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import TargetError

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

MAX_URL_LENGTH = 2000


class ResolveError(TargetError):
    """The URL's host has no address now: DNS may come back, so a post is retried."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class LoopUrl:
    url: str
    scheme: str
    host: str  # lowercase; an IPv6 literal without brackets
    port: int


def parse(url: str) -> LoopUrl:
    """Check a URL's form (no DNS); raise TargetError naming what is wrong."""
    if not isinstance(url, str) or not url:
        raise TargetError("the loop needs a URL")
    if len(url) > MAX_URL_LENGTH:
        raise TargetError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise TargetError(f"{url!r}: the URL contains spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise TargetError(f"{url!r}: the URL must start with http:// or https://")
    if "@" in parts.netloc:
        raise TargetError(f"{url!r}: the URL must not contain a user name or password")
    if parts.fragment or url.endswith("#"):
        raise TargetError(f"{url!r}: the URL must not have a #fragment")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetError(f"{url!r}: the URL has no host")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:  # urlsplit gives 0 for ":0", which `or` took for no port, and posted to 80 or 443
        raise TargetError(f"{url!r}: the port is not a number from 1 to 65535")
    port = port or _DEFAULT_PORTS[scheme]
    try:
        host.encode("idna")
    except UnicodeError:
        raise TargetError(f"{url!r}: {host!r} is not a valid host name") from None
    return LoopUrl(url, scheme, host, port)


def ascii_host(host: str) -> str:
    """The host as it goes into the Host header and the TLS server name, and as endpoints are
    compared: an international name in its IDNA form (RFC 5891: `bücher.example` is
    `xn--bcher-kva.example`)."""
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:  # parse refuses such a name; h11 refuses to send it
        return host


def same_endpoint(a: str, b: str) -> bool:
    """Whether two loop URLs (both passed `parse`) name one endpoint, by RFC 3986 section 6.2's
    syntax- and scheme-based normalisation: the scheme and host in any case, the host with a
    final dot, as Unicode or as its A-label, an IP address however written, the default port
    given or not, an empty path as "/", percent-encodings in either case, unreserved characters
    percent-encoded or not, and '.' and '..' segments. A final slash, or a query's parameters in
    another order, is another URL (section 6.2.4: only the server knows if it is the same)."""
    return _endpoint(a) == _endpoint(b)


def _endpoint(url: str) -> tuple[str, str, int, str, str]:
    target, parts = parse(url), urlsplit(url)
    host = target.host.lower()
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = ascii_host(host).lower()
    path = _remove_dot_segments(_percent_normalised(parts.path or "/"))
    return target.scheme, host, target.port, path, _percent_normalised(parts.query)


_PERCENT = re.compile("%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")  # RFC 3986 section 2.3


def _percent_normalised(text: str) -> str:
    """RFC 3986 sections 6.2.2.1 and 6.2.2.2: hex digits upper case, unreserved characters decoded."""

    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else match.group(0).upper()

    return _PERCENT.sub(one, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for an absolute path: '/a/./b/../c' is '/a/c'."""
    out: list[str] = []
    segments = path.split("/")
    for segment in segments:
        if segment == "..":
            if len(out) > 1:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")  # '/a/b/..' is '/a/', a folder
    return "/".join(out)


# NAT64 (RFC 6052, RFC 8215): the IPv4 address a translator reaches is the last 32 bits.
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded(address: str) -> tuple[str, list[ipaddress.IPv4Address]] | None:
    """The IPv4 addresses an IPv6 transition address leads to, with the mechanism's name:
    6to4 (2002::/16), Teredo (2001::/32: server and client) or NAT64; None for other addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.sixtofour is not None:
        return "6to4", [ip.sixtofour]
    if ip.teredo is not None:
        return "Teredo", list(ip.teredo)
    if any(ip in network for network in _NAT64):
        return "NAT64", [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    return None


def refusal(address: str) -> str | None:
    """Why an address may not be posted to ("loopback", "private", ...); None when public.

    An IPv6 address that leads to an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is refused
    for what that IPv4 address is: 2002:7f00:1:: reaches 127.0.0.1 through any 6to4 relay.
    A NAT64 address is judged by its IPv4 address alone (a DNS64 resolver gives one for every
    public IPv4-only host).
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    inside = embedded(str(ip))
    if inside is not None:
        for v4 in inside[1]:
            if (reason := refusal(str(v4))) is not None:
                return reason
        if inside[0] == "NAT64":
            return None
    for name, refused in (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
    ):
        if refused:
            return name
    return None if ip.is_global else "non-public"  # e.g. 100.64.0.0/10, shared address space


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of a host, in the system resolver's order, once each. That order puts
    first what this host can reach (RFC 6724 section 6, rule 1: no IPv6 first on a host without
    IPv6 routes); the post tries them in it, until one takes the connection."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def addresses(target: LoopUrl, resolve: Resolver) -> list[str]:
    """The host's addresses; an IP literal is its own. Raises TargetError when it has none."""
    try:
        return [str(ipaddress.ip_address(target.host))]
    except ValueError:
        pass
    try:
        found = list(await resolve(target.host, target.port))
    except OSError as exc:
        raise ResolveError(f"{target.url!r}: cannot resolve {target.host}: {exc}") from None
    if not found:
        raise ResolveError(f"{target.url!r}: {target.host} has no address")
    return found


def check_addresses(target: LoopUrl, found: Sequence[str]) -> None:
    """Raise TargetError when one of the host's addresses is not public."""
    for address in found:
        reason = refusal(address)
        if reason is not None:
            where = target.host if target.host == address else f"{target.host} resolves to {address}, which"
            raise TargetError(
                f"{target.url!r}: {where} is {_described(address, reason)}; loops post only to public "
                "addresses unless [webhooks] allow_private_targets = true"
            )


def _described(address: str, reason: str) -> str:
    """`a loopback address`, or `a 6to4 address of 127.0.0.1, a loopback address`."""
    inside = embedded(address)
    if inside is not None:
        kind, leads_to = inside
        for v4 in leads_to:
            if refusal(str(v4)) == reason:
                return f"a {kind} address of {v4}, a {reason} address"
    return f"a {reason} address"


async def check(
    url: str, *, allow_private: bool, resolve: Resolver = system_resolve, timeout: float | None = None
) -> tuple[LoopUrl, list[str]]:
    """Check a URL before a loop is registered with it, or posted to: its form, that its host
    resolves (within `timeout` seconds), and (unless `allow_private`) that every address is
    public. Returns the target and the addresses checked: connect to one of those, not to the
    name again, or the name could point elsewhere in between (DNS rebinding).

    The account chooses the host name, and so the name server, which may never answer: a
    look-up that takes longer than `timeout` is a ResolveError, like one that failed."""
    target = parse(url)
    try:
        async with asyncio.timeout(timeout):
            found = await addresses(target, resolve)
    except TimeoutError:
        raise ResolveError(f"{target.url!r}: cannot resolve {target.host} within {timeout:g}s") from None
    if not allow_private:
        check_addresses(target, found)
    return target, found
