"""Which URLs a loop may post to; the resolver is a table here."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

import pytest

from returnpath.errors import InputError, TargetError
from returnpath.webhooks.targets import check, parse, refusal, system_resolve

NAMES = {
    "public.example": ["93.184.215.14"],
    "inside.example": ["93.184.215.14", "10.1.2.3"],  # one private address is enough to refuse
    "localhost": ["127.0.0.1", "::1"],
    "nat64.example": ["64:ff9b::a00:1"],
    "teredo.example": ["2001:0:4136:e378:8000:63bf:f5ff:fffe"],
}


async def resolve(host: str, port: int) -> Sequence[str]:
    if host not in NAMES:
        raise OSError(f"[Errno -2] Name or service not known: {host}")
    return NAMES[host]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("", "needs a URL"),
        ("ftp://public.example/hook", "must start with http:// or https://"),
        ("public.example/hook", "must start with http:// or https://"),
        ("https://user:pw@public.example/hook", "user name or password"),
        ("https://token@public.example/hook", "user name or password"),
        ("https:///hook", "has no host"),
        ("https://public.example:99999/hook", "port is not a number"),
        ("https://public.example:0/hook", "port is not a number"),  # it was taken for no port: 443
        ("https://public.example/hook#frag", "#fragment"),
        ("https://public.example/a hook", "spaces or control characters"),
        ("https://public.example/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_a_malformed_url_is_refused_saying_why(url: str, why: str) -> None:
    with pytest.raises(TargetError, match=why) as caught:
        parse(url)
    assert isinstance(caught.value, InputError) and caught.value.field == "url"


def test_a_good_url_is_taken_apart() -> None:
    target = parse("HTTPS://Hooks.App.Example./returnpath?x=1")
    assert (target.scheme, target.host, target.port) == ("https", "hooks.app.example", 443)
    assert parse("http://[2001:db8::1]:8080/h").host == "2001:db8::1"


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("93.184.215.14", None),
        ("2606:4700::6810:84e5", None),
        # IPv6 transition addresses are what the IPv4 address they lead to is.
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:a9fe:a9fe::", "link-local"),  # 6to4 of 169.254.169.254
        ("2002:5db8:d70e::1", None),  # 6to4 of 93.184.215.14
        ("64:ff9b::10.0.0.1", "private"),  # NAT64, well-known prefix
        ("64:ff9b::127.0.0.1", "loopback"),
        ("64:ff9b:1::a00:1", "private"),  # NAT64, local-use prefix
        ("64:ff9b::93.184.215.14", None),  # what DNS64 gives for a public IPv4-only host
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "private"),  # Teredo, client 10.0.0.1
        ("2001:0:7f00:1:8000:63bf:a2d4:28f1", "loopback"),  # Teredo, server 127.0.0.1
    ],
)
def test_addresses_that_are_not_public_are_named(address: str, why: str | None) -> None:
    assert refusal(address) == why


async def test_a_public_host_is_accepted() -> None:
    target, found = await check("https://public.example/hook", allow_private=False, resolve=resolve)
    assert target.host == "public.example" and found == ["93.184.215.14"]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://localhost/hook", "localhost resolves to 127.0.0.1, which is a loopback address"),
        ("https://inside.example/hook", "inside.example resolves to 10.1.2.3, which is a private address"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[2002:7f00:1::]/hook", r"2002:7f00:1:: is a 6to4 address of 127\.0\.0\.1, a loopback address"),
        (
            "https://nat64.example/hook",
            r"resolves to 64:ff9b::a00:1, which is a NAT64 address of 10\.0\.0\.1, a private",
        ),
        ("https://teredo.example/hook", r"which is a Teredo address of 10\.0\.0\.1, a private address"),
    ],
)
async def test_a_private_target_is_refused_unless_allowed(url: str, why: str) -> None:
    with pytest.raises(TargetError, match=why) as caught:
        await check(url, allow_private=False, resolve=resolve)
    assert "allow_private_targets" in str(caught.value)
    await check(url, allow_private=True, resolve=resolve)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(TargetError, match=r"cannot resolve nowhere\.example"):
        await check("https://nowhere.example/hook", allow_private=True, resolve=resolve)


async def test_the_system_resolvers_order_of_addresses_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """The post goes to the first address (the one that was checked). The system resolver puts
    first the addresses this host can reach (RFC 6724 rule 1: an IPv6 address comes after the
    IPv4 one on a host without IPv6 routes); sorted as strings, '2606:...' came before
    '93...', and every post to a dual-stack receiver from such a host failed as unreachable."""

    async def getaddrinfo(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        assert host == "dual.example"  # public DNS, faked
        v4 = (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))
        v6 = (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", port, 0, 0))
        return [v4, v6, v4]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
    assert await system_resolve("dual.example", 443) == ["93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"]
